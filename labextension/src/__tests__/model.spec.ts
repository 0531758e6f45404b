import { ServerConnection } from '@jupyterlab/services';

import { NbrayModel, NO_CLUSTER_MESSAGE } from '../model';
import { QueryParams } from '../request';
import { IObjectModel, IObjectPageModel } from '../tokens';

/** An object row as the server sends it. */
function object(id: string, where = 'shared_memory'): IObjectModel {
  return {
    object_id: id,
    size: 1024,
    type: 'ndarray(128,) float64',
    owner: { process: 'driver', pid: 10, node_id: 'n1' },
    node_id: 'n1',
    locations: where === 'spilled' ? [] : ['n1'],
    where,
    spill_url: where === 'spilled' ? `file:///spill/${id}` : null,
    reference_types: ['LOCAL_REFERENCE'],
    holders: [{ process: 'driver', pid: 10, refs: 1 }],
    submitted_tasks: 0,
    contained_in: 0,
    call_site: 'cell:1',
    created_by: 'put',
    task_id: null,
    created_at: 0,
    last_access: 0
  };
}

/**
 * A fake server: `sessions` lists the kernels with a cluster, `objects` holds
 * every object (paged like the server does), and every call is recorded.
 */
class FakeServer {
  sessions: string[] = ['k1'];
  objects: IObjectModel[] = [object('a'), object('b', 'spilled')];
  calls: { endPoint: string; query: QueryParams }[] = [];
  fail: Error | null = null;
  /** When set, requests wait for this promise before answering. */
  gate: Promise<void> | null = null;

  request = async <T>(endPoint: string, query: QueryParams = {}): Promise<T> => {
    this.calls.push({ endPoint, query });
    if (this.gate) {
      await this.gate;
    }
    if (this.fail) {
      throw this.fail;
    }
    return this.answer(endPoint, query) as T;
  };

  answer(endPoint: string, query: QueryParams): unknown {
    switch (endPoint) {
      case 'sessions':
        return this.sessions.map((kernel_id, i) => ({ kernel_id, pid: 100 + i }));
      case 'cluster':
        return {
          node_id: 'n1',
          nodes: 1,
          resources: { CPU: 2 },
          available: { CPU: 2 },
          store_used: 0,
          store_capacity: 64,
          objects: this.objects.length,
          workers: 2,
          kernel: query.kernel_id
        };
      case 'objects': {
        const offset = Number(query.offset ?? 0);
        const limit = Number(query.limit ?? 100);
        const page: IObjectPageModel = {
          objects: this.objects.slice(offset, offset + limit),
          total: this.objects.length,
          offset,
          limit,
          sort_by: String(query.sort_by ?? 'size'),
          nodes: []
        };
        return page;
      }
      case 'actors':
      case 'tasks':
        return [];
    }
    throw new Error(`unknown endpoint ${endPoint}`);
  }

  endPoints(): string[] {
    return this.calls.map(c => c.endPoint);
  }

  lastQuery(endPoint: string): QueryParams {
    const found = this.calls.filter(c => c.endPoint === endPoint);
    return found[found.length - 1].query;
  }
}

function setup(options: NbrayModel.IOptions = {}) {
  const server = new FakeServer();
  const model = new NbrayModel({ request: server.request, ...options });
  let changes = 0;
  model.changed.connect(() => changes++);
  return { server, model, changes: () => changes };
}

const ids = (model: NbrayModel) => model.snapshot?.page.objects.map(o => o.object_id);

describe('NbrayModel', () => {
  it('starts with no notebook and asks nothing', async () => {
    const { server, model } = setup();
    expect(model.status).toBe('no-notebook');
    await model.refresh();
    expect(server.calls).toHaveLength(0);
  });

  it('asks nothing while the notebook has no kernel', async () => {
    const { server, model } = setup();
    model.follow({ path: 'a.ipynb', kernelId: null });
    expect(model.status).toBe('no-kernel');
    await model.refresh();
    expect(server.calls).toHaveLength(0);
  });

  it('says how to start a cluster when the kernel runs none', async () => {
    const { server, model } = setup();
    server.sessions = ['other'];
    model.follow({ path: 'a.ipynb', kernelId: 'k1' });
    expect(model.status).toBe('loading');
    await model.refresh();
    expect(model.status).toBe('no-cluster');
    expect(model.error).toBe(NO_CLUSTER_MESSAGE);
    expect(model.snapshot).toBeNull();
    expect(server.endPoints().every(e => e === 'sessions')).toBe(true);
  });

  it("fetches the kernel's cluster, objects, actors and tasks", async () => {
    const { server, model, changes } = setup();
    model.follow({ path: 'a.ipynb', kernelId: 'k1' });
    await model.refresh();
    expect(model.status).toBe('ready');
    expect(model.error).toBeNull();
    expect(ids(model)).toEqual(['a', 'b']);
    expect(new Set(server.endPoints())).toEqual(
      new Set(['sessions', 'cluster', 'objects', 'actors', 'tasks'])
    );
    for (const c of server.calls.filter(c => c.endPoint !== 'sessions')) {
      expect(c.query.kernel_id).toBe('k1');
    }
    expect(server.lastQuery('objects')).toMatchObject({
      sort_by: 'size',
      descending: true,
      offset: 0,
      limit: 25,
      where: null,
      filter: null
    });
    expect(changes()).toBeGreaterThanOrEqual(2);
  });

  it('sends the sort, filter, place and page, and resets the page on a new query', async () => {
    const { server, model } = setup({ pageSize: 1 });
    model.follow({ path: 'a.ipynb', kernelId: 'k1' });
    await model.refresh();
    expect(model.pageCount).toBe(2);
    model.setPage(1);
    await model.refresh();
    expect(server.lastQuery('objects')).toMatchObject({ offset: 1, limit: 1 });
    expect(ids(model)).toEqual(['b']);

    model.setSort('created', false);
    model.setFilter('ndarray');
    model.setWhere('spilled');
    expect(model.page).toBe(0);
    await model.refresh();
    expect(server.lastQuery('objects')).toMatchObject({
      sort_by: 'created',
      descending: false,
      filter: 'ndarray',
      where: 'spilled',
      offset: 0
    });
  });

  it('clamps the page to the pages there are', async () => {
    const { model } = setup({ pageSize: 1 });
    model.follow({ path: 'a.ipynb', kernelId: 'k1' });
    await model.refresh();
    model.setPage(99);
    expect(model.page).toBe(1);
    model.setPage(-3);
    expect(model.page).toBe(0);
  });

  it('refuses an unknown sort key', () => {
    const { model } = setup();
    expect(() => model.setSort('color')).toThrow(/cannot sort by color/);
  });

  it('goes back to the last page when objects were freed', async () => {
    const { server, model } = setup({ pageSize: 1 });
    model.follow({ path: 'a.ipynb', kernelId: 'k1' });
    await model.refresh();
    model.setPage(1);
    await model.refresh();
    server.objects = [object('a')];
    await model.refresh();
    expect(model.page).toBe(0);
    expect(ids(model)).toEqual(['a']);
    expect(server.lastQuery('objects')).toMatchObject({ offset: 0 });
  });

  it('shows frees and new objects on the next refresh', async () => {
    const { server, model } = setup();
    model.follow({ path: 'a.ipynb', kernelId: 'k1' });
    await model.refresh();
    server.objects = [object('b', 'spilled'), object('c')];
    await model.refresh();
    expect(ids(model)).toEqual(['b', 'c']);
  });

  it('treats a 404 as a cluster that stopped', async () => {
    const { server, model } = setup();
    model.follow({ path: 'a.ipynb', kernelId: 'k1' });
    await model.refresh();
    server.fail = new ServerConnection.ResponseError(new Response('', { status: 404 }), 'gone');
    await model.refresh();
    expect(model.status).toBe('no-cluster');
    expect(model.error).toBe(NO_CLUSTER_MESSAGE);
    expect(model.snapshot).toBeNull();
  });

  it('keeps the last answer and says why when a request fails', async () => {
    const { server, model } = setup();
    model.follow({ path: 'a.ipynb', kernelId: 'k1' });
    await model.refresh();
    server.fail = new ServerConnection.ResponseError(
      new Response('', { status: 503 }),
      "the kernel's cluster did not answer"
    );
    await model.refresh();
    expect(model.status).toBe('error');
    expect(model.error).toBe("the kernel's cluster did not answer");
    expect(ids(model)).toEqual(['a', 'b']);
    server.fail = null;
    await model.refresh();
    expect(model.status).toBe('ready');
    expect(model.error).toBeNull();
  });

  it('drops an answer about a kernel it no longer follows', async () => {
    const { server, model } = setup();
    let open!: () => void;
    server.gate = new Promise(resolve => (open = resolve));
    model.follow({ path: 'a.ipynb', kernelId: 'k1' });
    const first = model.refresh();
    model.follow({ path: 'b.ipynb', kernelId: 'k2' });
    expect(model.status).toBe('loading');
    open();
    server.gate = null;
    await first;
    await model.refresh();
    // k2 runs no cluster: the late answer about k1 must not show.
    expect(model.status).toBe('no-cluster');
    expect(model.snapshot).toBeNull();
  });

  it('keeps its answer when only the path changes', async () => {
    const { server, model } = setup();
    model.follow({ path: 'a.ipynb', kernelId: 'k1' });
    await model.refresh();
    const before = server.calls.length;
    model.follow({ path: 'renamed.ipynb', kernelId: 'k1' });
    expect(model.status).toBe('ready');
    expect(model.target?.path).toBe('renamed.ipynb');
    expect(server.calls.length).toBe(before);
  });

  it('shares one follow-up request between calls made while one is in flight', async () => {
    const { server, model } = setup();
    model.follow({ path: 'a.ipynb', kernelId: 'k1' }); // starts request 1
    const calls = [model.refresh(), model.refresh(), model.refresh()];
    await Promise.all(calls);
    expect(server.endPoints().filter(e => e === 'sessions')).toHaveLength(2);
  });

  it('polls while started, and stops', async () => {
    jest.useFakeTimers();
    try {
      const { server, model } = setup({ interval: 1000 });
      model.follow({ path: 'a.ipynb', kernelId: 'k1' });
      await model.refresh();
      const sessions = () => server.endPoints().filter(e => e === 'sessions').length;
      const before = sessions();
      model.start();
      expect(model.isPolling).toBe(true);
      await jest.advanceTimersByTimeAsync(3500);
      expect(sessions() - before).toBe(4); // now, +1 s, +2 s, +3 s
      model.stop();
      await jest.advanceTimersByTimeAsync(5000);
      expect(sessions() - before).toBe(4);
      model.dispose();
      expect(model.isDisposed).toBe(true);
      model.start();
      expect(model.isPolling).toBe(false);
    } finally {
      jest.useRealTimers();
    }
  });
});

import { ServerConnection } from '@jupyterlab/services';

import { basePath, chartsMessage, ChartsModel, chartsUrl, themeOf } from '../charts';
import { NO_CLUSTER_MESSAGE } from '../model';
import { QueryParams } from '../request';

const BASE = 'http://127.0.0.1:8888/lab-base/';

/** A fake server answering `sessions` with the kernels that run a cluster. */
class FakeServer {
  sessions: string[] = ['k1'];
  calls: { endPoint: string; query: QueryParams }[] = [];
  fail: Error | null = null;

  request = async <T>(endPoint: string, query: QueryParams = {}): Promise<T> => {
    this.calls.push({ endPoint, query });
    if (this.fail) {
      throw this.fail;
    }
    if (endPoint !== 'sessions') {
      throw new Error(`the charts model asked ${endPoint}`);
    }
    return this.sessions.map((kernel_id, i) => ({ kernel_id, pid: 100 + i })) as T;
  };
}

/** A query parameter of a charts page URL. */
const param = (url: string, name: string) => new URL(url, BASE).searchParams.get(name);

function setup(options: ChartsModel.IOptions = {}) {
  const server = new FakeServer();
  const model = new ChartsModel({ request: server.request, baseUrl: BASE, ...options });
  let changes = 0;
  model.changed.connect(() => changes++);
  return { server, model, changes: () => changes };
}

describe('chartsUrl', () => {
  it('points at the charts page with the API path, kernel and theme of contract B', () => {
    const url = new URL(chartsUrl(BASE, 'k-1', 'dark'), 'http://127.0.0.1:8888');
    expect(url.pathname).toBe('/lab-base/nbray/charts/charts.html');
    expect(url.searchParams.get('api')).toBe('/lab-base/nbray/api/');
    expect(url.searchParams.get('kernel_id')).toBe('k-1');
    expect(url.searchParams.get('theme')).toBe('dark');
    expect([...url.searchParams.keys()]).toEqual(['api', 'kernel_id', 'theme']);
  });

  it('is a path on the server, whatever form the base URL has, with escaped parameters', () => {
    const url = chartsUrl('http://h:1/', 'a&b c', 'light');
    expect(url).toBe(
      '/nbray/charts/charts.html?api=%2Fnbray%2Fapi%2F&kernel_id=a%26b%20c&theme=light'
    );
    expect(new URL(url, 'http://h:1').searchParams.get('kernel_id')).toBe('a&b c');
    expect(chartsUrl('/', 'k', 'light')).toBe(chartsUrl('http://h:1/', 'k', 'light'));
    expect(basePath('http://h:1/a/b')).toBe('/a/b/');
    expect(basePath('/a/')).toBe('/a/');
  });
});

describe('themeOf', () => {
  it("reads JupyterLab's data-jp-theme-light", () => {
    expect(themeOf('true')).toBe('light');
    expect(themeOf('false')).toBe('dark');
    // before a theme has loaded
    expect(themeOf(undefined)).toBe('light');
  });
});

describe('chartsMessage', () => {
  it('says what is missing, and nothing when the charts show', () => {
    expect(chartsMessage('ready', null)).toBe('');
    expect(chartsMessage('no-cluster', NO_CLUSTER_MESSAGE)).toBe(NO_CLUSTER_MESSAGE);
    expect(chartsMessage('no-cluster', null)).toBe(NO_CLUSTER_MESSAGE);
    expect(chartsMessage('no-kernel', null)).toMatch(/no running kernel/);
    expect(chartsMessage('no-notebook', null)).toMatch(/open a notebook/);
    expect(chartsMessage('error', 'boom')).toBe('could not reach the server: boom');
  });
});

describe('ChartsModel', () => {
  it('shows no page and asks nothing without a kernel', async () => {
    const { server, model } = setup();
    expect(model.status).toBe('no-notebook');
    expect(model.url).toBeNull();
    model.follow({ path: 'a.ipynb', kernelId: null });
    await model.refresh();
    expect(model.status).toBe('no-kernel');
    expect(model.url).toBeNull();
    expect(server.calls).toHaveLength(0);
  });

  it("shows the kernel's charts page once the kernel runs a cluster", async () => {
    const { server, model } = setup();
    model.follow({ path: 'a.ipynb', kernelId: 'k1' });
    expect(model.status).toBe('loading');
    expect(model.url).toBeNull();
    await model.refresh();
    expect(model.status).toBe('ready');
    expect(model.message).toBe('');
    expect(model.url).toBe(chartsUrl(BASE, 'k1', 'light'));
    expect(server.calls.every(c => c.endPoint === 'sessions')).toBe(true);
  });

  it('says clearly when the kernel runs no cluster, and shows the page once it does', async () => {
    const { server, model } = setup();
    server.sessions = ['other'];
    model.follow({ path: 'a.ipynb', kernelId: 'k1' });
    await model.refresh();
    expect(model.status).toBe('no-cluster');
    expect(model.message).toBe(NO_CLUSTER_MESSAGE);
    expect(model.url).toBeNull();
    // `%load_ext nbray` ran: the next refresh (the kernel went idle) finds the cluster
    server.sessions = ['other', 'k1'];
    await model.refresh();
    expect(model.url).toBe(chartsUrl(BASE, 'k1', 'light'));
    // the cluster stopped (a kernel restart keeps the kernel id)
    server.sessions = [];
    await model.refresh();
    expect(model.status).toBe('no-cluster');
    expect(model.url).toBeNull();
  });

  it('follows the active kernel to another notebook', async () => {
    const { server, model } = setup();
    server.sessions = ['k1', 'k2'];
    model.follow({ path: 'a.ipynb', kernelId: 'k1' });
    await model.refresh();
    model.follow({ path: 'b.ipynb', kernelId: 'k2' });
    expect(model.url).toBeNull(); // loading: not the old kernel's page
    await model.refresh();
    expect(model.target).toEqual({ path: 'b.ipynb', kernelId: 'k2' });
    expect(param(model.url!, 'kernel_id')).toBe('k2');
  });

  it('drops an answer about a kernel it no longer follows', async () => {
    const server = new FakeServer();
    let release!: () => void;
    const gate = new Promise<void>(resolve => (release = resolve));
    const request = async <T>(endPoint: string, query?: QueryParams): Promise<T> => {
      await gate;
      return server.request<T>(endPoint, query);
    };
    const model = new ChartsModel({ request, baseUrl: BASE });
    model.follow({ path: 'a.ipynb', kernelId: 'k1' });
    const first = model.refresh(); // k1 runs a cluster, but the answer comes late
    model.follow({ path: 'b.ipynb', kernelId: 'k2' });
    release();
    await first;
    await model.refresh();
    expect(model.status).toBe('no-cluster');
    expect(model.url).toBeNull();
    model.dispose();
  });

  it("switches the page's theme with JupyterLab's", async () => {
    const { model, changes } = setup({ theme: 'dark' });
    model.follow({ path: 'a.ipynb', kernelId: 'k1' });
    await model.refresh();
    expect(param(model.url!, 'theme')).toBe('dark');
    const before = changes();
    model.setTheme('light');
    expect(changes()).toBe(before + 1);
    expect(param(model.url!, 'theme')).toBe('light');
    model.setTheme('light');
    expect(changes()).toBe(before + 1);
  });

  it('reports a failed request, and recovers', async () => {
    const { server, model } = setup();
    model.follow({ path: 'a.ipynb', kernelId: 'k1' });
    server.fail = new ServerConnection.NetworkError(new TypeError('offline'));
    await model.refresh();
    expect(model.status).toBe('error');
    expect(model.message).toMatch(/could not reach the server: .*offline/);
    expect(model.url).toBeNull();
    server.fail = null;
    await model.refresh();
    expect(model.status).toBe('ready');
  });

  it('polls only while started, and stops for good when disposed', async () => {
    jest.useFakeTimers();
    try {
      const { server, model } = setup({ interval: 1000 });
      model.follow({ path: 'a.ipynb', kernelId: 'k1' });
      const asked = () => server.calls.length;
      await jest.advanceTimersByTimeAsync(0);
      const afterFollow = asked();
      model.start();
      expect(model.isPolling).toBe(true);
      await jest.advanceTimersByTimeAsync(3500);
      expect(asked()).toBe(afterFollow + 4);
      model.stop();
      await jest.advanceTimersByTimeAsync(5000);
      expect(asked()).toBe(afterFollow + 4);
      model.start();
      model.dispose();
      await jest.advanceTimersByTimeAsync(5000);
      expect(model.isPolling).toBe(false);
      await model.refresh();
      expect(asked()).toBeLessThanOrEqual(afterFollow + 5);
    } finally {
      jest.useRealTimers();
    }
  });
});

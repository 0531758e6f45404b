import { ServerConnection } from '@jupyterlab/services';

import { queryString, requestAPI } from '../request';

/** Settings whose fetch records the request and answers `reply`. */
function fakeServer(reply: () => Response | Promise<Response>) {
  const seen: Request[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    seen.push(new Request(input as RequestInfo, init));
    return reply();
  };
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://127.0.0.1:8888/lab-base/',
    token: 'secret',
    fetch: fetch as typeof globalThis.fetch
  });
  return { settings, seen };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

describe('queryString', () => {
  it('leaves out null and undefined, keeps false and 0, encodes', () => {
    expect(queryString({ a: 1, b: null, c: undefined, d: false, e: 0, f: 'x y&z' })).toBe(
      '?a=1&d=false&e=0&f=x%20y%26z'
    );
  });

  it('is empty without parameters', () => {
    expect(queryString({})).toBe('');
    expect(queryString({ a: null })).toBe('');
  });
});

describe('requestAPI', () => {
  it('GETs {base_url}nbray/api/<name> with the query and decodes the JSON', async () => {
    const { settings, seen } = fakeServer(() => json([{ kernel_id: 'k1', pid: 42 }]));
    const answer = await requestAPI<{ kernel_id: string }[]>(
      'objects',
      { kernel_id: 'k1', limit: 25, where: null },
      {},
      settings
    );
    expect(answer).toEqual([{ kernel_id: 'k1', pid: 42 }]);
    expect(seen).toHaveLength(1);
    expect(seen[0].method).toBe('GET');
    // (JupyterLab appends a cache-busting timestamp to GETs)
    expect(seen[0].url).toMatch(
      /^http:\/\/127\.0\.0\.1:8888\/lab-base\/nbray\/api\/objects\?kernel_id=k1&limit=25(&\d+)?$/
    );
  });

  it('sends the Jupyter token', async () => {
    const { settings, seen } = fakeServer(() => json({}));
    await requestAPI('cluster', {}, {}, settings);
    expect(seen[0].headers.get('Authorization')).toBe('token secret');
  });

  it("raises ResponseError carrying the server's error text and status", async () => {
    const message = 'no nbray cluster in this kernel: run %load_ext nbray';
    const { settings } = fakeServer(() => json({ error: message }, 404));
    const failure = requestAPI('cluster', { kernel_id: 'k' }, {}, settings);
    await expect(failure).rejects.toBeInstanceOf(ServerConnection.ResponseError);
    await expect(failure).rejects.toMatchObject({ message, response: { status: 404 } });
  });

  it('raises ResponseError for a bad request (400)', async () => {
    const { settings } = fakeServer(() => json({ error: 'limit must be between 1 and 10000, got 0' }, 400));
    await expect(requestAPI('objects', { limit: 0 }, {}, settings)).rejects.toMatchObject({
      message: 'limit must be between 1 and 10000, got 0',
      response: { status: 400 }
    });
  });

  it('uses the text of a non-JSON error page', async () => {
    const { settings } = fakeServer(() => new Response('<html>Forbidden</html>', { status: 403 }));
    await expect(requestAPI('sessions', {}, {}, settings)).rejects.toMatchObject({
      message: '<html>Forbidden</html>',
      response: { status: 403 }
    });
  });

  it('names the status when the error has no body', async () => {
    const { settings } = fakeServer(() => new Response('', { status: 503, statusText: 'Service Unavailable' }));
    await expect(requestAPI('nodes', {}, {}, settings)).rejects.toThrow(/nodes failed: 503/);
  });

  it('rejects an OK answer that is not JSON', async () => {
    const { settings } = fakeServer(() => new Response('not json', { status: 200 }));
    await expect(requestAPI('cluster', {}, {}, settings)).rejects.toThrow(/did not answer JSON/);
  });

  it('raises NetworkError when the server cannot be reached', async () => {
    const { settings } = fakeServer(() => {
      throw new TypeError('connection refused');
    });
    await expect(requestAPI('cluster', {}, {}, settings)).rejects.toBeInstanceOf(
      ServerConnection.NetworkError
    );
  });

  it('answers undefined for an empty OK body', async () => {
    const { settings } = fakeServer(() => new Response('', { status: 200 }));
    await expect(requestAPI('cluster', {}, {}, settings)).resolves.toBeUndefined();
  });
});

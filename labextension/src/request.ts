/**
 * The one way this extension talks to the server: `GET {base_url}nbray/api/...`.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** Query parameters; `null` and `undefined` values are left out. */
export type QueryParams = Record<string, string | number | boolean | null | undefined>;

/** The signature of {@link requestAPI}, so models can take a fake in tests. */
export type RequestFunction = <T>(endPoint: string, query?: QueryParams) => Promise<T>;

/**
 * Call nbray's server extension and decode its JSON answer.
 *
 * @param endPoint - the path under `nbray/api/`, e.g. `"objects"`.
 * @param query - query parameters, e.g. `{kernel_id, limit: 25}`.
 * @param init - fetch options (method, body, ...); GET by default.
 * @param settings - server settings; the page's settings by default (base URL,
 *   token and XSRF cookie handled by JupyterLab).
 * @returns the decoded JSON.
 * @throws ServerConnection.ResponseError - when the server answers an error
 *   status; its message is the server's `error` text when there is one.
 * @throws ServerConnection.NetworkError - when the server cannot be reached.
 */
export async function requestAPI<T>(
  endPoint: string,
  query: QueryParams = {},
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'nbray', 'api', endPoint) + queryString(query);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: unknown = undefined;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      if (response.ok) {
        throw new ServerConnection.ResponseError(
          response,
          `nbray: ${endPoint} did not answer JSON: ${text.slice(0, 200)}`
        );
      }
      data = text;
    }
  }
  if (!response.ok) {
    throw new ServerConnection.ResponseError(response, errorMessage(response, endPoint, data));
  }
  return data as T;
}

/** `?a=1&b=x` from the parameters that are set (empty string when none are). */
export function queryString(query: QueryParams): string {
  const parts = Object.entries(query)
    .filter(([, value]) => value !== null && value !== undefined)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

function errorMessage(response: Response, endPoint: string, data: unknown): string {
  if (data && typeof data === 'object') {
    const body = data as { error?: unknown; message?: unknown };
    if (typeof body.error === 'string') {
      return body.error;
    }
    if (typeof body.message === 'string' && body.message) {
      return body.message;
    }
  }
  if (typeof data === 'string' && data) {
    return data.slice(0, 500);
  }
  return `nbray: ${endPoint} failed: ${response.status} ${response.statusText}`;
}

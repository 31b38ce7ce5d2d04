import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/**
 * A failed call to the semcache server extension: the HTTP status (0 when the
 * server could not be reached), its one-line message and what to do about it.
 */
export class SemcacheRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint: string = ''
  ) {
    super(message);
    this.name = 'SemcacheRequestError';
  }
}

/**
 * Call a route under `{base_url}/semcache/` and return the raw response.
 * Non-2xx answers throw a SemcacheRequestError built from the JSON error body.
 */
export async function requestRaw(
  endPoint: string,
  init: RequestInit = {}
): Promise<Response> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'semcache', endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new SemcacheRequestError(0, `Cannot reach the Jupyter server: ${error}`);
  }
  if (!response.ok) {
    let message = response.statusText || `HTTP ${response.status}`;
    let hint = '';
    try {
      const body = await response.json();
      message = body.error ?? body.message ?? message;
      hint = body.hint ?? '';
    } catch {
      // not JSON (a proxy page): keep the status text
    }
    throw new SemcacheRequestError(response.status, message, hint);
  }
  return response;
}

/** Call a route and parse its JSON answer. */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {}
): Promise<T> {
  const response = await requestRaw(endPoint, init);
  return (await response.json()) as T;
}

import { requestAPI, requestRaw } from './request';

/** A stored snippet, as the server extension serialises it. */
export interface ISnippet {
  id: string;
  namespace: string;
  task: string;
  code: string;
  language: string;
  source: string;
  model: string;
  parent_id: string;
  kernel: string;
  libraries: string[];
  input_schema: Record<string, string>;
  tags: string[];
  created_at: number;
  updated_at: number;
  last_used_at: number;
  use_count: number;
  success_count: number;
  failure_count: number;
  votes_up: number;
  votes_down: number;
  /** Where an imported snippet came from (empty otherwise). */
  origin?: { path?: string; cell?: string | number };
  /** Blended search score; null when listing. */
  score: number | null;
}

/** A save or an edit: the snippet, and what happened. */
export interface ISaved extends ISnippet {
  created?: boolean;
  /** The id an edit replaced ("" when the snippet kept its id). */
  replaced?: string;
  redacted?: string[];
}

export interface ISnippetDraft {
  task: string;
  code: string;
  tags: string[];
}

export interface ISnippetList {
  snippets: ISnippet[];
  query: string;
  sort: string;
  namespaces: string[];
  limit: number;
  offset: number;
}

export interface INamespaces {
  namespaces: string[];
  search: string[];
  save: string;
}

export interface IListOptions {
  query?: string;
  namespace?: string;
  limit?: number;
}

/** Search (when there is a query) or list the newest snippets. */
export function listSnippets(options: IListOptions = {}): Promise<ISnippetList> {
  const params = new URLSearchParams();
  if (options.query) {
    params.set('q', options.query);
  }
  if (options.namespace) {
    params.set('namespace', options.namespace);
  }
  params.set('limit', String(options.limit ?? 50));
  return requestAPI<ISnippetList>(`snippets?${params.toString()}`);
}

export function getNamespaces(): Promise<INamespaces> {
  return requestAPI<INamespaces>('namespaces');
}

/**
 * The route of one snippet. The server acts only on snippets of the namespaces it
 * searches unless the namespace is named: the panel names the one the snippet is in.
 */
function snippetPath(id: string, action = '', namespace = ''): string {
  const path = `snippets/${encodeURIComponent(id)}`;
  const route = action ? `${path}/${action}` : path;
  return namespace ? `${route}?namespace=${encodeURIComponent(namespace)}` : route;
}

export function voteSnippet(id: string, up: boolean, namespace = ''): Promise<ISnippet> {
  return requestAPI<ISnippet>(snippetPath(id, 'vote', namespace), {
    method: 'POST',
    body: JSON.stringify({ direction: up ? 'up' : 'down' })
  });
}

export function setSnippetTags(id: string, tags: string[], namespace = ''): Promise<ISnippet> {
  return requestAPI<ISnippet>(snippetPath(id, 'tags', namespace), {
    method: 'PUT',
    body: JSON.stringify({ tags })
  });
}

/** Save code as a new snippet (source "manual"). */
export function saveSnippet(draft: ISnippetDraft): Promise<ISaved> {
  return requestAPI<ISaved>('snippets', { method: 'POST', body: JSON.stringify(draft) });
}

/** Edit a snippet: a new task or code makes a new version that replaces it. */
export function editSnippet(
  id: string,
  draft: Partial<ISnippetDraft>,
  namespace = ''
): Promise<ISaved> {
  return requestAPI<ISaved>(snippetPath(id, '', namespace), {
    method: 'PUT',
    body: JSON.stringify(draft)
  });
}

/** A number that changes whenever any snippet is written (cheap to poll). */
export async function getVersion(): Promise<number> {
  return (await requestAPI<{ version: number }>('version')).version;
}

export async function deleteSnippet(id: string, namespace = ''): Promise<void> {
  await requestAPI<unknown>(snippetPath(id, '', namespace), { method: 'DELETE' });
}

/** Fetch the `.py` export and hand it to the browser as a download. */
export async function downloadSnippet(id: string, namespace = ''): Promise<string> {
  const response = await requestRaw(snippetPath(id, 'export', namespace));
  const disposition = response.headers.get('Content-Disposition') ?? '';
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? `semcache_${id}.py`;
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 1000);
  return name;
}

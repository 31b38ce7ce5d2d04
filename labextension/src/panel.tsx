import * as React from 'react';

import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { ReactWidget, refreshIcon } from '@jupyterlab/ui-components';
import { ISignal, Signal } from '@lumino/signaling';

import { ISnippet, getNamespaces, listSnippets } from './api';
import { semcacheIcon } from './icon';
import { ISnippetCommands, SnippetPreview, age } from './preview';
import { SemcacheRequestError } from './request';

const DEBOUNCE_MS = 300;

type Status =
  | { kind: 'loading' }
  | { kind: 'ready' }
  | { kind: 'error'; message: string; hint: string };

/** Commands that also change the list (the panel applies their results). */
export interface IPanelCommands extends Omit<ISnippetCommands, 'vote' | 'editTags' | 'remove'> {
  vote(snippet: ISnippet, up: boolean): Promise<ISnippet | null>;
  editTags(snippet: ISnippet): Promise<ISnippet | null>;
  remove(snippet: ISnippet): Promise<boolean>;
}

interface IBrowserProps {
  languages: IEditorLanguageRegistry;
  commands: IPanelCommands;
  refreshRequested: ISignal<SnippetSidebar, void>;
}

function describe(error: unknown): { message: string; hint: string } {
  if (error instanceof SemcacheRequestError) {
    const hint =
      error.hint ||
      (error.status === 404
        ? 'Is the server extension enabled? Check `jupyter server extension list`.'
        : '');
    return { message: error.message, hint };
  }
  return { message: String(error), hint: '' };
}

function SnippetBrowser(props: IBrowserProps): JSX.Element {
  const [query, setQuery] = React.useState('');
  const [debouncedQuery, setDebouncedQuery] = React.useState('');
  const [namespace, setNamespace] = React.useState('');
  const [namespaces, setNamespaces] = React.useState<string[]>([]);
  const [snippets, setSnippets] = React.useState<ISnippet[]>([]);
  const [status, setStatus] = React.useState<Status>({ kind: 'loading' });
  const [selected, setSelected] = React.useState<string | null>(null);
  const [reloads, setReloads] = React.useState(0);
  const latest = React.useRef(0);

  React.useEffect(() => {
    const timer = window.setTimeout(() => setDebouncedQuery(query.trim()), DEBOUNCE_MS);
    return () => window.clearTimeout(timer);
  }, [query]);

  React.useEffect(() => {
    const reload = () => setReloads(n => n + 1);
    props.refreshRequested.connect(reload);
    return () => {
      props.refreshRequested.disconnect(reload);
    };
  }, [props.refreshRequested]);

  React.useEffect(() => {
    const request = ++latest.current;
    setStatus({ kind: 'loading' });
    listSnippets({ query: debouncedQuery, namespace })
      .then(list => {
        if (request === latest.current) {
          setSnippets(list.snippets);
          setStatus({ kind: 'ready' });
        }
      })
      .catch(error => {
        if (request === latest.current) {
          setStatus({ kind: 'error', ...describe(error) });
        }
      });
    getNamespaces()
      .then(found => setNamespaces(found.namespaces))
      .catch(() => undefined); // the list request reports the failure
  }, [debouncedQuery, namespace, reloads]);

  const replace = (updated: ISnippet | null) => {
    if (updated) {
      setSnippets(items =>
        items.map(item => (item.id === updated.id ? { ...updated, score: item.score } : item))
      );
    }
  };
  const commands: ISnippetCommands = {
    ...props.commands,
    vote: (snippet, up) => void props.commands.vote(snippet, up).then(replace),
    editTags: snippet => void props.commands.editTags(snippet).then(replace),
    remove: snippet =>
      void props.commands.remove(snippet).then(removed => {
        if (removed) {
          setSnippets(items => items.filter(item => item.id !== snippet.id));
        }
      })
  };

  return (
    <div className="jp-semcache-browser">
      <div className="jp-semcache-header">
        <h2>Snippet cache</h2>
        <button
          className="jp-semcache-refresh"
          title="Refresh (also shows snippets just saved by %%cached_task)"
          onClick={() => setReloads(n => n + 1)}
        >
          <refreshIcon.react tag="span" />
        </button>
      </div>
      <div className="jp-semcache-controls">
        <input
          className="jp-semcache-search jp-mod-styled"
          type="search"
          placeholder="Search snippets…"
          title="Search the tasks by meaning and by words"
          value={query}
          onChange={event => setQuery(event.target.value)}
        />
        <select
          className="jp-semcache-namespace jp-mod-styled"
          title="Namespace"
          value={namespace}
          onChange={event => setNamespace(event.target.value)}
        >
          <option value="">default namespaces</option>
          {namespaces.map(name => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </div>
      <Body
        status={status}
        snippets={snippets}
        searching={debouncedQuery !== ''}
        selected={selected}
        onSelect={id => setSelected(current => (current === id ? null : id))}
        languages={props.languages}
        commands={commands}
      />
    </div>
  );
}

function Body(props: {
  status: Status;
  snippets: ISnippet[];
  searching: boolean;
  selected: string | null;
  onSelect: (id: string) => void;
  languages: IEditorLanguageRegistry;
  commands: ISnippetCommands;
}): JSX.Element {
  const { status, snippets } = props;
  if (status.kind === 'error') {
    return (
      <div className="jp-semcache-state jp-semcache-error" role="alert">
        <p>{status.message}</p>
        {status.hint && <p className="jp-semcache-hint">{status.hint}</p>}
      </div>
    );
  }
  if (status.kind === 'loading' && snippets.length === 0) {
    return <div className="jp-semcache-state jp-semcache-loading">Loading…</div>;
  }
  if (snippets.length === 0) {
    return (
      <div className="jp-semcache-state jp-semcache-empty">
        {props.searching
          ? 'No snippet matches this search.'
          : 'No snippets yet. Run a %%cached_task cell, then refresh.'}
      </div>
    );
  }
  return (
    <ul
      className={`jp-semcache-list ${status.kind === 'loading' ? 'jp-mod-loading' : ''}`}
      aria-busy={status.kind === 'loading'}
    >
      {snippets.map(snippet => (
        <li
          key={snippet.id}
          className={`jp-semcache-item ${props.selected === snippet.id ? 'jp-mod-selected' : ''}`}
          data-snippet-id={snippet.id}
          onClick={() => props.onSelect(snippet.id)}
        >
          <div className="jp-semcache-task" title={snippet.task}>
            {snippet.task}
          </div>
          <div className="jp-semcache-meta">
            {snippet.score !== null && (
              <span className="jp-semcache-score" title="search score">
                {snippet.score.toFixed(2)}
              </span>
            )}
            <span>{snippet.namespace}</span>
            <span>{snippet.source}</span>
            <span title="uses">{snippet.use_count} uses</span>
            <span title="successful runs">{snippet.success_count} ok</span>
            <span title="last used or created">
              {age(snippet.last_used_at || snippet.created_at)}
            </span>
          </div>
          {props.selected === snippet.id && (
            <SnippetPreview
              snippet={snippet}
              languages={props.languages}
              commands={props.commands}
            />
          )}
        </li>
      ))}
    </ul>
  );
}

/** The left-sidebar panel. It reloads when shown, and on `refresh()`. */
export class SnippetSidebar extends ReactWidget {
  constructor(
    private readonly languages: IEditorLanguageRegistry,
    private readonly commands: IPanelCommands
  ) {
    super();
    this.id = 'semcache-sidebar';
    this.addClass('jp-semcache-sidebar');
    this.title.icon = semcacheIcon;
    this.title.caption = 'Snippet cache (semcache)';
  }

  refresh(): void {
    this._refreshRequested.emit();
  }

  protected onAfterShow(): void {
    this.refresh();
  }

  protected render(): JSX.Element {
    return (
      <SnippetBrowser
        languages={this.languages}
        commands={this.commands}
        refreshRequested={this._refreshRequested}
      />
    );
  }

  private _refreshRequested = new Signal<SnippetSidebar, void>(this);
}

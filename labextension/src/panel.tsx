import * as React from 'react';

import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { ReactWidget, refreshIcon } from '@jupyterlab/ui-components';
import { ISignal, Signal } from '@lumino/signaling';

import { ISnippet, getNamespaces, getVersion, listSnippets } from './api';
import { semcacheIcon } from './icon';
import { Body, Status } from './list';
import { ISnippetCommands } from './preview';
import { SemcacheRequestError } from './request';

const DEBOUNCE_MS = 300;
/** How often a visible sidebar asks whether the store changed (a tiny request). */
const POLL_MS = 3000;

/** Commands that also change the list (the panel applies their results). */
export interface IPanelCommands
  extends Omit<ISnippetCommands, 'vote' | 'editTags' | 'edit' | 'remove'> {
  vote(snippet: ISnippet, up: boolean): Promise<ISnippet | null>;
  editTags(snippet: ISnippet): Promise<ISnippet | null>;
  edit(snippet: ISnippet): Promise<ISnippet | null>;
  remove(snippet: ISnippet): Promise<boolean>;
}

interface IBrowserProps {
  languages: IEditorLanguageRegistry;
  commands: IPanelCommands;
  refreshRequested: ISignal<SnippetSidebar, void>;
  focusRequested: ISignal<SnippetSidebar, string | null>;
  onCurrent: (snippet: ISnippet | null) => void;
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
  const [cursor, setCursor] = React.useState(0);
  const [reloads, setReloads] = React.useState(0);
  const latest = React.useRef(0);
  const search = React.useRef<HTMLInputElement>(null);
  const list = React.useRef<HTMLUListElement>(null);

  React.useEffect(() => {
    const timer = window.setTimeout(() => setDebouncedQuery(query.trim()), DEBOUNCE_MS);
    return () => window.clearTimeout(timer);
  }, [query]);

  React.useEffect(() => {
    const reload = () => setReloads(n => n + 1);
    const focus = (_: SnippetSidebar, text: string | null) => {
      if (text !== null) {
        setQuery(text);
      }
      search.current?.focus();
      search.current?.select();
    };
    props.refreshRequested.connect(reload);
    props.focusRequested.connect(focus);
    return () => {
      props.refreshRequested.disconnect(reload);
      props.focusRequested.disconnect(focus);
    };
  }, [props.refreshRequested, props.focusRequested]);

  React.useEffect(() => {
    const request = ++latest.current;
    setStatus({ kind: 'loading' });
    listSnippets({ query: debouncedQuery, namespace })
      .then(found => {
        if (request === latest.current) {
          setSnippets(found.snippets);
          setCursor(c => Math.min(c, Math.max(0, found.snippets.length - 1)));
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

  const current = snippets[cursor] ?? null;
  React.useEffect(() => {
    props.onCurrent(current);
  }, [current]);

  const replace = (old: ISnippet, updated: ISnippet | null) => {
    if (updated) {
      setSnippets(items =>
        items.map(item => (item.id === old.id ? { ...updated, score: item.score } : item))
      );
      setSelected(id => (id === old.id ? updated.id : id));
    }
  };
  const commands: ISnippetCommands = {
    ...props.commands,
    vote: (snippet, up) => void props.commands.vote(snippet, up).then(s => replace(snippet, s)),
    editTags: snippet => void props.commands.editTags(snippet).then(s => replace(snippet, s)),
    edit: snippet => void props.commands.edit(snippet).then(s => replace(snippet, s)),
    remove: snippet =>
      void props.commands.remove(snippet).then(removed => {
        if (removed) {
          setSnippets(items => items.filter(item => item.id !== snippet.id));
        }
      })
  };

  const focusItem = (index: number) => {
    const bounded = Math.max(0, Math.min(index, snippets.length - 1));
    setCursor(bounded);
    const item = list.current?.querySelectorAll<HTMLElement>('[role="option"]')[bounded];
    item?.focus();
  };
  const onListKey = (event: React.KeyboardEvent) => {
    if ((event.target as HTMLElement).getAttribute('role') !== 'option') {
      return; // keys inside the preview (its buttons) act on their own
    }
    const snippet = snippets[cursor];
    const keys: Record<string, () => void> = {
      ArrowDown: () => focusItem(cursor + 1),
      ArrowUp: () => (cursor === 0 ? search.current?.focus() : focusItem(cursor - 1)),
      Home: () => focusItem(0),
      End: () => focusItem(snippets.length - 1),
      Enter: () => snippet && props.commands.insertBelow(snippet),
      ' ': () => snippet && setSelected(id => (id === snippet.id ? null : snippet.id)),
      Escape: () => search.current?.focus()
    };
    const action = keys[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  };

  return (
    <div className="jp-semcache-browser">
      <div className="jp-semcache-header">
        <h2 id="jp-semcache-title">Snippet cache</h2>
        <button
          className="jp-semcache-refresh"
          title="Refresh (the list also follows saves on its own)"
          aria-label="Refresh"
          onClick={() => setReloads(n => n + 1)}
        >
          <refreshIcon.react tag="span" />
        </button>
      </div>
      <div className="jp-semcache-controls">
        <input
          ref={search}
          className="jp-semcache-search jp-mod-styled"
          type="search"
          placeholder="Search snippets…"
          title="Search the tasks by meaning and by words; ↓ moves to the results"
          aria-label="Search snippets"
          aria-controls="jp-semcache-results"
          value={query}
          onChange={event => setQuery(event.target.value)}
          onKeyDown={event => {
            if (event.key === 'ArrowDown' && snippets.length) {
              event.preventDefault();
              focusItem(0);
            } else if (event.key === 'Enter' && snippets.length) {
              event.preventDefault();
              focusItem(0);
            }
          }}
        />
        <select
          className="jp-semcache-namespace jp-mod-styled"
          title="Namespace"
          aria-label="Namespace"
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
        query={debouncedQuery}
        selected={selected}
        cursor={cursor}
        listRef={list}
        onKeyDown={onListKey}
        onSelect={(id, index) => {
          setCursor(index);
          setSelected(current => (current === id ? null : id));
        }}
        languages={props.languages}
        commands={commands}
      />
    </div>
  );
}

/**
 * The left-sidebar panel. It reloads when shown, on `refresh()`, and when the store
 * changes (polled while visible, and checked after every notebook cell runs).
 * Code dropped on it (cells dragged from a notebook, or text) is offered for saving.
 */
export class SnippetSidebar extends ReactWidget {
  constructor(
    private readonly languages: IEditorLanguageRegistry,
    private readonly commands: IPanelCommands,
    private readonly onDropCode: (code: string) => void
  ) {
    super();
    this.id = 'semcache-sidebar';
    this.addClass('jp-semcache-sidebar');
    this.title.icon = semcacheIcon;
    this.title.caption = 'Snippet cache (semcache)';
  }

  /** The snippet under the keyboard cursor (the palette's "insert" uses it). */
  current: ISnippet | null = null;

  refresh(): void {
    this._refreshRequested.emit();
  }

  /** Focus the search box, optionally with `text` in it. */
  focusSearch(text: string | null = null): void {
    this._focusRequested.emit(text);
  }

  /** Reload if anything was written to the store since the last look. */
  async checkForChanges(): Promise<void> {
    try {
      const version = await getVersion();
      if (this._version !== null && version !== this._version) {
        this.refresh();
      }
      this._version = version;
    } catch {
      // the list shows errors; a failed poll is retried on the next tick
    }
  }

  handleEvent(event: Event): void {
    const drag = event as Event & {
      mimeData?: { getData(mime: string): unknown; hasData(mime: string): boolean };
      dropAction?: string;
      proposedAction?: string;
      dataTransfer?: DataTransfer;
    };
    if (event.type === 'lm-dragenter' || event.type === 'lm-dragover') {
      if (drag.mimeData?.hasData(CELLS_MIME)) {
        event.preventDefault();
        event.stopPropagation();
        drag.dropAction = 'copy';
        this.addClass('jp-mod-dropTarget');
      }
    } else if (event.type === 'lm-dragleave') {
      this.removeClass('jp-mod-dropTarget');
    } else if (event.type === 'lm-drop') {
      event.preventDefault();
      event.stopPropagation();
      this.removeClass('jp-mod-dropTarget');
      drag.dropAction = 'copy';
      const cells = (drag.mimeData?.getData(CELLS_MIME) ?? []) as { source?: unknown }[];
      const code = cells
        .map(cell => (Array.isArray(cell.source) ? cell.source.join('') : String(cell.source)))
        .join('\n\n');
      if (code.trim()) {
        this.onDropCode(code);
      }
    } else if (event.type === 'dragover') {
      event.preventDefault(); // lets text dragged from an editor drop here
    } else if (event.type === 'drop') {
      const text = drag.dataTransfer?.getData('text/plain') ?? '';
      if (text.trim()) {
        event.preventDefault();
        this.onDropCode(text);
      }
    }
  }

  protected onAfterAttach(msg: Parameters<ReactWidget['onAfterAttach']>[0]): void {
    super.onAfterAttach(msg);
    for (const type of DROP_EVENTS) {
      this.node.addEventListener(type, this);
    }
  }

  protected onBeforeDetach(msg: Parameters<ReactWidget['onBeforeDetach']>[0]): void {
    for (const type of DROP_EVENTS) {
      this.node.removeEventListener(type, this);
    }
    super.onBeforeDetach(msg);
  }

  protected onAfterShow(): void {
    this.refresh();
    void this.checkForChanges();
    this._timer = window.setInterval(() => void this.checkForChanges(), POLL_MS);
  }

  protected onAfterHide(): void {
    window.clearInterval(this._timer);
  }

  dispose(): void {
    window.clearInterval(this._timer);
    super.dispose();
  }

  protected render(): JSX.Element {
    return (
      <SnippetBrowser
        languages={this.languages}
        commands={this.commands}
        refreshRequested={this._refreshRequested}
        focusRequested={this._focusRequested}
        onCurrent={snippet => {
          this.current = snippet;
        }}
      />
    );
  }

  private _refreshRequested = new Signal<SnippetSidebar, void>(this);
  private _focusRequested = new Signal<SnippetSidebar, string | null>(this);
  private _version: number | null = null;
  private _timer = 0;
}

/** What JupyterLab puts on a drag of notebook cells. */
const CELLS_MIME = 'application/vnd.jupyter.cells';
const DROP_EVENTS = ['lm-dragenter', 'lm-dragover', 'lm-dragleave', 'lm-drop', 'dragover', 'drop'];

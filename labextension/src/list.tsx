import * as React from 'react';

import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';

import { ISnippet } from './api';
import { plural } from './highlight';
import { ISnippetCommands, SnippetPreview, age } from './preview';

/** Where the list stands: loading, shown, or failed with a message and a hint. */
export type Status =
  | { kind: 'loading' }
  | { kind: 'ready' }
  | { kind: 'error'; message: string; hint: string };

/**
 * The results: an ARIA listbox whose options are the snippets (a roving tab stop on
 * the keyboard cursor), or the state in words: loading, an error, no snippets, no match.
 */
export function Body(props: {
  status: Status;
  snippets: ISnippet[];
  query: string;
  selected: string | null;
  cursor: number;
  listRef: React.RefObject<HTMLUListElement>;
  onKeyDown: (event: React.KeyboardEvent) => void;
  onSelect: (id: string, index: number) => void;
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
      <div className="jp-semcache-state jp-semcache-empty" role="status">
        {props.query
          ? `No match for “${props.query}”. Try other words, or another namespace.`
          : 'No snippets yet. Run a %%cached_task cell, or right-click a cell: Save cell as snippet.'}
      </div>
    );
  }
  return (
    <ul
      id="jp-semcache-results"
      ref={props.listRef}
      role="listbox"
      aria-labelledby="jp-semcache-title"
      aria-busy={status.kind === 'loading'}
      className={`jp-semcache-list ${status.kind === 'loading' ? 'jp-mod-loading' : ''}`}
      onKeyDown={props.onKeyDown}
    >
      {snippets.map((snippet, index) => (
        <li
          key={snippet.id}
          role="option"
          aria-selected={props.cursor === index}
          aria-expanded={props.selected === snippet.id}
          tabIndex={props.cursor === index ? 0 : -1}
          className={`jp-semcache-item ${props.selected === snippet.id ? 'jp-mod-selected' : ''} ${props.cursor === index ? 'jp-mod-cursor' : ''}`}
          data-snippet-id={snippet.id}
          title="Enter: insert below the active cell · Space: show the code"
          onClick={() => props.onSelect(snippet.id, index)}
        >
          <div className="jp-semcache-task">{snippet.task}</div>
          <div className="jp-semcache-meta">
            {snippet.score !== null && (
              <span className="jp-semcache-score" title="search score">
                {snippet.score.toFixed(2)}
              </span>
            )}
            <span>{snippet.namespace}</span>
            <span>{snippet.source}</span>
            <span title="uses">{plural(snippet.use_count, 'use')}</span>
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

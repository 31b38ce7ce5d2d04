import * as React from 'react';

import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';

import { ISnippet } from './api';
import { highlightInto } from './highlight';

/** What a user can do with the selected snippet. */
export interface ISnippetCommands {
  insertIntoCell(snippet: ISnippet): void;
  insertBelow(snippet: ISnippet): void;
  copy(snippet: ISnippet): void;
  exportFile(snippet: ISnippet): void;
  vote(snippet: ISnippet, up: boolean): void;
  editTags(snippet: ISnippet): void;
  edit(snippet: ISnippet): void;
  remove(snippet: ISnippet): void;
}

/** "3 h ago" from seconds since the epoch. */
export function age(epoch: number, now = Date.now() / 1000): string {
  if (!epoch) {
    return 'never';
  }
  const seconds = Math.max(0, now - epoch);
  const steps: [number, string][] = [
    [365 * 86400, 'y'],
    [30 * 86400, 'mo'],
    [86400, 'd'],
    [3600, 'h'],
    [60, 'min']
  ];
  for (const [size, unit] of steps) {
    if (seconds >= size) {
      return `${Math.floor(seconds / size)} ${unit} ago`;
    }
  }
  return 'just now';
}

function dateTime(epoch: number): string {
  return epoch ? new Date(epoch * 1000).toLocaleString() : '—';
}

/** The code, highlighted by JupyterLab's own CodeMirror language registry; the box
 * can be resized (drag its corner) and its lines wrapped. */
function HighlightedCode(props: {
  code: string;
  language: string;
  languages: IEditorLanguageRegistry;
  wrap: boolean;
}): JSX.Element {
  const ref = React.useRef<HTMLPreElement>(null);
  React.useEffect(() => {
    const element = ref.current;
    return element
      ? highlightInto(element, props.code, props.language, props.languages)
      : undefined;
  }, [props.code, props.language, props.languages]);
  return (
    <pre
      ref={ref}
      className={`jp-semcache-code cm-s-jupyter ${props.wrap ? 'jp-mod-wrap' : ''}`}
      tabIndex={0}
      aria-label="code"
    />
  );
}

function Row(props: { label: string; children: React.ReactNode }): JSX.Element | null {
  return (
    <>
      <dt>{props.label}</dt>
      <dd>{props.children}</dd>
    </>
  );
}

/** Code, provenance and actions of one snippet. */
export function SnippetPreview(props: {
  snippet: ISnippet;
  languages: IEditorLanguageRegistry;
  commands: ISnippetCommands;
}): JSX.Element {
  const { snippet, commands } = props;
  const [wrap, setWrap] = React.useState(false);
  const inputs = Object.entries(snippet.input_schema);
  const origin = snippet.origin?.path
    ? `${snippet.origin.path}${snippet.origin.cell !== undefined ? `, cell ${snippet.origin.cell}` : ''}`
    : '';
  const button = (
    label: string,
    title: string,
    action: () => void,
    extra = ''
  ): JSX.Element => (
    <button
      className={`jp-semcache-action ${extra}`.trim()}
      title={title}
      onClick={event => {
        event.stopPropagation();
        action();
      }}
    >
      {label}
    </button>
  );
  return (
    <div className="jp-semcache-preview" onClick={event => event.stopPropagation()}>
      <HighlightedCode
        code={snippet.code}
        language={snippet.language}
        languages={props.languages}
        wrap={wrap}
      />
      <div className="jp-semcache-actions">
        {button('Insert', 'Insert at the cursor of the active cell', () =>
          commands.insertIntoCell(snippet)
        )}
        {button('Insert below', 'Insert as a new cell below the active cell', () =>
          commands.insertBelow(snippet)
        )}
        {button('Copy', 'Copy the code to the clipboard', () => commands.copy(snippet))}
        {button('Export .py', 'Download as a Python script', () =>
          commands.exportFile(snippet)
        )}
        {button(`▲ ${snippet.votes_up}`, 'Vote up', () => commands.vote(snippet, true))}
        {button(`▼ ${snippet.votes_down}`, 'Vote down', () => commands.vote(snippet, false))}
        {button('Edit…', 'Edit the task, code and tags (saves a new version)', () =>
          commands.edit(snippet)
        )}
        {button('Tags…', 'Edit the tags', () => commands.editTags(snippet))}
        {button(wrap ? 'No wrap' : 'Wrap', 'Wrap long code lines', () => setWrap(w => !w))}
        {button('Delete', 'Delete from the cache', () => commands.remove(snippet), 'jp-mod-warn')}
      </div>
      <dl className="jp-semcache-provenance">
        <Row label="id">{snippet.id}</Row>
        <Row label="source">{snippet.source}</Row>
        <Row label="model">{snippet.model || '—'}</Row>
        <Row label="parent">{snippet.parent_id || '—'}</Row>
        {origin && <Row label="from">{origin}</Row>}
        <Row label="created">{dateTime(snippet.created_at)}</Row>
        <Row label="last used">{dateTime(snippet.last_used_at)}</Row>
        <Row label="runs">
          {snippet.success_count} ok, {snippet.failure_count} failed
        </Row>
        <Row label="libraries">{snippet.libraries.join(', ') || '—'}</Row>
        <Row label="inputs">
          {inputs.length ? inputs.map(([name, type]) => `${name}: ${type}`).join(', ') : '—'}
        </Row>
        <Row label="tags">{snippet.tags.join(', ') || '—'}</Row>
      </dl>
    </div>
  );
}

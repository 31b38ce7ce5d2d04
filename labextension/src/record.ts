import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Panel, Widget } from '@lumino/widgets';

import { highlightInto } from './highlight';

/** A %%cached_task output's record (see semcache_magic/view/_record.py). */
export const RECORD_MIME = 'application/vnd.semcache.task+json';
const WIDGET_MIME = 'application/vnd.jupyter.widget-view+json';
// Below the widget renderer's rank (-10): a task's output is ours to show.
const RANK = -20;

interface IRecord {
  task: string;
  state: 'running' | 'done';
  status?: string;
  status_label?: string;
  tier?: string;
  evidence_words?: string;
  score?: number;
  origin?: string;
  code?: string | null;
  snippet_id?: string;
  error?: string;
  lines?: string[];
  kernel_id?: string;
  quiet?: boolean;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

/**
 * Shows a task's output: the live widget while the kernel that ran the task is the
 * notebook's kernel (its widget model exists), else the static record: tier, why,
 * the snippet, the status and the code that ran. A notebook reopened later, or
 * received from someone else, so tells what ran instead of "model not found".
 */
class RecordRenderer extends Panel implements IRenderMime.IRenderer {
  private live: IRenderMime.IRenderer | null = null;
  private cancel: (() => void) | null = null;

  constructor(
    private readonly tracker: INotebookTracker,
    private readonly languages: IEditorLanguageRegistry
  ) {
    super();
    this.addClass('jp-semcache-record');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const record = model.data[RECORD_MIME] as unknown as IRecord;
    if (!record || record.quiet) {
      this.hide(); // --quiet: the record is kept for freeze, nothing is shown
      return;
    }
    if (this.live) {
      return; // the widget updates itself
    }
    const panel = record.kernel_id
      ? this.tracker.find(p => p.sessionContext.session?.kernel?.id === record.kernel_id)
      : undefined;
    if (panel && model.trusted && model.data[WIDGET_MIME]) {
      const renderer = panel.content.rendermime.createRenderer(WIDGET_MIME);
      this.clear();
      this.live = renderer;
      this.addWidget(renderer);
      await renderer.renderModel(model);
      // The same kernel id after a restart: the widget is gone after all.
      if (!renderer.node.textContent?.startsWith('Error displaying widget')) {
        return;
      }
      this.live = null;
    }
    this.showStatic(record);
  }

  private clear(): void {
    this.cancel?.();
    this.cancel = null;
    for (const widget of [...this.widgets]) {
      widget.dispose();
    }
    this.node.replaceChildren();
  }

  private showStatic(record: IRecord): void {
    this.clear();
    const box = element('div', 'jp-semcache-record-static');
    const head = element('div', 'jp-semcache-record-head');
    const parts = [
      record.tier ?? 'running',
      record.evidence_words ?? '',
      record.score ? `score ${record.score.toFixed(2)}` : '',
      record.snippet_id ? `snippet ${record.snippet_id.slice(0, 8)}` : ''
    ].filter(part => part);
    head.append(element('b', '', 'semcache'), ` · ${parts.join(' · ')}`);
    if (record.state === 'done') {
      const ok = record.status === 'ok';
      head.append(
        ' · ',
        element('span', ok ? 'jp-semcache-ok' : 'jp-semcache-bad', record.status_label ?? '')
      );
    }
    box.append(head, element('div', 'jp-semcache-record-task', record.task));
    if (record.error) {
      box.append(element('div', 'jp-semcache-bad', `error: ${record.error}`));
    }
    if (record.state === 'running') {
      box.append(element('pre', 'jp-semcache-record-lines', (record.lines ?? []).join('\n')));
    } else if (record.code) {
      const fold = element('details', 'jp-semcache-record-code');
      fold.open = true;
      const what =
        record.status === 'ok'
          ? 'code that ran'
          : record.status === 'dry_run'
            ? 'proposed code (not run)'
            : 'code that was tried';
      const code = element('pre', 'jp-semcache-code');
      fold.append(element('summary', '', `${what} (${record.origin ?? ''})`), code);
      this.cancel = highlightInto(code, record.code, 'python', this.languages);
      box.append(fold);
    }
    const holder = new Widget({ node: box });
    this.addWidget(holder);
  }

  dispose(): void {
    this.cancel?.();
    super.dispose();
  }
}

/** Renders the records of %%cached_task outputs (live widget or static story). */
export const recordPlugin: JupyterFrontEndPlugin<void> = {
  id: 'semcache-magic:record',
  description: 'Show %%cached_task outputs, with or without their kernel.',
  autoStart: true,
  requires: [IRenderMimeRegistry, INotebookTracker, IEditorLanguageRegistry],
  activate: (
    _app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    tracker: INotebookTracker,
    languages: IEditorLanguageRegistry
  ) => {
    rendermime.addFactory(
      {
        safe: true, // static text from JSON; the live widget only for trusted outputs
        mimeTypes: [RECORD_MIME],
        defaultRank: RANK,
        createRenderer: () => new RecordRenderer(tracker, languages)
      },
      RANK
    );
  }
};

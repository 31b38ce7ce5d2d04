import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Clipboard } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { NotebookInserter } from './notebook';

/** What the %%cached_task widget's Insert/Copy buttons send (see widget.py). */
export const ACTION_MIME = 'application/vnd.semcache.action+json';

interface IAction {
  action: 'insert' | 'copy' | 'rerun';
  code: string;
  nonce?: string;
  at?: number;
}

// An action is performed once, and only while fresh: reopening a saved notebook that
// still holds the bundle must not insert cells again.
const FRESH_SECONDS = 60;
const done = new Set<string>();

/** Resolves once `node` is in the document (or after ~2 s): outputs render detached. */
async function attached(node: HTMLElement): Promise<void> {
  for (let i = 0; i < 100 && !node.isConnected; i++) {
    await new Promise(resolve => window.setTimeout(resolve, 20));
  }
}

class ActionRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(
    private readonly inserter: NotebookInserter,
    private readonly tracker: INotebookTracker
  ) {
    super();
    this.addClass('jp-semcache-action');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[ACTION_MIME] as unknown as IAction | undefined;
    if (!data || typeof data.code !== 'string') {
      this.node.textContent = '';
      return;
    }
    const key = data.nonce ?? '';
    const fresh = typeof data.at === 'number' && Date.now() / 1000 - data.at < FRESH_SECONDS;
    if (!key || done.has(key) || !fresh) {
      this.node.textContent = '';
      return;
    }
    done.add(key);
    if (data.action === 'rerun') {
      await this.rerun();
    } else if (data.action === 'copy') {
      Clipboard.copyToSystem(data.code);
      this.node.textContent = 'Code copied to the clipboard.';
    } else if (this.inserter.asCellBelow(data.code)) {
      this.node.textContent = 'Code inserted into a new cell below.';
    } else {
      this.node.textContent = 'Open a notebook to insert the code.';
    }
  }

  /**
   * Run the cell holding this output again (the widget's Regenerate, Run this code,
   * Trust and run): the kernel armed the change, and the new run replaces the cell's
   * view and outputs like any execution, so they are saved with the notebook.
   */
  private async rerun(): Promise<void> {
    await attached(this.node);
    const panel = this.tracker.find(p => p.node.contains(this.node));
    const index = panel?.content.widgets.findIndex(cell => cell.node.contains(this.node)) ?? -1;
    if (!panel || index < 0) {
      this.node.textContent = 'Run this cell again to continue.';
      return;
    }
    const notebook = panel.content;
    notebook.deselectAll();
    notebook.activeCellIndex = index;
    await NotebookActions.run(notebook, panel.sessionContext);
  }
}

/** Performs the Insert/Copy/Run-again actions of the %%cached_task widget. */
export const actionsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'semcache-magic:actions',
  description: 'Insert or copy code from the %%cached_task widget.',
  autoStart: true,
  requires: [IRenderMimeRegistry, INotebookTracker],
  activate: (_app: JupyterFrontEnd, rendermime: IRenderMimeRegistry, tracker: INotebookTracker) => {
    const inserter = new NotebookInserter(tracker);
    rendermime.addFactory(
      {
        safe: false, // only outputs trusted in this session may act
        mimeTypes: [ACTION_MIME],
        createRenderer: () => new ActionRenderer(inserter, tracker)
      },
      0
    );
  }
};

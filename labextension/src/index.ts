import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Clipboard,
  Dialog,
  ICommandPalette,
  InputDialog,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';

import { actionsPlugin } from './actions';
import {
  ISnippet,
  deleteSnippet,
  downloadSnippet,
  editSnippet,
  saveSnippet,
  setSnippetTags,
  voteSnippet
} from './api';
import { askDraft } from './dialogs';
import { NotebookInserter } from './notebook';
import { IPanelCommands, SnippetSidebar } from './panel';
import { recordPlugin } from './record';
import { SemcacheRequestError } from './request';

const PLUGIN_ID = 'semcache-magic:sidebar';
const CATEGORY = 'Snippet cache';

namespace CommandIDs {
  export const open = 'semcache:open';
  export const refresh = 'semcache:refresh';
  export const search = 'semcache:search';
  export const insert = 'semcache:insert';
  export const saveCell = 'semcache:save-cell';
}

function report(action: string, error: unknown): null {
  const hint = error instanceof SemcacheRequestError && error.hint ? ` (${error.hint})` : '';
  const message = error instanceof Error ? error.message : String(error);
  Notification.error(`Cannot ${action}: ${message}${hint}`, { autoClose: 8000 });
  return null;
}

function panelCommands(inserter: NotebookInserter): IPanelCommands {
  const needNotebook = () =>
    Notification.warning('Open a notebook and select a cell first.', { autoClose: 4000 });
  return {
    insertIntoCell: (snippet: ISnippet) => {
      if (!inserter.intoActiveCell(snippet.code)) {
        needNotebook();
      }
    },
    insertBelow: (snippet: ISnippet) => {
      if (!inserter.asCellBelow(snippet.code)) {
        needNotebook();
      }
    },
    copy: (snippet: ISnippet) => {
      Clipboard.copyToSystem(snippet.code);
      Notification.success('Code copied.', { autoClose: 2000 });
    },
    exportFile: (snippet: ISnippet) => {
      downloadSnippet(snippet.id, snippet.namespace).catch(error => report('export the snippet', error));
    },
    vote: (snippet: ISnippet, up: boolean) =>
      voteSnippet(snippet.id, up, snippet.namespace).catch(error => report('record the vote', error)),
    editTags: async (snippet: ISnippet) => {
      const answer = await InputDialog.getText({
        title: 'Tags (comma separated)',
        text: snippet.tags.join(', ')
      });
      if (!answer.button.accept || answer.value === null) {
        return null;
      }
      const tags = answer.value
        .split(',')
        .map(tag => tag.trim())
        .filter(tag => tag);
      return setSnippetTags(snippet.id, tags, snippet.namespace).catch(error => report('set the tags', error));
    },
    edit: async (snippet: ISnippet) => {
      const draft = await askDraft({
        title: 'Edit snippet',
        draft: { task: snippet.task, code: snippet.code, tags: snippet.tags },
        editCode: true,
        accept: 'Save',
        note: 'A new task or code is saved as a new version (its parent is this one), which replaces this snippet; its votes and run counts start afresh.'
      });
      if (!draft) {
        return null;
      }
      try {
        const saved = await editSnippet(snippet.id, draft, snippet.namespace);
        if (saved.replaced) {
          Notification.success('Saved as a new version.', { autoClose: 3000 });
        }
        return saved;
      } catch (error) {
        return report('save the snippet', error);
      }
    },
    remove: async (snippet: ISnippet) => {
      const answer = await showDialog({
        title: 'Delete snippet?',
        body: `"${snippet.task}" will be removed from the cache for everyone using this store.`,
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })],
        defaultButton: 0 // Enter must not delete
      });
      if (!answer.button.accept) {
        return false;
      }
      try {
        await deleteSnippet(snippet.id, snippet.namespace);
        return true;
      } catch (error) {
        report('delete the snippet', error);
        return false;
      }
    }
  };
}

/** A task for code: its leading comment, else the nearest markdown heading above it. */
function guessTask(tracker: INotebookTracker, code: string): string {
  const comment = /^\s*#\s*(.+)$/m.exec(code.split('\n').find(line => line.trim()) ?? '');
  if (comment) {
    return comment[1].trim();
  }
  const notebook = tracker.currentWidget?.content;
  if (notebook) {
    for (let i = notebook.activeCellIndex - 1; i >= 0; i--) {
      const cell = notebook.widgets[i];
      if (cell.model.type === 'markdown') {
        const text = cell.model.sharedModel.getSource().trim().split('\n')[0] ?? '';
        return text.replace(/^#+\s*/, '');
      }
    }
  }
  return '';
}

/** The semcache sidebar: browse, search, reuse, save and curate cached snippets. */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'A left-sidebar browser for the semcache-magic snippet cache.',
  autoStart: true,
  requires: [INotebookTracker, IEditorLanguageRegistry],
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    languages: IEditorLanguageRegistry,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const inserter = new NotebookInserter(tracker);
    const saveCode = async (code: string): Promise<void> => {
      const draft = await askDraft({
        title: 'Save as snippet',
        draft: { task: guessTask(tracker, code), code, tags: [] },
        editCode: false,
        accept: 'Save',
        note: 'Lookups will find this code for tasks like this one.'
      });
      if (!draft) {
        return;
      }
      try {
        const saved = await saveSnippet(draft);
        Notification.success(
          saved.created ? `Saved snippet ${saved.id.slice(0, 8)}.` : 'Already saved: counted a use.',
          { autoClose: 3000 }
        );
        sidebar.refresh();
      } catch (error) {
        report('save the snippet', error);
      }
    };
    const sidebar = new SnippetSidebar(languages, panelCommands(inserter), code => {
      void saveCode(code);
    });
    app.shell.add(sidebar, 'left', { rank: 650 });
    restorer?.add(sidebar, sidebar.id);
    // A %%cached_task that saved a snippet shows up without a refresh click.
    NotebookActions.executed.connect(() => {
      if (sidebar.isVisible) {
        void sidebar.checkForChanges();
      }
    });

    app.commands.addCommand(CommandIDs.open, {
      label: 'Show the snippet cache',
      caption: 'Open the snippet cache sidebar',
      execute: () => app.shell.activateById(sidebar.id)
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'Refresh the snippet cache',
      execute: () => sidebar.refresh()
    });
    app.commands.addCommand(CommandIDs.search, {
      label: 'Search the snippet cache…',
      execute: args => {
        app.shell.activateById(sidebar.id);
        sidebar.focusSearch(typeof args.query === 'string' ? args.query : null);
      }
    });
    app.commands.addCommand(CommandIDs.insert, {
      label: 'Insert the selected snippet below the active cell',
      isEnabled: () => sidebar.current !== null && tracker.currentWidget !== null,
      execute: () => {
        if (sidebar.current && !inserter.asCellBelow(sidebar.current.code)) {
          Notification.warning('Open a notebook first.', { autoClose: 4000 });
        }
      }
    });
    app.commands.addCommand(CommandIDs.saveCell, {
      label: 'Save cell as snippet…',
      caption: 'Save the code of the active cell in the snippet cache',
      isEnabled: () => tracker.activeCell?.model.type === 'code',
      execute: () => {
        const code = tracker.activeCell?.model.sharedModel.getSource() ?? '';
        if (!code.trim()) {
          Notification.warning('The cell is empty.', { autoClose: 3000 });
          return;
        }
        return saveCode(code);
      }
    });
    app.contextMenu.addItem({
      command: CommandIDs.saveCell,
      selector: '.jp-Notebook .jp-CodeCell',
      rank: 20
    });
    for (const command of Object.values(CommandIDs)) {
      palette?.addItem({ command, category: CATEGORY });
    }
  }
};

export default [plugin, actionsPlugin, recordPlugin];

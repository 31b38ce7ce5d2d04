import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Clipboard, Dialog, InputDialog, Notification, showDialog } from '@jupyterlab/apputils';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { INotebookTracker } from '@jupyterlab/notebook';

import { actionsPlugin } from './actions';
import { ISnippet, deleteSnippet, downloadSnippet, setSnippetTags, voteSnippet } from './api';
import { NotebookInserter } from './notebook';
import { IPanelCommands, SnippetSidebar } from './panel';
import { SemcacheRequestError } from './request';

const PLUGIN_ID = 'semcache-magic:sidebar';

namespace CommandIDs {
  export const open = 'semcache:open';
  export const refresh = 'semcache:refresh';
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
    remove: async (snippet: ISnippet) => {
      const answer = await showDialog({
        title: 'Delete snippet?',
        body: `"${snippet.task}" will be removed from the cache for everyone using this store.`,
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
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

/** The semcache sidebar: browse, search, reuse and curate cached snippets. */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'A left-sidebar browser for the semcache-magic snippet cache.',
  autoStart: true,
  requires: [INotebookTracker, IEditorLanguageRegistry],
  optional: [ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    languages: IEditorLanguageRegistry,
    restorer: ILayoutRestorer | null
  ) => {
    const sidebar = new SnippetSidebar(languages, panelCommands(new NotebookInserter(tracker)));
    app.shell.add(sidebar, 'left', { rank: 650 });
    restorer?.add(sidebar, sidebar.id);

    app.commands.addCommand(CommandIDs.open, {
      label: 'Show the snippet cache',
      execute: () => app.shell.activateById(sidebar.id)
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'Refresh the snippet cache',
      execute: () => sidebar.refresh()
    });
  }
};

export default [plugin, actionsPlugin];

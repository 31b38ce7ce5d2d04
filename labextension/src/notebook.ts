import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';

/**
 * Put code into the active notebook: at the cursor of the active cell, or into a
 * new code cell below it. Both return false when no notebook is open.
 */
export class NotebookInserter {
  constructor(private readonly tracker: INotebookTracker) {}

  intoActiveCell(code: string): boolean {
    const panel = this.tracker.currentWidget;
    const cell = panel?.content.activeCell;
    if (!panel || !cell) {
      return false;
    }
    const editor = cell.editor;
    if (editor?.replaceSelection) {
      editor.replaceSelection(code);
    } else {
      const source = cell.model.sharedModel.getSource();
      cell.model.sharedModel.setSource(source + code);
    }
    return true;
  }

  asCellBelow(code: string): boolean {
    const panel = this.tracker.currentWidget;
    if (!panel) {
      return false;
    }
    const notebook = panel.content;
    NotebookActions.insertBelow(notebook);
    NotebookActions.changeCellType(notebook, 'code');
    notebook.activeCell?.model.sharedModel.setSource(code.replace(/\n$/, ''));
    return true;
  }
}

import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ISnippetDraft } from './api';

/** A dialog body with the fields of a snippet: task, code (optional), tags. */
class DraftForm extends Widget implements Dialog.IBodyWidget<ISnippetDraft> {
  private readonly task: HTMLInputElement;
  private readonly code: HTMLTextAreaElement | null;
  private readonly tags: HTMLInputElement;

  constructor(draft: ISnippetDraft, editCode: boolean, note: string) {
    super();
    this.addClass('jp-semcache-form');
    const field = (label: string, input: HTMLElement): void => {
      const wrapper = document.createElement('label');
      wrapper.textContent = label;
      wrapper.append(input);
      this.node.append(wrapper);
    };
    this.task = document.createElement('input');
    this.task.className = 'jp-mod-styled jp-semcache-form-task';
    this.task.value = draft.task;
    this.task.placeholder = 'What the code does, in plain language';
    field('Task', this.task);
    this.code = null;
    if (editCode) {
      this.code = document.createElement('textarea');
      this.code.className = 'jp-mod-styled jp-semcache-form-code';
      this.code.value = draft.code;
      this.code.rows = Math.min(20, Math.max(6, draft.code.split('\n').length + 1));
      this.code.spellcheck = false;
      field('Code', this.code);
    }
    this.tags = document.createElement('input');
    this.tags.className = 'jp-mod-styled jp-semcache-form-tags';
    this.tags.value = draft.tags.join(', ');
    this.tags.placeholder = 'comma separated';
    field('Tags', this.tags);
    if (note) {
      const hint = document.createElement('p');
      hint.className = 'jp-semcache-hint';
      hint.textContent = note;
      this.node.append(hint);
    }
    this.original = draft;
  }

  getValue(): ISnippetDraft {
    return {
      task: this.task.value.trim(),
      code: this.code ? this.code.value : this.original.code,
      tags: this.tags.value
        .split(',')
        .map(tag => tag.trim())
        .filter(tag => tag)
    };
  }

  protected onAfterAttach(): void {
    this.task.focus();
  }

  private readonly original: ISnippetDraft;
}

/**
 * Ask for a snippet's task, code and tags; null when cancelled or when the task or
 * code is left empty.
 */
export async function askDraft(options: {
  title: string;
  draft: ISnippetDraft;
  editCode: boolean;
  accept: string;
  note?: string;
}): Promise<ISnippetDraft | null> {
  const result = await showDialog({
    title: options.title,
    body: new DraftForm(options.draft, options.editCode, options.note ?? ''),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: options.accept })],
    focusNodeSelector: '.jp-semcache-form-task'
  });
  const value = result.value;
  if (!result.button.accept || !value || !value.task || !value.code.trim()) {
    return null;
  }
  return value;
}

import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';

/**
 * Put `code` into `element`, highlighted by JupyterLab's own CodeMirror language
 * registry, so token colours follow the theme (light, dark, high contrast). Plain text
 * shows at once; the highlighted copy replaces it when the language has loaded.
 * Returns a function that cancels a pending highlight.
 */
export function highlightInto(
  element: HTMLElement,
  code: string,
  language: string,
  languages: IEditorLanguageRegistry
): () => void {
  element.textContent = code;
  element.classList.add('cm-s-jupyter');
  let current = true;
  const highlighted = document.createElement('div');
  languages
    .highlight(code, languages.findBest(language || 'python'), highlighted)
    .then(() => {
      if (current) {
        element.replaceChildren(...Array.from(highlighted.childNodes));
      }
    })
    .catch(() => undefined); // keep the plain text
  return () => {
    current = false;
  };
}

/** `1 use`, `2 uses`. */
export function plural(count: number, noun: string): string {
  return `${count} ${count === 1 ? noun : noun + 's'}`;
}

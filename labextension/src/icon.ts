import { LabIcon } from '@jupyterlab/ui-components';

// A code bracket over a stack: cached code.
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M8.6 3.4 3 9l5.6 5.6 1.4-1.4L5.8 9 10 4.8zM15.4 3.4 14 4.8 18.2 9 14 13.2l1.4 1.4L21 9z"/>
    <path d="M3 17h18v2H3zM5 20.5h14V22H5z"/>
  </g>
</svg>`;

export const semcacheIcon = new LabIcon({ name: 'semcache-magic:icon', svgstr: svg });

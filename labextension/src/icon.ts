/**
 * The sidebar tab's icon: three linked nodes.
 */
import { LabIcon } from '@jupyterlab/ui-components';

const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">
  <g class="jp-icon3" fill="#616161">
    <circle cx="6" cy="6" r="3"/><circle cx="18" cy="8" r="3"/><circle cx="10" cy="18" r="3"/>
    <path d="M8.6 7.2l6.6 1.2-.3 1.6-6.6-1.2zM6.9 8.6l2.6 7-1.5.6-2.6-7zM16.2 10l-4.6 6.3-1.3-.9 4.6-6.3z"/>
  </g>
</svg>`;

/** `nbray:icon`. */
export const nbrayIcon = new LabIcon({ name: 'nbray:icon', svgstr });

/**
 * A small helper for building DOM nodes (text is always set as text, never as HTML).
 */

/** Attributes of {@link h}: `className`, `dataset`, `title` and plain attributes. */
export interface IAttributes {
  className?: string;
  title?: string;
  dataset?: Record<string, string>;
  style?: Partial<Record<'width' | 'display', string>>;
  [name: string]: unknown;
}

/** A child of {@link h}: a node, text, or nothing. */
export type Child = Node | string | number | null | undefined | false;

/** `h('td', {className: 'x'}, 'text')` -> `<td class="x">text</td>`. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: IAttributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (name === 'className') {
      node.className = String(value);
    } else if (name === 'dataset') {
      Object.assign(node.dataset, value);
    } else if (name === 'style') {
      Object.assign(node.style, value);
    } else {
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace every child of `node`. */
export function replaceChildren(node: HTMLElement, ...children: Child[]): void {
  while (node.firstChild) {
    node.removeChild(node.firstChild);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** A `<table>` with one header row; `rows` are `<tr>`s built by the caller. */
export function table(className: string, columns: string[], rows: HTMLTableRowElement[]): HTMLTableElement {
  return h(
    'table',
    { className },
    h('thead', {}, h('tr', {}, ...columns.map(c => h('th', {}, c)))),
    h('tbody', {}, ...rows)
  );
}

/**
 * The live object table: what the notebook's inspector widget (`nbray.inspect()`)
 * shows, dense enough for a narrow sidebar.
 *
 * Five columns fit a default-width sidebar without scrolling sideways: id (the
 * shortest prefix unique on the page; a click copies the full id), size, type,
 * where, and who holds it (the notebook's variable names, else the kinds of
 * reference; sorting by it puts named objects first, by name). A click on a row opens its details: call site ("In [3] line 2"),
 * owner, locations, references. A click on a column header sorts by it.
 */
import { Widget } from '@lumino/widgets';

import { formatBytesShort, heldBy, shortId, shortIds, shortType, shortWhere } from '../format';
import { NbrayModel, SORT_KEYS } from '../model';
import { IObjectModel, Where } from '../tokens';
import { h, replaceChildren } from './dom';

/** The columns: label, sort key (null: not sortable), class of their cells. */
const COLUMNS: [string, string | null, string][] = [
  ['id', 'object_id', 'nbray-ObjectId'],
  ['size', 'size', 'nbray-Size'],
  ['type', 'type', 'nbray-Type'],
  ['where', 'where', 'nbray-Where'],
  ['held by', 'held_by', 'nbray-HeldBy']
];

/** Milliseconds the "copied" confirmation stays on an id cell. */
const COPIED_FOR = 1500;

const PLACES: [string, Where | ''][] = [
  ['anywhere', ''],
  ['inline', 'inline'],
  ['shared memory', 'shared_memory'],
  ['spilled', 'spilled'],
  ['pending', 'pending']
];

/** Milliseconds the filter waits for more typing before it asks the server. */
const FILTER_DELAY = 300;

/** Renders `snapshot.page` of the model; its controls set the model's query. */
export class ObjectTableView extends Widget {
  constructor(options: ObjectTableView.IOptions) {
    super();
    this.addClass('nbray-ObjectTableView');
    this._model = options.model;

    this._sort = h(
      'select',
      { className: 'nbray-SortBy', title: 'sort by' },
      ...SORT_KEYS.map(key => h('option', { value: key }, key))
    );
    this._descending = h('input', { type: 'checkbox', className: 'nbray-Descending' });
    this._filter = h('input', {
      type: 'search',
      className: 'nbray-Filter',
      placeholder: 'filter: variable, id, type, In [n]'
    });
    this._where = h(
      'select',
      { className: 'nbray-Where', title: 'where' },
      ...PLACES.map(([label, value]) => h('option', { value }, label))
    );
    this._prev = h('button', { className: 'nbray-PrevPage', title: 'previous page' }, '◀');
    this._next = h('button', { className: 'nbray-NextPage', title: 'next page' }, '▶');
    this._pageLabel = h('span', { className: 'nbray-PageLabel' });
    this._body = h('div', { className: 'nbray-ObjectTableBody' });

    this._sort.addEventListener('change', () =>
      this._model.setSort(this._sort.value, this._descending.checked)
    );
    this._descending.addEventListener('change', () =>
      this._model.setSort(this._sort.value, this._descending.checked)
    );
    this._where.addEventListener('change', () =>
      this._model.setWhere((this._where.value as Where) || null)
    );
    this._filter.addEventListener('input', () => {
      if (this._filterTimer !== null) {
        clearTimeout(this._filterTimer);
      }
      this._filterTimer = setTimeout(() => {
        this._filterTimer = null;
        this._model.setFilter(this._filter.value);
      }, FILTER_DELAY);
    });
    this._prev.addEventListener('click', () => this._model.setPage(this._model.page - 1));
    this._next.addEventListener('click', () => this._model.setPage(this._model.page + 1));

    this.node.appendChild(h('h3', {}, 'Objects'));
    this.node.appendChild(
      h(
        'div',
        { className: 'nbray-Controls' },
        this._sort,
        h('label', { title: 'largest / newest first' }, this._descending, 'desc'),
        this._where,
        this._filter
      )
    );
    this.node.appendChild(
      h('div', { className: 'nbray-Pager' }, this._prev, this._pageLabel, this._next)
    );
    this.node.appendChild(this._body);

    this._model.changed.connect(this._render, this);
    this._render();
  }

  dispose(): void {
    if (this._filterTimer !== null) {
      clearTimeout(this._filterTimer);
    }
    if (this._copiedTimer !== null) {
      clearTimeout(this._copiedTimer);
    }
    this._model.changed.disconnect(this._render, this);
    super.dispose();
  }

  private _render(): void {
    const snapshot = this._model.snapshot;
    if (!snapshot) {
      this.hide();
      return;
    }
    this.show();
    const query = this._model.query;
    this._sort.value = query.sort_by;
    this._descending.checked = query.descending;
    this._where.value = query.where ?? '';
    const page = snapshot.page;
    const first = page.total ? page.offset + 1 : 0;
    this._pageLabel.textContent =
      `${first}-${page.offset + page.objects.length} of ${page.total} objects, ` +
      `page ${this._model.page + 1}/${this._model.pageCount}`;
    this._prev.disabled = this._model.page === 0;
    this._next.disabled = this._model.page >= this._model.pageCount - 1;

    const head = h(
      'tr',
      {},
      ...COLUMNS.map(([label, key, className]) => {
        const sorted = key === query.sort_by;
        const th = h(
          'th',
          {
            className: `${className}${key ? ' nbray-Sortable' : ''}${sorted ? ' nbray-Sorted' : ''}`,
            dataset: key ? { sortKey: key } : {},
            title: key ? `sort by ${label}` : undefined,
            'aria-sort': sorted ? (query.descending ? 'descending' : 'ascending') : undefined
          },
          label,
          sorted ? (query.descending ? ' ▼' : ' ▲') : ''
        );
        if (key) {
          th.addEventListener('click', () =>
            this._model.setSort(key, sorted ? !query.descending : key === 'size')
          );
        }
        return th;
      })
    );
    const ids = shortIds(page.objects.map(o => o.object_id));
    const onPage = new Set(page.objects.map(o => o.object_id));
    for (const id of [...this._expanded]) {
      if (!onPage.has(id)) {
        this._expanded.delete(id); // freed, or on another page: forget it
      }
    }
    const rows: HTMLTableRowElement[] = [];
    page.objects.forEach((o, i) => {
      rows.push(this._row(o, ids[i]));
      if (this._expanded.has(o.object_id)) {
        rows.push(detailRow(o));
      }
    });
    replaceChildren(
      this._body,
      h(
        'table',
        { className: 'nbray-Table nbray-ObjectTable' },
        h('thead', {}, head),
        h('tbody', {}, ...rows)
      ),
      page.total === 0 && h('div', { className: 'nbray-Empty' }, 'no objects')
    );
  }

  /** One object's row: a click opens its details, a click on the id copies it. */
  private _row(o: IObjectModel, short: string): HTMLTableRowElement {
    const copied = this._copied === o.object_id;
    const held = heldBy(o.held_by, o.reference_types);
    const site = o.call_site || o.created_by;
    const id = h(
      'td',
      {
        className: `nbray-ObjectId${copied ? ' nbray-mod-copied' : ''}`,
        title: `${o.object_id}\nclick to copy`,
        dataset: { shortId: short }
      },
      copied ? 'copied ✓' : short
    );
    id.addEventListener('click', event => {
      event.stopPropagation();
      void this._copy(o.object_id);
    });
    const row = h(
      'tr',
      {
        className: `nbray-Object${this._expanded.has(o.object_id) ? ' nbray-mod-expanded' : ''}`,
        dataset: { objectId: o.object_id, where: o.where },
        title: `created at ${site}`
      },
      id,
      h('td', { className: 'nbray-Size', title: `${o.size} bytes` }, formatBytesShort(o.size)),
      h('td', { className: 'nbray-Type', title: o.type }, shortType(o.type)),
      h(
        'td',
        { className: `nbray-Where nbray-Where-${o.where}`, title: o.where + (o.spill_url ? ` → ${o.spill_url}` : '') },
        shortWhere(o.where)
      ),
      h(
        'td',
        {
          className: `nbray-HeldBy${o.held_by?.length ? '' : ' nbray-mod-unnamed'}`,
          title: `held by ${held}\n${references(o)}`
        },
        held
      )
    );
    row.addEventListener('click', () => {
      if (!this._expanded.delete(o.object_id)) {
        this._expanded.add(o.object_id);
      }
      this._render();
    });
    return row;
  }

  /** Put the full id on the clipboard and say so on its cell for a moment. */
  private async _copy(objectId: string): Promise<void> {
    await copyText(objectId);
    this._copied = objectId;
    this._render();
    if (this._copiedTimer !== null) {
      clearTimeout(this._copiedTimer);
    }
    this._copiedTimer = setTimeout(() => {
      this._copiedTimer = null;
      this._copied = null;
      if (!this.isDisposed) {
        this._render();
      }
    }, COPIED_FOR);
  }

  private _model: NbrayModel;
  private _sort: HTMLSelectElement;
  private _descending: HTMLInputElement;
  private _filter: HTMLInputElement;
  private _where: HTMLSelectElement;
  private _prev: HTMLButtonElement;
  private _next: HTMLButtonElement;
  private _pageLabel: HTMLSpanElement;
  private _body: HTMLDivElement;
  private _filterTimer: ReturnType<typeof setTimeout> | null = null;
  private _expanded = new Set<string>();
  private _copied: string | null = null;
  private _copiedTimer: ReturnType<typeof setTimeout> | null = null;
}

export namespace ObjectTableView {
  export interface IOptions {
    /** The model to render and to steer. */
    model: NbrayModel;
  }
}

/** `reference_types` plus the processes holding refs, as the inspector shows them. */
function references(o: IObjectModel): string {
  const parts = [...o.reference_types];
  for (const holder of o.holders) {
    const pid = holder.pid !== null ? ` pid ${holder.pid}` : '';
    // Ray lists the processes holding refs, not how many each holds
    const count = holder.refs !== null ? `${holder.refs} ` : '';
    parts.push(`${count}in ${holder.process}${pid}`);
  }
  if (o.submitted_tasks) {
    parts.push(`${o.submitted_tasks} pending tasks`);
  }
  if (o.contained_in) {
    parts.push(`in ${o.contained_in} objects`);
  }
  return parts.join(', ') || '-';
}

/** The details of an object, under its row: what the five columns leave out. */
function detailRow(o: IObjectModel): HTMLTableRowElement {
  const owner = `${o.owner.process ?? '?'}${o.owner.pid !== undefined && o.owner.pid !== null ? ` (pid ${o.owner.pid})` : ''}`;
  const fields: [string, string][] = [
    ['id', o.object_id],
    ['call site', o.call_site || '-'],
    ['created by', o.created_by + (o.task_id ? ` (task ${shortId(o.task_id)})` : '')],
    ['held by', (o.held_by ?? []).join(', ') || '-'],
    ['references', references(o)],
    ['owner', owner],
    ['locations', o.locations.map(l => shortId(l)).join(', ') || '-'],
    ['where', o.where + (o.spill_url ? ` → ${o.spill_url}` : '')]
  ];
  return h(
    'tr',
    { className: 'nbray-ObjectDetail', dataset: { objectId: o.object_id } },
    h(
      'td',
      { colspan: COLUMNS.length },
      h(
        'dl',
        {},
        ...([] as HTMLElement[]).concat(
          ...fields.map(([name, value]) => [
            h('dt', {}, name),
            h('dd', { className: `nbray-Detail-${name.replace(/ /g, '-')}` }, value)
          ])
        )
      )
    )
  );
}

/** Copy `text` to the clipboard (the Clipboard API, else a selected textarea). */
async function copyText(text: string): Promise<void> {
  try {
    if (navigator.clipboard) {
      await navigator.clipboard.writeText(text);
      return;
    }
  } catch {
    // not allowed here (an insecure origin): fall back to the selection
  }
  const area = h('textarea', { className: 'nbray-CopyBuffer' });
  area.value = text;
  document.body.appendChild(area);
  area.select();
  document.execCommand('copy');
  area.remove();
}

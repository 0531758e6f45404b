/**
 * The live object table: the same columns as the notebook's inspector widget
 * (`nbray.inspect()`), with sorting, a filter, a place filter and pages.
 */
import { Widget } from '@lumino/widgets';

import { formatBytes, shortId } from '../format';
import { NbrayModel, SORT_KEYS } from '../model';
import { IObjectModel, Where } from '../tokens';
import { h, replaceChildren } from './dom';

/** The columns, and the sort key of each (null: not sortable). */
const COLUMNS: [string, string | null][] = [
  ['object id', 'object_id'],
  ['size', 'size'],
  ['type', 'type'],
  ['owner', 'owner'],
  ['locations', null],
  ['where', 'where'],
  ['references', null],
  ['call site', 'call_site']
];

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
      placeholder: 'filter: id, type, call site, task'
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
      ...COLUMNS.map(([label, key]) => {
        const th = h(
          'th',
          { className: key ? 'nbray-Sortable' : undefined, dataset: key ? { sortKey: key } : {} },
          label,
          key === query.sort_by ? (query.descending ? ' ▼' : ' ▲') : ''
        );
        if (key) {
          th.addEventListener('click', () =>
            this._model.setSort(key, key === query.sort_by ? !query.descending : true)
          );
        }
        return th;
      })
    );
    replaceChildren(
      this._body,
      h(
        'table',
        { className: 'nbray-Table nbray-ObjectTable' },
        h('thead', {}, head),
        h('tbody', {}, ...page.objects.map(objectRow))
      ),
      page.total === 0 && h('div', { className: 'nbray-Empty' }, 'no objects')
    );
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
    parts.push(`${holder.refs} in ${holder.process}${pid}`);
  }
  if (o.submitted_tasks) {
    parts.push(`${o.submitted_tasks} pending tasks`);
  }
  if (o.contained_in) {
    parts.push(`in ${o.contained_in} objects`);
  }
  return parts.join(', ') || '-';
}

function objectRow(o: IObjectModel): HTMLTableRowElement {
  const owner = `${o.owner.process ?? '?'}${o.owner.pid !== undefined && o.owner.pid !== null ? ` (pid ${o.owner.pid})` : ''}`;
  const where = o.where + (o.spill_url ? ` → ${o.spill_url}` : '');
  const refs = references(o);
  const site = o.call_site || o.created_by;
  return h(
    'tr',
    { className: 'nbray-Object', dataset: { objectId: o.object_id, where: o.where } },
    h('td', { className: 'nbray-ObjectId', title: o.object_id }, o.object_id),
    h('td', { className: 'nbray-Size', title: `${o.size} bytes` }, formatBytes(o.size)),
    h('td', { className: 'nbray-Cut', title: o.type }, o.type),
    h('td', {}, owner),
    h('td', { title: o.locations.join(', ') }, o.locations.map(l => shortId(l)).join(', ') || '-'),
    h('td', { className: `nbray-Cut nbray-Where nbray-Where-${o.where}`, title: where }, where),
    h('td', { className: 'nbray-Cut', title: refs }, refs),
    h('td', { className: 'nbray-Cut', title: site }, site)
  );
}

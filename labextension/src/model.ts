/**
 * The state of the nbray sidebar: which kernel it follows, what the server
 * last said about that kernel's cluster, and the object table's query.
 *
 * The model polls the server extension while started, and emits `changed`
 * after every answer that changed what the views show. It knows nothing about
 * the DOM or about notebooks: the plugin tells it which kernel to follow.
 */
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';
import { ServerConnection } from '@jupyterlab/services';

import { requestAPI, RequestFunction } from './request';
import {
  IActorModel,
  IClusterModel,
  IObjectPageModel,
  IObjectQuery,
  ISessionModel,
  ITaskModel,
  Where
} from './tokens';

/** What the sidebar shows when the followed kernel runs no cluster. */
export const NO_CLUSTER_MESSAGE = 'no nbray cluster in this kernel: run %load_ext nbray';

/** What the object table can be sorted by (the server's `sort_by` values). */
export const SORT_KEYS = [
  'size',
  'created',
  'last_access',
  'type',
  'where',
  'call_site',
  'owner',
  'object_id',
  'held_by'
] as const;

/** One consistent answer of the server about the followed kernel's cluster. */
export interface ISnapshot {
  /** `nbray/api/cluster`. */
  cluster: IClusterModel;
  /** `nbray/api/objects` for the current query (it carries the nodes too). */
  page: IObjectPageModel;
  /** `nbray/api/actors`. */
  actors: IActorModel[];
  /** `nbray/api/tasks`: tasks that have not finished. */
  tasks: ITaskModel[];
  /** When the answer arrived (ms since the epoch). */
  receivedAt: number;
}

/**
 * Where the model stands.
 *
 * - `no-notebook`: no notebook is active.
 * - `no-kernel`: the notebook has no running kernel.
 * - `loading`: waiting for the first answer about this kernel.
 * - `no-cluster`: the kernel runs no nbray cluster.
 * - `ready`: `snapshot` holds the latest answer.
 * - `error`: the last request failed (`error` says why; `snapshot` may hold an older answer).
 */
export type Status = 'no-notebook' | 'no-kernel' | 'loading' | 'no-cluster' | 'ready' | 'error';

/** The model behind the sidebar. */
export class NbrayModel implements IDisposable {
  constructor(options: NbrayModel.IOptions = {}) {
    this._request = options.request ?? requestAPI;
    this._interval = options.interval ?? 2000;
    this._pageSize = options.pageSize ?? 25;
  }

  /** Emitted after the status, the snapshot, the target or the query changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The notebook and kernel followed, or null. */
  get target(): NbrayModel.ITarget | null {
    return this._target;
  }

  /** The kernel followed, or null. */
  get kernelId(): string | null {
    return this._target?.kernelId ?? null;
  }

  /** See {@link Status}. */
  get status(): Status {
    return this._status;
  }

  /** Why the last request failed (status `error`), or the no-cluster hint; else null. */
  get error(): string | null {
    return this._error;
  }

  /** The latest answer about the followed kernel, or null. */
  get snapshot(): ISnapshot | null {
    return this._snapshot;
  }

  /** The parameters of the next `nbray/api/objects` request. */
  get query(): IObjectQuery {
    return {
      sort_by: this._sortBy,
      descending: this._descending,
      filter: this._filter,
      where: this._where,
      offset: this._page * this._pageSize,
      limit: this._pageSize
    };
  }

  /** Index of the shown page of objects, from 0. */
  get page(): number {
    return this._page;
  }

  /** Rows per page. */
  get pageSize(): number {
    return this._pageSize;
  }

  /** Pages of objects matching the filter (at least 1). */
  get pageCount(): number {
    const total = this._snapshot?.page.total ?? 0;
    return Math.max(1, Math.ceil(total / this._pageSize));
  }

  /** Whether the model is polling. */
  get isPolling(): boolean {
    return this._polling;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Follow another notebook/kernel (null: none). A different kernel drops
   * the old answer, resets the page and asks the server at once.
   */
  follow(target: NbrayModel.ITarget | null): void {
    const kernelChanged =
      (target?.kernelId ?? null) !== this.kernelId || !target !== !this._target;
    const pathChanged = (target?.path ?? null) !== (this._target?.path ?? null);
    this._target = target ? { ...target } : null;
    if (!kernelChanged) {
      if (pathChanged) {
        this._changed.emit();
      }
      return;
    }
    this._generation++;
    this._snapshot = null;
    this._page = 0;
    this._error = null;
    this._status = !target ? 'no-notebook' : target.kernelId ? 'loading' : 'no-kernel';
    this._changed.emit();
    void this.refresh();
  }

  /** Sort the object table (and go back to the first page). */
  setSort(sortBy: string, descending: boolean = this._descending): void {
    if (!(SORT_KEYS as readonly string[]).includes(sortBy)) {
      throw new Error(`nbray: cannot sort by ${sortBy}; use one of ${SORT_KEYS.join(', ')}`);
    }
    this._sortBy = sortBy;
    this._descending = descending;
    this._queryChanged();
  }

  /**
   * Keep objects whose id, type, call site, task, owner or holder name (the notebook
   * variable holding it) contains `text`.
   */
  setFilter(text: string): void {
    if (text === this._filter) {
      return;
    }
    this._filter = text;
    this._queryChanged();
  }

  /** Keep only objects in one place (null: anywhere). */
  setWhere(where: Where | null): void {
    this._where = where;
    this._queryChanged();
  }

  /** Show page `page` (clamped to the pages there are). */
  setPage(page: number): void {
    const clamped = Math.max(0, Math.min(Math.floor(page), this.pageCount - 1));
    if (clamped === this._page) {
      return;
    }
    this._page = clamped;
    this._changed.emit();
    void this.refresh();
  }

  /**
   * Ask the server now. Resolves once an answer asked for after this call
   * arrived (calls while a request is in flight share one follow-up request).
   * Never rejects: failures show as status `error`.
   */
  refresh(): Promise<void> {
    if (this._next) {
      return this._next;
    }
    if (this._inFlight) {
      this._next = this._inFlight.then(() => {
        this._next = null;
        return this.refresh();
      });
      return this._next;
    }
    this._inFlight = this._fetch().finally(() => {
      this._inFlight = null;
    });
    return this._inFlight;
  }

  /** Poll every `interval` ms (the first request goes out now). */
  start(): void {
    if (this._polling || this._isDisposed) {
      return;
    }
    this._polling = true;
    const tick = async (): Promise<void> => {
      this._timer = null;
      await this.refresh();
      if (this._polling) {
        this._timer = setTimeout(tick, this._interval);
      }
    };
    void tick();
  }

  /** Stop polling (a request in flight still lands). */
  stop(): void {
    this._polling = false;
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this.stop();
    this._generation++;
    Signal.clearData(this);
  }

  private _queryChanged(): void {
    this._page = 0;
    this._changed.emit();
    void this.refresh();
  }

  private async _fetch(): Promise<void> {
    const kernelId = this.kernelId;
    const generation = this._generation;
    if (!kernelId || this._isDisposed) {
      return;
    }
    const stale = () => generation !== this._generation || this._isDisposed;
    try {
      const sessions = await this._request<ISessionModel[]>('sessions');
      if (stale()) {
        return;
      }
      if (!sessions.some(s => s.kernel_id === kernelId)) {
        this._set('no-cluster', null, NO_CLUSTER_MESSAGE);
        return;
      }
      const ask = { kernel_id: kernelId };
      let query = this.query;
      const objects = (q: IObjectQuery) =>
        this._request<IObjectPageModel>('objects', {
          ...ask,
          sort_by: q.sort_by,
          descending: q.descending,
          filter: q.filter || null,
          where: q.where,
          offset: q.offset,
          limit: q.limit
        });
      let [cluster, page, actors, tasks] = await Promise.all([
        this._request<IClusterModel>('cluster', ask),
        objects(query),
        this._request<IActorModel[]>('actors', ask),
        this._request<ITaskModel[]>('tasks', ask)
      ]);
      if (stale()) {
        return;
      }
      if (page.total > 0 && page.offset >= page.total) {
        // Objects were freed since the page was chosen: show the last page there is.
        this._page = Math.floor((page.total - 1) / this._pageSize);
        query = this.query;
        page = await objects(query);
        if (stale()) {
          return;
        }
      }
      this._set('ready', { cluster, page, actors, tasks, receivedAt: Date.now() }, null);
    } catch (error) {
      if (stale()) {
        return;
      }
      if (error instanceof ServerConnection.ResponseError && error.response.status === 404) {
        // The cluster stopped between two requests.
        this._set('no-cluster', null, NO_CLUSTER_MESSAGE);
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      this._set('error', this._snapshot, message || 'request failed');
    }
  }

  private _set(status: Status, snapshot: ISnapshot | null, error: string | null): void {
    this._status = status;
    this._snapshot = snapshot;
    this._error = error;
    this._changed.emit();
  }

  private _request: RequestFunction;
  private _interval: number;
  private _pageSize: number;
  private _target: NbrayModel.ITarget | null = null;
  private _status: Status = 'no-notebook';
  private _error: string | null = null;
  private _snapshot: ISnapshot | null = null;
  private _sortBy = 'size';
  private _descending = true;
  private _filter = '';
  private _where: Where | null = null;
  private _page = 0;
  private _generation = 0;
  private _inFlight: Promise<void> | null = null;
  private _next: Promise<void> | null = null;
  private _polling = false;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
}

/** The options and types of {@link NbrayModel}. */
export namespace NbrayModel {
  export interface IOptions {
    /** How the model asks the server; {@link requestAPI} by default (tests pass a fake). */
    request?: RequestFunction;
    /** Milliseconds between polls; 2000 by default. */
    interval?: number;
    /** Rows per page of the object table; 25 by default. */
    pageSize?: number;
  }

  /** A notebook and its kernel. */
  export interface ITarget {
    /** Path of the notebook, for display. */
    path: string;
    /** Id of its kernel, or null while it has none. */
    kernelId: string | null;
  }
}

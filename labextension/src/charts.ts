/**
 * The state of the charts panel: which kernel it follows, whether that kernel
 * runs an nbray cluster, the JupyterLab theme, and the URL of the charts page
 * (`{base_url}nbray/charts/charts.html`, served by the server extension) that
 * the panel's IFrame shows.
 *
 * The charts page polls the API itself; this model only asks `nbray/api/sessions`
 * (is there a cluster in the followed kernel?) when the kernel changes, when it
 * becomes idle, and every few seconds while the panel is shown. It knows nothing
 * about the DOM: the panel tells it the theme.
 */
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';
import { ServerConnection } from '@jupyterlab/services';

import { NbrayModel, NO_CLUSTER_MESSAGE, Status } from './model';
import { queryString, requestAPI, RequestFunction } from './request';
import { ISessionModel } from './tokens';

/** The charts page's colour scheme (its `theme` query parameter). */
export type Theme = 'light' | 'dark';

/** Where the server extension serves the charts page, under the base URL. */
export const CHARTS_PAGE = 'nbray/charts/charts.html';

/**
 * The URL of the charts page for one kernel:
 * `{base}nbray/charts/charts.html?api={base}nbray/api/&kernel_id=K&theme=T`, where
 * `{base}` is the path of the server's base URL (the page only takes an API path on
 * its own origin, so Jupyter's cookie authenticates its requests).
 */
export function chartsUrl(baseUrl: string, kernelId: string, theme: Theme): string {
  const base = basePath(baseUrl);
  const query = queryString({ api: `${base}nbray/api/`, kernel_id: kernelId, theme });
  return `${base}${CHARTS_PAGE}${query}`;
}

/** `http://host:8888/lab-base/` -> `/lab-base/` (a path is kept; always ends with `/`). */
export function basePath(baseUrl: string): string {
  const path = new URL(baseUrl, 'http://localhost').pathname;
  return path.endsWith('/') ? path : `${path}/`;
}

/**
 * The theme of JupyterLab from `document.body.dataset.jpThemeLight`
 * (`"true"`, `"false"`, or unset before a theme has loaded: light).
 */
export function themeOf(jpThemeLight: string | undefined): Theme {
  return jpThemeLight === 'false' ? 'dark' : 'light';
}

/** What the panel says instead of the charts, or `''` when the charts show. */
export function chartsMessage(status: Status, error: string | null): string {
  switch (status) {
    case 'no-notebook':
      return 'open a notebook to see the charts of its nbray cluster';
    case 'no-kernel':
      return 'the notebook has no running kernel';
    case 'loading':
      return 'asking the kernel…';
    case 'no-cluster':
      return error ?? NO_CLUSTER_MESSAGE;
    case 'error':
      return `could not reach the server: ${error ?? 'unknown error'}`;
    case 'ready':
      return '';
  }
}

/** The model behind the charts panel. */
export class ChartsModel implements IDisposable {
  constructor(options: ChartsModel.IOptions = {}) {
    this._request = options.request ?? requestAPI;
    this._baseUrl = options.baseUrl ?? ServerConnection.makeSettings().baseUrl;
    this._interval = options.interval ?? 5000;
    this._theme = options.theme ?? 'light';
  }

  /** Emitted after the target, the status or the theme changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The notebook and kernel followed, or null. */
  get target(): NbrayModel.ITarget | null {
    return this._target;
  }

  /** See {@link Status} (`ready`: the kernel runs a cluster). */
  get status(): Status {
    return this._status;
  }

  /** Why the last request failed, or the no-cluster hint; else null. */
  get error(): string | null {
    return this._error;
  }

  /** What the panel says instead of the charts, or `''`. */
  get message(): string {
    return chartsMessage(this._status, this._error);
  }

  get theme(): Theme {
    return this._theme;
  }

  /** The charts page to show, or null while the followed kernel runs no cluster. */
  get url(): string | null {
    const kernelId = this._target?.kernelId;
    return this._status === 'ready' && kernelId
      ? chartsUrl(this._baseUrl, kernelId, this._theme)
      : null;
  }

  /** Whether the model is polling (then the kernel's idle moments refresh it too). */
  get isPolling(): boolean {
    return this._polling;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Follow another notebook/kernel (null: none); a new kernel is asked about at once. */
  follow(target: NbrayModel.ITarget | null): void {
    const kernelId = target?.kernelId ?? null;
    const kernelChanged =
      kernelId !== (this._target?.kernelId ?? null) || !target !== !this._target;
    const pathChanged = (target?.path ?? null) !== (this._target?.path ?? null);
    this._target = target ? { ...target } : null;
    if (!kernelChanged) {
      if (pathChanged) {
        this._changed.emit();
      }
      return;
    }
    this._generation++;
    this._error = null;
    this._status = !target ? 'no-notebook' : kernelId ? 'loading' : 'no-kernel';
    this._changed.emit();
    void this.refresh();
  }

  setTheme(theme: Theme): void {
    if (theme !== this._theme) {
      this._theme = theme;
      this._changed.emit();
    }
  }

  /** Ask the server whether the followed kernel runs a cluster. Never rejects. */
  async refresh(): Promise<void> {
    const kernelId = this._target?.kernelId;
    const generation = this._generation;
    if (!kernelId || this._isDisposed) {
      return;
    }
    const stale = () => generation !== this._generation || this._isDisposed;
    try {
      const sessions = await this._request<ISessionModel[]>('sessions');
      if (!stale()) {
        const running = sessions.some(s => s.kernel_id === kernelId);
        this._set(running ? 'ready' : 'no-cluster', running ? null : NO_CLUSTER_MESSAGE);
      }
    } catch (error) {
      if (!stale()) {
        const message = error instanceof Error ? error.message : String(error);
        this._set('error', message || 'request failed');
      }
    }
  }

  /** Poll every `interval` ms while the panel is shown (the first request goes out now). */
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

  private _set(status: Status, error: string | null): void {
    if (status === this._status && error === this._error) {
      return;
    }
    this._status = status;
    this._error = error;
    this._changed.emit();
  }

  private _request: RequestFunction;
  private _baseUrl: string;
  private _interval: number;
  private _theme: Theme;
  private _target: NbrayModel.ITarget | null = null;
  private _status: Status = 'no-notebook';
  private _error: string | null = null;
  private _generation = 0;
  private _polling = false;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
}

/** The options of {@link ChartsModel}. */
export namespace ChartsModel {
  export interface IOptions {
    /** How the model asks the server; {@link requestAPI} by default (tests pass a fake). */
    request?: RequestFunction;
    /** The server's base URL; the page's by default. */
    baseUrl?: string;
    /** Milliseconds between polls while shown; 5000 by default. */
    interval?: number;
    /** The theme to start with; light by default. */
    theme?: Theme;
  }
}

/**
 * The "nbray charts" main-area panel: a header naming the followed notebook,
 * and the charts page of its kernel's cluster (store, memory, task timeline,
 * task rate, actors) in an IFrame; a message and a "Load nbray" button instead
 * while the kernel runs no cluster. It follows JupyterLab's light/dark theme.
 */
import { IFrame, LabIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';

import { ChartsModel, themeOf } from '../charts';
import { shortId } from '../format';
import { h, replaceChildren } from './dom';

/**
 * The IFrame's sandbox exceptions: the page runs its scripts and reads the
 * API as the same origin (with Jupyter's cookie), nothing more.
 */
export const CHARTS_SANDBOX: IFrame.SandboxExceptions[] = ['allow-scripts', 'allow-same-origin'];

/** The panel; its id is `nbray-charts`. */
export class ChartsPanel extends Panel {
  constructor(options: ChartsPanel.IOptions) {
    super();
    this.id = 'nbray-charts';
    this.addClass('nbray-ChartsPanel');
    this.title.label = 'nbray charts';
    this.title.caption = "charts of the active notebook's nbray cluster";
    this.title.icon = options.icon;
    this.title.closable = true;
    this._model = options.model;

    this._target = h('div', { className: 'nbray-Target' });
    this._message = h('div', { className: 'nbray-Message' });
    this._load = h(
      'button',
      {
        className: 'jp-mod-styled jp-mod-accept nbray-LoadButton',
        title: 'insert and run `%load_ext nbray` at the top of the notebook'
      },
      'Load nbray in notebook'
    );
    this._load.addEventListener('click', () => void options.onLoadExtension());
    this.addWidget(
      new Widget({
        node: h(
          'div',
          { className: 'nbray-ChartsHeader' },
          h('div', { className: 'nbray-HeaderRow' }, h('h2', {}, 'nbray charts'), this._target),
          h('div', { className: 'nbray-ChartsNotice' }, this._message, this._load)
        )
      })
    );
    this._frame = new IFrame({ sandbox: CHARTS_SANDBOX, referrerPolicy: 'same-origin' });
    this._frame.addClass('nbray-ChartsFrame');
    this.addWidget(this._frame);

    // JupyterLab's theme manager sets data-jp-theme-light on <body> when a theme loads.
    this._themeObserver = new MutationObserver(() => this._syncTheme());
    this._themeObserver.observe(document.body, {
      attributes: true,
      attributeFilter: ['data-jp-theme-light']
    });
    this._syncTheme();
    this._model.changed.connect(this._render, this);
    this._render();
  }

  /** The model shown. */
  get model(): ChartsModel {
    return this._model;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._themeObserver.disconnect();
    this._model.dispose();
    super.dispose();
  }

  /**
   * Ask the server only while the panel is shown: a main-area panel is usually
   * attached already visible (no show message), and hidden when another tab covers it.
   */
  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      this._model.start();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._model.start();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._model.stop();
  }

  protected onBeforeDetach(msg: Message): void {
    this._model.stop();
    super.onBeforeDetach(msg);
  }

  private _syncTheme(): void {
    this._model.setTheme(themeOf(document.body.dataset.jpThemeLight));
  }

  private _render(): void {
    const model = this._model;
    const target = model.target;
    replaceChildren(
      this._target,
      target
        ? `${target.path}${target.kernelId ? ` · kernel ${shortId(target.kernelId, 8)}` : ''}`
        : ''
    );
    this.node.dataset.status = model.status;
    this._message.dataset.status = model.status;
    replaceChildren(this._message, model.message);
    this._load.classList.toggle('nbray-mod-hidden', model.status !== 'no-cluster');
    const url = model.url;
    // An unchanged URL keeps the page (and its charts' history); none unloads it,
    // so a page whose cluster is gone stops asking.
    if ((url ?? '') !== this._frame.url) {
      this._frame.url = url ?? '';
    }
    this._frame.setHidden(url === null);
  }

  private _model: ChartsModel;
  private _target: HTMLDivElement;
  private _message: HTMLDivElement;
  private _load: HTMLButtonElement;
  private _frame: IFrame;
  private _themeObserver: MutationObserver;
}

export namespace ChartsPanel {
  export interface IOptions {
    /** The model to render (the panel disposes of it). */
    model: ChartsModel;
    /** The tab's icon. */
    icon: LabIcon;
    /** Load nbray in the followed notebook (the button shown while there is no cluster). */
    onLoadExtension: () => Promise<unknown>;
  }
}

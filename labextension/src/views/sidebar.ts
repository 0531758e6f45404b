/**
 * The left-sidebar panel: a header naming the followed notebook, a button
 * that loads nbray in it, the status message, and the section views.
 */
import { LabIcon, refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';

import { shortId } from '../format';
import { NbrayModel } from '../model';
import { ActorsView, TasksView } from './activity';
import { ClusterView } from './cluster';
import { h, replaceChildren } from './dom';
import { ObjectTableView } from './objects';

/** The sidebar; its id is `nbray-sidebar` (tab: `li[data-id="nbray-sidebar"]`). */
export class NbraySidebar extends Panel {
  constructor(options: NbraySidebar.IOptions) {
    super();
    this.id = 'nbray-sidebar';
    this.addClass('nbray-Sidebar');
    this.title.icon = options.icon;
    this.title.caption = 'nbray';
    this._model = options.model;

    this._target = h('div', { className: 'nbray-Target' });
    this._message = h('div', { className: 'nbray-Message' });
    this._load = h(
      'button',
      { className: 'jp-mod-styled jp-mod-accept nbray-LoadButton', title: 'insert and run `%load_ext nbray` at the top of the notebook' },
      'Load nbray in notebook'
    );
    this._load.addEventListener('click', () => void options.onLoadExtension());
    const charts = h(
      'button',
      {
        className: 'jp-mod-styled nbray-ChartsButton',
        title: 'open the charts of this cluster beside the notebook'
      },
      'Charts'
    );
    charts.addEventListener('click', () => void options.onOpenCharts());
    const refresh = h('button', { className: 'nbray-RefreshButton', title: 'refresh now' });
    refreshIcon.element({ container: refresh, tag: 'span', elementPosition: 'center' });
    refresh.addEventListener('click', () => void this._model.refresh());

    const header = new Widget({
      node: h(
        'div',
        { className: 'nbray-Header' },
        h('div', { className: 'nbray-HeaderRow' }, h('h2', {}, 'nbray'), refresh),
        this._target,
        h('div', { className: 'nbray-Actions' }, this._load, charts),
        this._message
      )
    });
    this.addWidget(header);
    this.addWidget(new ClusterView({ model: this._model }));
    this.addWidget(new ObjectTableView({ model: this._model }));
    this.addWidget(new ActorsView({ model: this._model }));
    this.addWidget(new TasksView({ model: this._model }));

    this._model.changed.connect(this._render, this);
    this._render();
  }

  dispose(): void {
    this._model.stop();
    this._model.changed.disconnect(this._render, this);
    super.dispose();
  }

  /** Poll only while the panel is shown. */
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._model.start();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._model.stop();
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
    this._load.disabled = !target;
    // The button matters most while the kernel has no cluster.
    this._load.classList.toggle('nbray-mod-hidden', model.status === 'ready');
    this._message.dataset.status = model.status;
    replaceChildren(this._message, message(model));
  }

  private _model: NbrayModel;
  private _target: HTMLDivElement;
  private _message: HTMLDivElement;
  private _load: HTMLButtonElement;
}

export namespace NbraySidebar {
  export interface IOptions {
    /** The model to render. */
    model: NbrayModel;
    /** The tab's icon. */
    icon: LabIcon;
    /** Load nbray in the followed notebook (the panel's button). */
    onLoadExtension: () => Promise<unknown>;
    /** Open the charts panel (the panel's "Charts" button). */
    onOpenCharts: () => Promise<unknown>;
  }
}

function message(model: NbrayModel): string {
  switch (model.status) {
    case 'no-notebook':
      return 'open a notebook to see its nbray cluster';
    case 'no-kernel':
      return 'the notebook has no running kernel';
    case 'loading':
      return 'asking the kernel…';
    case 'no-cluster':
      return model.error ?? '';
    case 'error':
      return `could not reach the cluster: ${model.error ?? 'unknown error'}`;
    case 'ready':
      return '';
  }
}

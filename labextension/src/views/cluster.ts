/**
 * The cluster's status: nodes, CPUs, workers, objects, and one store bar per node.
 */
import { Widget } from '@lumino/widgets';

import { formatBytes, formatResources, percent, shortId } from '../format';
import { NbrayModel } from '../model';
import { IClusterModel, INodeModel } from '../tokens';
import { h, replaceChildren } from './dom';

/** Renders `snapshot.cluster` and `snapshot.page.nodes` of the model. */
export class ClusterView extends Widget {
  constructor(options: ClusterView.IOptions) {
    super();
    this.addClass('nbray-ClusterView');
    this._model = options.model;
    this._model.changed.connect(this._render, this);
    this._render();
  }

  dispose(): void {
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
    replaceChildren(
      this.node,
      h('h3', {}, 'Cluster'),
      summary(snapshot.cluster),
      ...snapshot.page.nodes.map(node => nodeRow(node, snapshot.cluster))
    );
  }

  private _model: NbrayModel;
}

export namespace ClusterView {
  export interface IOptions {
    /** The model to render. */
    model: NbrayModel;
  }
}

function cpus(cluster: IClusterModel): string {
  const total = cluster.resources['CPU'];
  if (total === undefined) {
    return formatResources(cluster.resources);
  }
  const free = cluster.available['CPU'] ?? 0;
  return `${total} CPUs (${free} free)`;
}

function summary(cluster: IClusterModel): HTMLElement {
  const nodes = `${cluster.nodes} node${cluster.nodes === 1 ? '' : 's'}`;
  const where = cluster.backend === 'ray' ? 'Ray cluster at' : 'attached to';
  const attached = cluster.attached_to ? ` · ${where} ${cluster.attached_to}` : '';
  return h(
    'div',
    { className: 'nbray-ClusterSummary', dataset: { headNode: cluster.node_id } },
    `${nodes} · ${cpus(cluster)} · ${cluster.workers} workers · ${cluster.objects} objects` +
      attached
  );
}

/** A node, or an attached driver's own store (not counted among the nodes). */
function nodeRow(node: INodeModel, cluster: IClusterModel): HTMLElement {
  const used = percent(node.store_used, node.store_capacity);
  const kind = node.is_driver ? 'driver' : 'node';
  const mine = node.is_driver && node.node_id === cluster.driver_node_id;
  return h(
    'div',
    {
      className: node.is_driver ? 'nbray-Node nbray-Node--driver' : 'nbray-Node',
      dataset: { nodeId: node.node_id }
    },
    h(
      'div',
      { className: 'nbray-Node-title' },
      h('b', {}, `${kind} ${shortId(node.node_id)}`),
      ` ${node.hostname}${mine ? ' (this kernel)' : ''}${node.alive ? '' : ' (dead)'}`
    ),
    h(
      'div',
      {
        className: 'nbray-StoreBar',
        title: `store ${formatBytes(node.store_used)} of ${formatBytes(node.store_capacity)}`
      },
      h('div', { className: 'nbray-StoreBar-used', style: { width: `${used.toFixed(1)}%` } })
    ),
    h(
      'div',
      { className: 'nbray-Node-stats' },
      `store ${formatBytes(node.store_used)} of ${formatBytes(node.store_capacity)} ` +
        `(${used.toFixed(1)}%) · ${node.objects} objects`
    ),
    h(
      'div',
      { className: 'nbray-Node-spilled', dataset: { spilledBytes: String(node.spilled_bytes) } },
      `spilled ${formatBytes(node.spilled_bytes)} in ${node.spilled_objects} objects`
    )
  );
}

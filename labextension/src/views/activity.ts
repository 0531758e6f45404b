/**
 * Actors and unfinished tasks of the cluster.
 */
import { Widget } from '@lumino/widgets';

import { shortId } from '../format';
import { NbrayModel } from '../model';
import { IActorModel, ITaskModel } from '../tokens';
import { h, replaceChildren, table } from './dom';

/** Tasks shown at most (the rest are counted). */
const MAX_TASK_ROWS = 50;

/** Renders `snapshot.actors` of the model. */
export class ActorsView extends Widget {
  constructor(options: ActorsView.IOptions) {
    super();
    this.addClass('nbray-ActorsView');
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
    const actors = snapshot.actors;
    replaceChildren(
      this.node,
      h('h3', {}, `Actors (${actors.length})`),
      actors.length
        ? table(
            'nbray-Table nbray-ActorTable',
            ['actor', 'state', 'pid', 'pending', 'restarts', 'node'],
            actors.map(actorRow)
          )
        : h('div', { className: 'nbray-Empty' }, 'no actors')
    );
  }

  private _model: NbrayModel;
}

export namespace ActorsView {
  export interface IOptions {
    /** The model to render. */
    model: NbrayModel;
  }
}

function actorRow(actor: IActorModel): HTMLTableRowElement {
  const label = actor.name ? `${actor.class_name} "${actor.name}"` : actor.class_name;
  return h(
    'tr',
    { className: 'nbray-Actor', dataset: { actorId: actor.actor_id }, title: actor.death_cause ?? '' },
    h('td', { title: actor.actor_id }, label),
    h('td', { className: `nbray-State nbray-State-${actor.state}` }, actor.state),
    h('td', {}, actor.pid ?? '-'),
    h('td', {}, actor.pending_calls),
    h('td', {}, actor.restarts),
    h('td', {}, shortId(actor.node_id))
  );
}

/** Renders `snapshot.tasks` of the model, running tasks first. */
export class TasksView extends Widget {
  constructor(options: TasksView.IOptions) {
    super();
    this.addClass('nbray-TasksView');
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
    const tasks = [...snapshot.tasks].sort(
      (a, b) => Number(b.state === 'RUNNING') - Number(a.state === 'RUNNING')
    );
    const running = tasks.filter(t => t.state === 'RUNNING').length;
    const shown = tasks.slice(0, MAX_TASK_ROWS);
    replaceChildren(
      this.node,
      h('h3', {}, `Tasks (${running} running, ${tasks.length - running} waiting)`),
      tasks.length
        ? table(
            'nbray-Table nbray-TaskTable',
            ['task', 'state', 'pid', 'call site'],
            shown.map(taskRow)
          )
        : h('div', { className: 'nbray-Empty' }, 'no unfinished tasks'),
      tasks.length > shown.length &&
        h('div', { className: 'nbray-More' }, `and ${tasks.length - shown.length} more`)
    );
  }

  private _model: NbrayModel;
}

export namespace TasksView {
  export interface IOptions {
    /** The model to render. */
    model: NbrayModel;
  }
}

function taskRow(task: ITaskModel): HTMLTableRowElement {
  return h(
    'tr',
    { className: 'nbray-Task', dataset: { taskId: task.task_id } },
    h('td', { title: `${task.kind} ${task.task_id}` }, task.name),
    h('td', { className: `nbray-State nbray-State-${task.state}` }, task.state),
    h('td', {}, task.pid ?? '-'),
    h('td', {}, task.call_site || '-')
  );
}

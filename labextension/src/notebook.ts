/**
 * What the extension does with notebooks: follow the active notebook's kernel,
 * and load nbray in a notebook.
 */
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';

import { NbrayModel } from './model';

/** The cell that starts nbray in a kernel. */
export const LOAD_SOURCE = '%load_ext nbray';

/** What follows the active kernel: the sidebar's model, the charts panel's. */
export type KernelFollower = Pick<NbrayModel, 'follow' | 'isPolling' | 'refresh'>;

/**
 * Keep `model` on the kernel of the tracker's current notebook, and refresh
 * it (while it polls) whenever that kernel becomes idle (a cell just finished).
 *
 * @returns a disposable that stops following.
 */
export function followActiveKernel(tracker: INotebookTracker, model: KernelFollower): IDisposable {
  let panel: NotebookPanel | null = null;
  let disposed = false;

  const update = (): void => {
    model.follow(
      panel
        ? { path: panel.context.path, kernelId: panel.sessionContext.session?.kernel?.id ?? null }
        : null
    );
  };
  const onStatus = (_: unknown, status: string): void => {
    if (status === 'idle') {
      update();
      if (model.isPolling) {
        void model.refresh();
      }
    }
  };
  const watch = (next: NotebookPanel | null, connect: boolean): void => {
    if (!next) {
      return;
    }
    const ctx = next.sessionContext;
    if (connect) {
      ctx.kernelChanged.connect(update);
      ctx.sessionChanged.connect(update);
      ctx.statusChanged.connect(onStatus);
      next.context.pathChanged.connect(update);
      next.disposed.connect(onDisposed);
    } else {
      ctx.kernelChanged.disconnect(update);
      ctx.sessionChanged.disconnect(update);
      ctx.statusChanged.disconnect(onStatus);
      next.context.pathChanged.disconnect(update);
      next.disposed.disconnect(onDisposed);
    }
  };
  const onCurrent = (_: unknown, next: NotebookPanel | null): void => {
    watch(panel, false);
    panel = next;
    watch(panel, true);
    update();
  };
  function onDisposed(): void {
    onCurrent(tracker, tracker.currentWidget);
  }

  tracker.currentChanged.connect(onCurrent);
  onCurrent(tracker, tracker.currentWidget);
  return {
    get isDisposed() {
      return disposed;
    },
    dispose() {
      if (!disposed) {
        disposed = true;
        tracker.currentChanged.disconnect(onCurrent);
        watch(panel, false);
        panel = null;
      }
    }
  };
}

/**
 * Put a `%load_ext nbray` cell at the top of `panel` (unless the first cell
 * already is one) and run it.
 *
 * @returns whether the cell ran without error.
 */
export async function loadExtension(panel: NotebookPanel): Promise<boolean> {
  await panel.context.ready;
  const notebook = panel.content;
  const model = notebook.model;
  if (!model) {
    return false;
  }
  const first = model.cells.length ? model.cells.get(0) : null;
  const present =
    first !== null && first.type === 'code' && first.sharedModel.getSource().trim() === LOAD_SOURCE;
  if (!present) {
    model.sharedModel.insertCell(0, { cell_type: 'code', source: LOAD_SOURCE, metadata: {} });
  }
  notebook.activeCellIndex = 0;
  notebook.deselectAll();
  notebook.scrollToItem(0).catch(() => undefined);
  await panel.sessionContext.ready;
  return NotebookActions.run(notebook, panel.sessionContext);
}

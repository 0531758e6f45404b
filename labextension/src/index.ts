/**
 * nbray-labextension: a left-sidebar panel showing the nbray cluster of the
 * active notebook's kernel, a main-area panel with its charts, and a command
 * that loads nbray in a notebook.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, WidgetTracker } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';

import { ChartsModel } from './charts';
import { nbrayIcon } from './icon';
import { NbrayModel } from './model';
import { followActiveKernel, loadExtension } from './notebook';
import { ChartsPanel } from './views/charts';
import { NbraySidebar } from './views/sidebar';

/** The extension's command ids. */
export namespace CommandIDs {
  /** Insert `%load_ext nbray` at the top of the active notebook and run it. */
  export const loadExtension = 'nbray:load-extension';
  /** Show the nbray sidebar. */
  export const openSidebar = 'nbray:open-sidebar';
  /** Ask the server for the cluster's state now. */
  export const refresh = 'nbray:refresh';
  /** Open (or show) the charts panel in the main area. */
  export const openCharts = 'nbray:open-charts';
}

/** The sidebar, its model, the charts panel, and the commands. */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbray-labextension:plugin',
  description: 'The nbray cluster of the active notebook, in the left sidebar.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const model = new NbrayModel();
    followActiveKernel(tracker, model);

    app.commands.addCommand(CommandIDs.loadExtension, {
      label: 'nbray: Load extension in notebook',
      caption: 'Insert a `%load_ext nbray` cell at the top of the active notebook and run it',
      isEnabled: () => tracker.currentWidget !== null,
      execute: async () => {
        const panel = tracker.currentWidget;
        if (!panel) {
          return false;
        }
        const ok = await loadExtension(panel);
        await model.refresh();
        return ok;
      }
    });

    // One charts panel at most; it follows the active kernel while it exists.
    let charts: ChartsPanel | null = null;
    const chartsTracker = new WidgetTracker<ChartsPanel>({ namespace: 'nbray-charts' });
    app.commands.addCommand(CommandIDs.openCharts, {
      label: 'nbray: Open charts',
      caption:
        "Store, memory, task stream, task rate and actors of the active notebook's nbray cluster",
      execute: async () => {
        if (!charts || charts.isDisposed) {
          const chartsModel = new ChartsModel();
          const following = followActiveKernel(tracker, chartsModel);
          charts = new ChartsPanel({
            model: chartsModel,
            icon: nbrayIcon,
            onLoadExtension: () => app.commands.execute(CommandIDs.loadExtension)
          });
          charts.disposed.connect(() => following.dispose());
          void chartsTracker.add(charts);
        }
        if (!charts.isAttached) {
          // Beside the notebook, so the charts move while its cells run.
          app.shell.add(charts, 'main', { mode: 'split-right' });
        }
        app.shell.activateById(charts.id);
        return charts;
      }
    });
    restorer?.restore(chartsTracker, {
      command: CommandIDs.openCharts,
      name: () => 'nbray-charts'
    });

    const sidebar = new NbraySidebar({
      model,
      icon: nbrayIcon,
      onLoadExtension: () => app.commands.execute(CommandIDs.loadExtension),
      onOpenCharts: () => app.commands.execute(CommandIDs.openCharts)
    });
    app.shell.add(sidebar, 'left', { rank: 950 });
    restorer?.add(sidebar, 'nbray-sidebar');

    app.commands.addCommand(CommandIDs.openSidebar, {
      label: 'nbray: Show cluster sidebar',
      execute: () => app.shell.activateById(sidebar.id)
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'nbray: Refresh cluster sidebar',
      execute: () => model.refresh()
    });
    for (const command of Object.values(CommandIDs)) {
      palette?.addItem({ command, category: 'nbray' });
    }
  }
};

export default plugin;

/**
 * nbray-labextension: a left-sidebar panel showing the nbray cluster of the
 * active notebook's kernel, and a command that loads nbray in a notebook.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';

import { nbrayIcon } from './icon';
import { NbrayModel } from './model';
import { followActiveKernel, loadExtension } from './notebook';
import { NbraySidebar } from './views/sidebar';

/** The extension's command ids. */
export namespace CommandIDs {
  /** Insert `%load_ext nbray` at the top of the active notebook and run it. */
  export const loadExtension = 'nbray:load-extension';
  /** Show the nbray sidebar. */
  export const openSidebar = 'nbray:open-sidebar';
  /** Ask the server for the cluster's state now. */
  export const refresh = 'nbray:refresh';
}

/** The sidebar, its model, and the commands. */
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

    const sidebar = new NbraySidebar({
      model,
      icon: nbrayIcon,
      onLoadExtension: () => app.commands.execute(CommandIDs.loadExtension)
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

// Worker-thread entry of the controller actor.

import { workerData } from 'node:worker_threads';
import { ControlResult, crash, serveControl } from '../workerControl';
import { Controller, ControllerOptions } from './controller';

const started = Controller.start(workerData as ControllerOptions);
started.catch(crash);

serveControl({
  async ready(): Promise<ControlResult> {
    await started;
    return { ok: true };
  },
  async active(): Promise<ControlResult<{ active: boolean }>> {
    return { ok: true, active: (await started).isActive };
  },
  async stop(): Promise<ControlResult> {
    await (await started).stop();
    return { ok: true };
  },
});

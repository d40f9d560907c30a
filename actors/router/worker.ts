// Worker-thread entry of the router actor.

import { workerData } from 'node:worker_threads';
import { ControlResult, crash, serveControl } from '../workerControl';
import { Router, RouterOptions } from './router';

const started = Router.start(workerData as RouterOptions);
started.catch(crash);

serveControl({
  async ready(): Promise<ControlResult> {
    await started;
    return { ok: true };
  },
  async stats(): Promise<ControlResult<{ handled: number; failures: number }>> {
    const router = await started;
    return { ok: true, handled: router.handled, failures: router.failures };
  },
  async stop(): Promise<ControlResult> {
    await (await started).stop();
    return { ok: true };
  },
});

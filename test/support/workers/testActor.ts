// A minimal actor for supervisor/actorHost tests: answers `ready`, and on command throws (a crash) or
// blocks its event loop for good (a wedge).

import { ControlResult, crash, serveControl } from '../../../actors/workerControl';

serveControl({
  async ready(): Promise<ControlResult> {
    return { ok: true };
  },
  async crash(): Promise<ControlResult> {
    crash(new Error('test actor crash'));
    return { ok: true };
  },
  async wedge(): Promise<ControlResult> {
    setImmediate(() => {
      for (;;) {
        // A blocked event loop: no control call is answered any more.
      }
    });
    return { ok: true };
  },
});

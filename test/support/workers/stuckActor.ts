// An actor that never finishes starting (its event loop blocks at once), for supervisor/actorHost tests.

import { serveControl } from '../../../actors/workerControl';

serveControl({
  async ready(): Promise<object> {
    return { ok: true };
  },
});
setImmediate(() => {
  for (;;) {
    // Blocked before it could answer anything.
  }
});

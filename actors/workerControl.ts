// Worker side of the supervisor <-> actor control plane (comlink over the worker's MessagePort).
// Control calls return result objects: comlink loses error classes, and a thrown error is a poor contract.

import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/umd/node-adapter';
import { parentPort } from 'node:worker_threads';

export type ControlResult<T = object> = ({ ok: true } & T) | { ok: false; error: { code: string; message: string } };

export function serveControl(api: object): void {
  if (!parentPort) throw new Error('serveControl must run inside a worker thread');
  Comlink.expose(api, nodeEndpoint(parentPort as unknown as Parameters<typeof nodeEndpoint>[0]));
}

/** Ends the actor: an uncaught error stops the worker with its message, and the supervisor restarts it. */
export function crash(error: unknown): void {
  setImmediate(() => {
    throw error instanceof Error ? error : new Error(String(error));
  });
}

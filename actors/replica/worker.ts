// Worker-thread entry of a replica actor: starts the replica and serves the supervisor's control calls.

import { workerData } from 'node:worker_threads';
import { ControlResult, crash, serveControl } from '../workerControl';
import { Replica, ReplicaOptions } from './replica';
import { ReplicaStatus } from '../../supervisor/statusTypes';

const options = workerData as ReplicaOptions;
const started = Replica.start(options, crash);
started.catch(crash);

serveControl({
  async ready(): Promise<ControlResult> {
    await started;
    return { ok: true };
  },
  async status(): Promise<ControlResult<{ status: ReplicaStatus }>> {
    return { ok: true, status: (await started).status() };
  },
  async transferLeadership(timeoutMs: number, target?: number): Promise<ControlResult<{ moved: boolean }>> {
    return { ok: true, moved: await (await started).transferLeadership(timeoutMs, target) };
  },
  /** Fault drill: the actor throws as a bug would, and its supervisor must restart it. */
  async crash(): Promise<ControlResult> {
    crash(new Error('crash requested by the supervisor (fault drill)'));
    return { ok: true };
  },
  async stop(): Promise<ControlResult> {
    await (await started).stop();
    return { ok: true };
  },
});

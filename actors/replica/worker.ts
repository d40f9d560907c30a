// Worker-thread entry of the replica host: starts every replica of this node and serves the
// supervisor's control calls.

import { workerData } from 'node:worker_threads';
import { ControlResult, crash, serveControl } from '../workerControl';
import { AdminResult, ReplicaHost, ReplicaHostOptions, ReplicaSlotInfo } from './host';
import { ReplicaStatus } from '../../supervisor/statusTypes';
import { ReplicaOptions } from './replica';

const started = ReplicaHost.start(workerData as ReplicaHostOptions);
started.catch(crash);

serveControl({
  async ready(): Promise<ControlResult> {
    await started;
    return { ok: true };
  },
  async replicas(): Promise<ControlResult<{ replicas: ReplicaSlotInfo[] }>> {
    return { ok: true, replicas: (await started).infos() };
  },
  async status(): Promise<ControlResult<{ statuses: ReplicaStatus[] }>> {
    return { ok: true, statuses: (await started).statuses() };
  },
  async transferLeadership(timeoutMs: number, actor?: string, target?: number): Promise<ControlResult<{ moved: boolean }>> {
    return { ok: true, moved: await (await started).transferLeadership(timeoutMs, actor, target) };
  },
  /** Fault drill: one replica throws as a bug would, and the host must restart it. */
  async crash(actor: string): Promise<ControlResult> {
    const host = await started;
    if (!host.crash(actor)) return { ok: false, error: { code: 'NOT_FOUND', message: `no replica ${actor} on this node` } };
    return { ok: true };
  },
  /** Fault drill: the whole thread dies with an uncaught error, and the supervisor must restart it. */
  async crashThread(): Promise<ControlResult> {
    crash(new Error('crash of the replica host thread requested by the supervisor (fault drill)'));
    return { ok: true };
  },
  async addReplica(options: ReplicaOptions): Promise<AdminResult> {
    return (await started).addReplica(options);
  },
  async removeReplica(partition: number): Promise<AdminResult> {
    return (await started).removeReplica(partition);
  },
  async stopReplica(partition: number): Promise<AdminResult> {
    return (await started).stopReplica(partition);
  },
  async startReplica(partition: number): Promise<AdminResult> {
    return (await started).startReplica(partition);
  },
  async transferTo(partition: number, node: string, replica?: number): Promise<AdminResult> {
    return (await started).transferTo(partition, node, replica);
  },
  async setDrained(drained: boolean): Promise<AdminResult> {
    return (await started).setDrained(drained);
  },
  async drained(): Promise<ControlResult<{ drained: boolean }>> {
    return { ok: true, drained: (await started).drained };
  },
  async stop(): Promise<ControlResult> {
    await (await started).stop();
    return { ok: true };
  },
});

// Carries out one reconcile step or leader transfer over NATS: node steps on the node's control subject
// (supervisor/nodeControl.ts), membership changes on the partition leader's `.conf` subject. Every step
// is safe to repeat: a repeat is refused (already there, already removed) and changes nothing.

import type { NatsConnection } from 'nats';
import type { Subjects } from '../../bus/subjects';
import type { ClusterState } from './clusterState';
import type { LeaderTransfer } from './leaderBalance';
import type { ReconcileStep } from './reconcile';

export interface StepExecutor {
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  readonly timeoutMs: number;
}

type Answer = { ok?: boolean; message?: string; error?: { code: string; message: string } };

async function request(executor: StepExecutor, subject: string, body: object): Promise<Answer> {
  try {
    const reply = await executor.nc.request(subject, Buffer.from(JSON.stringify(body)), { timeout: executor.timeoutMs });
    return JSON.parse(Buffer.from(reply.data).toString()) as Answer;
  } catch (error) {
    return { ok: false, error: { code: 'UNAVAILABLE', message: (error as Error).message } };
  }
}

function outcome(what: string, answer: Answer): string {
  return answer.ok ? what : `${what} failed (${answer.error?.code}: ${answer.error?.message}); will retry`;
}

/** Runs the step; returns a line for the log. */
export async function executeStep(executor: StepExecutor, step: ReconcileStep): Promise<string> {
  const node = (name: string) => executor.subjects.control(`node-${name}`);
  switch (step.kind) {
    case 'start':
      return outcome(`partition ${step.partition}: started r${step.replica} on ${step.node}`, await request(executor, node(step.node), { command: 'add', partition: step.partition, replica: step.replica, voters: step.voters, nodes: step.nodes }));
    case 'conf':
      return outcome(`partition ${step.partition}: ${step.type} r${step.replica}`, await request(executor, `${executor.subjects.partitionLead(step.partition)}.conf`, { type: step.type, replica: step.replica }));
    case 'delete':
      return outcome(`partition ${step.partition}: deleted r${step.replica} on ${step.node}`, await request(executor, node(step.node), { command: 'remove', partition: step.partition, replica: step.replica }));
    case 'drain':
      return outcome(`node ${step.node}: ${step.drained ? 'drained' : 'undrained'}`, await request(executor, node(step.node), { command: step.drained ? 'drain' : 'undrain' }));
  }
}

export async function executeTransfer(executor: StepExecutor, state: ClusterState, transfer: LeaderTransfer): Promise<string> {
  const replicas = state.partitions.get(transfer.partitionId)?.replicas ?? [];
  const from = replicas.find((replica) => replica.replicaId === transfer.fromReplicaId)?.node;
  const to = replicas.find((replica) => replica.replicaId === transfer.toReplicaId)?.node;
  if (!from || !to) return `partition ${transfer.partitionId}: leader transfer skipped (replica unknown)`;
  const answer = await request(executor, executor.subjects.control(`node-${from}`), { command: 'transfer', partition: transfer.partitionId, to, replica: transfer.toReplicaId });
  return outcome(`partition ${transfer.partitionId}: leadership ${from} -> ${to} (${transfer.reason})`, answer);
}

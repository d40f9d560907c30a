// bench/repair.ts: what the controller's state says about a repair, and which node to kill.

import type { NatsConnection } from 'nats';
import type { ControllerView } from '../../actors/controller/controllerRequests';
import { subjects } from '../../bus/subjects';

// ---------------------------------------------------------------------------------------------------
// The controller's state

export async function controllerState(nc: NatsConnection, prefix: string, timeoutMs = 2000): Promise<ControllerView> {
  const reply = await nc.request(subjects(prefix).control('controller'), Buffer.from('{"op":"state"}'), { timeout: timeoutMs });
  const body = JSON.parse(Buffer.from(reply.data).toString()) as ({ ok: true } & ControllerView) | { ok: false; error: { code: string; message: string } };
  if (!body.ok) throw new Error(`controller refused state: ${body.error.code}: ${body.error.message}`);
  return body;
}

export type ViewPartition = ControllerView['partitions'][number];

export function voters(partition: ViewPartition): ViewPartition['replicas'] {
  return partition.replicas.filter((replica) => replica.role === 'voter');
}

/** Undefined when the partition is whole again without `dead`; else what is still missing. */
export function partitionRepairProblem(partition: ViewPartition, dead: string | undefined): string | undefined {
  const voting = voters(partition);
  if (voting.length !== partition.replicaCount) return `${voting.length}/${partition.replicaCount} voters`;
  if (dead !== undefined && partition.replicas.some((replica) => replica.node === dead)) return `a replica on ${dead}`;
  if (partition.replicas.some((replica) => replica.replaces !== undefined || replica.role !== 'voter')) return 'a learner or replacement';
  if (!partition.settled) return 'not settled';
  return undefined;
}

/** Undefined when the controller is idle with every node alive and every partition whole. */
export function idleProblem(view: ControllerView, nodes: number): string | undefined {
  const alive = view.nodes.filter((node) => node.health === 'alive').length;
  if (alive !== nodes) return `${alive}/${nodes} nodes alive (${view.nodes.map((node) => `${node.id}:${node.health}`).join(' ')})`;
  for (const partition of view.partitions) {
    const problem = partitionRepairProblem(partition, undefined);
    if (problem !== undefined) return `partition ${partition.id}: ${problem}`;
  }
  if (view.changing !== 0) return `changing ${view.changing}`;
  return undefined;
}

export function describePartition(partition: ViewPartition): string {
  return partition.replicas.map((replica) => `${replica.node}:${replica.replica}${replica.role === 'voter' ? '' : `(${replica.role})`}${replica.replaces ? `(replaces ${replica.replaces})` : ''}`).join(' ') + (partition.settled ? '' : ' unsettled');
}

// ---------------------------------------------------------------------------------------------------
// The measurement

export interface TimelineEvent {
  /** Milliseconds since the kill. */
  atMs: number;
  event: string;
}

export interface PartitionRepair {
  partition: number;
  /** Loaded keys that map to this partition (the metadata partition holds none). */
  keys: number | null;
  lost: string;
  added: string;
  /** From 'down' to the partition's first poll with it whole again. */
  repairedAfterDownMs: number | null;
  /** Entries in Append messages to the new replica, re-sends included. */
  appendEntries: number;
  /** Distinct log indexes among them. */
  distinctEntries: number;
  raftMiB: number;
  snapshotMiB: number;
  snapshotPairs: number;
}

export interface RepairMeasurement {
  controller: string;
  victim: string;
  victimReplicas: number;
  victimLeaders: number;
  exitObservedMs: number;
  suspectAfterKillMs: number | null;
  downAfterKillMs: number | null;
  repairAfterDownMs: number | null;
  repairedAfterKillMs: number | null;
  /** The first poll that showed every partition whole, even if a later poll did not. */
  firstWholeAfterDownMs: number | null;
  /** Times the controller's view went from whole back to not whole before the repair counted. */
  flaps: number;
  balancedAfterDownMs: number | null;
  pollErrors: number;
  pollErrorSamples: string[];
  timeline: TimelineEvent[];
  partitions: PartitionRepair[];
  finalState?: ControllerView;
  /** Cluster status after the repair: every partition's replicas with applied vs the leader's commit. */
  finalStatus?: { partition: number; leader: string | null; replicas: string }[];
  trafficUndecodable: number;
  nodeInboxMiB: Record<string, number>;
  /** Raft traffic on the per-replica subjects (to replicas the sender's node map does not know). */
  directRaftMiB: number;
  /** Set when the repair was not seen to finish (timeout, a supervisor died, interrupted). */
  error?: string;
}

export function chooseVictim(view: ControllerView, requested: string | undefined): string {
  if (requested !== undefined) {
    if (requested === view.controller) throw new Error(`--victim ${requested} runs the active controller; pick another node`);
    if (!view.nodes.some((node) => node.id === requested)) throw new Error(`--victim ${requested} is not a node of the cluster`);
    return requested;
  }
  const candidates = view.nodes.filter((node) => node.id !== view.controller);
  candidates.sort((a, b) => b.replicas - a.replicas || b.leaders - a.leaders || (a.id < b.id ? -1 : 1));
  const victim = candidates[0];
  if (victim === undefined) throw new Error('no node besides the controller to kill');
  return victim.id;
}

// `cairn.cluster.status`: a scatter-gather over the control subjects. Every replica answers with its own
// view, every supervisor with its node's; the router assembles them by partition.

import { NatsConnection } from 'nats';
import { Subjects } from '../../bus/subjects';
import { ClusterStatus, ControllerSummary, NodeStatus, PartitionStatus, ReplicaStatus } from '../../supervisor/statusTypes';
import { METADATA_PARTITION } from '../controller/metadataPartition';
import type { ControllerView } from '../controller/controllerRequests';

const GATHER_MS_MAX = 500;

async function gather<T>(nc: NatsConnection, subject: string, expected: number | undefined): Promise<T[]> {
  const answers: T[] = [];
  const replies = await nc.requestMany(subject, new Uint8Array(0), {
    maxWait: GATHER_MS_MAX,
    ...(expected ? { maxMessages: expected } : {}),
  });
  for await (const reply of replies) {
    if (reply.data.byteLength === 0) continue;
    try {
      answers.push(JSON.parse(Buffer.from(reply.data).toString()) as T);
    } catch {
      // A garbled answer is one missing answer; the status says what is missing.
    }
  }
  return answers;
}

/** Waits the full gather window: the number of replicas changes as partitions are created and moved. */
export async function gatherClusterStatus(nc: NatsConnection, subjects: Subjects): Promise<ClusterStatus> {
  const [replicas, nodes, controller] = await Promise.all([
    gather<ReplicaStatus>(nc, subjects.control('status'), undefined),
    gather<NodeStatus>(nc, subjects.control('nodes'), undefined),
    controllerSummary(nc, subjects),
  ]);
  const byPartition = new Map<number, ReplicaStatus[]>();
  for (const replica of replicas) {
    const list = byPartition.get(replica.partition) ?? [];
    list.push(replica);
    byPartition.set(replica.partition, list);
  }
  const all: PartitionStatus[] = [...byPartition.keys()].sort((a, b) => a - b).map((id) => {
    const members = byPartition.get(id)!.sort((a, b) => a.replica - b.replica);
    const leaders = members.filter((member) => member.role === 'leader').sort((a, b) => b.term - a.term);
    const leader = leaders[0] ? { replica: leaders[0].replica, node: leaders[0].node, term: leaders[0].term } : null;
    return { id, leader, replicas: members };
  });
  const expectedNodes = new Set(nodes.map((node) => node.id));
  const missing: string[] = [];
  for (const node of nodes) if (node.replicas > replicas.filter((r) => r.node === node.id).length) missing.push(`replicas of ${node.id}`);
  nodes.sort((a, b) => a.id.localeCompare(b.id));
  const partitions = all.filter((partition) => partition.id !== METADATA_PARTITION);
  const metadata = all.find((partition) => partition.id === METADATA_PARTITION) ?? null;
  return { nodes, partitions, metadata, controller, missing: expectedNodes.size === 0 ? ['no supervisor answered'] : missing };
}

/** The active controller's view of node health and pending changes; null while none answers. */
async function controllerSummary(nc: NatsConnection, subjects: Subjects): Promise<ControllerSummary | null> {
  try {
    const reply = await nc.request(subjects.control('controller'), Buffer.from('{"op":"state"}'), { timeout: GATHER_MS_MAX });
    const view = JSON.parse(Buffer.from(reply.data).toString()) as ControllerView & { ok?: boolean };
    if (view.ok !== true) return null;
    return { node: view.controller, epoch: view.epoch, nodes: view.nodes, changing: view.changing, balanced: view.balanced, blocked: view.blocked, ring: view.ring, reshard: view.reshard };
  } catch {
    return null;
  }
}

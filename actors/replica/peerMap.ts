// Where the other replicas of this node's partitions live, learnt from the nodes' heartbeats
// (actors/controller/heartbeat.ts). A replica started by a move or a repair is not in the node maps its
// peers were started with; until they learn it, Raft traffic to it goes to its own inbox subject, one
// NATS message per batch, instead of riding the destination node's frame (bus/raftMux.ts). Pure.

import type { Heartbeat } from '../controller/heartbeat';

export interface PeerUpdate {
  readonly partition: number;
  readonly replica: number;
  readonly node: string;
}

/** What `heartbeat` tells this node that its maps (`nodeOf(partition, replica)`) do not say yet. */
export function peerUpdates(heartbeat: Heartbeat, localNode: string, nodeOf: (partition: number, replica: number) => string | undefined | null): PeerUpdate[] {
  if (heartbeat.node === localNode) return [];
  const updates: PeerUpdate[] = [];
  for (const { partition, replica } of heartbeat.hosted) {
    const known = nodeOf(partition, replica);
    // null: this node hosts no replica of the partition, so nothing to learn.
    if (known !== null && known !== heartbeat.node) updates.push({ partition, replica, node: heartbeat.node });
  }
  return updates;
}

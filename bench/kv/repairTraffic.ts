// What a repair moves over the bus, observed from outside: a plain NATS subscriber on every node's Raft
// inbox (`<prefix>.rnode.<node>`), on the per-replica Raft inboxes (`<prefix>.raft.<partition>.<replica>`:
// a leader whose replica map does not name the destination's node, e.g. a replica the controller just
// added, sends there instead of through the node mux) and on the snapshot subjects
// (`<prefix>.snap.<partition>.<replica>`).
// NATS delivers a copy of each message to every matching subscription, so this only reads; the
// replicas' own subscriptions still answer (a snapshot frame's reply comes from the receiving replica).
//
// Raft traffic is attributed per (partition, destination replica) by decoding the node frames
// (bus/raftMux.ts) and the Raft batches (bus/raftCodec.ts); Append messages also give the number of
// log entries sent. Snapshot transfers are counted per (partition, replica) in frame bytes, and the
// trailer frame gives the number of key/value pairs the snapshot carried.

import type { NatsConnection, Subscription } from 'nats';
import { decodeBatch } from '../../bus/raftCodec';
import { decodeNodeFrame } from '../../bus/raftMux';
import { subjects } from '../../bus/subjects';
import { EntryType, MessageType } from '../../actors/raft/types';
import { decodeSnapshotFrame } from '../../storage/snapshotFrame';

/** Bytes of the replica id + term header that snapshotTransfer.ts puts before each snapshot frame. */
const SNAPSHOT_WRAP_BYTES = 12;

export interface ReplicaTraffic {
  partition: number;
  replica: number;
  /** Bytes of Raft batches addressed to this replica (its group's share of node frames). */
  raftBytes: number;
  raftMessages: number;
  /** Entries carried by Append messages to this replica (re-sends count again). */
  appendEntries: number;
  /** Distinct log indexes among them. */
  distinctEntries: number;
  /** Bytes of those entries' payloads. */
  appendEntryBytes: number;
  snapshotFrames: number;
  snapshotBytes: number;
  /** Key/value pairs the snapshot trailers announced (the last transfer's count). */
  snapshotPairs: number;
}

export class RepairTraffic {
  private readonly byReplica = new Map<string, ReplicaTraffic>();
  private readonly indexesSeen = new Map<ReplicaTraffic, Set<number>>();
  private readonly subscriptions: Subscription[] = [];
  /** Messages that did not decode (they are counted, not fatal: the meter must not disturb the run). */
  undecodable = 0;
  /** Total bytes seen on the per-replica Raft subjects. */
  directBytes = 0;
  /** Total bytes seen on each node's Raft inbox. */
  readonly nodeInboxBytes = new Map<string, number>();

  constructor(private readonly nc: NatsConnection, prefix: string) {
    const names = subjects(prefix);
    const rnodePrefix = names.raftNode('x').slice(0, -1);
    this.subscriptions.push(
      nc.subscribe(`${rnodePrefix}*`, {
        callback: (error, message) => {
          if (error) return;
          this.onRaftFrame(message.subject.slice(rnodePrefix.length), message.data);
        },
      }),
    );
    const raftPrefix = names.raft(0, 1).split('.').slice(0, -2).join('.');
    this.subscriptions.push(
      nc.subscribe(`${raftPrefix}.*.*`, {
        callback: (error, message) => {
          if (error) return;
          const tokens = message.subject.slice(raftPrefix.length + 1).split('.');
          this.directBytes += message.data.byteLength;
          this.onBatch(Number(tokens[0]), message.data);
        },
      }),
    );
    const snapPrefix = names.snapshot(0, 1).split('.').slice(0, -2).join('.');
    this.subscriptions.push(
      nc.subscribe(`${snapPrefix}.*.*`, {
        callback: (error, message) => {
          if (error) return;
          const tokens = message.subject.slice(snapPrefix.length + 1).split('.');
          this.onSnapshotFrame(Number(tokens[0]), Number(tokens[1]), message.data);
        },
      }),
    );
  }

  /** Resolves once the server has registered the subscriptions. */
  async ready(): Promise<void> {
    await this.nc.flush();
  }

  replica(partition: number, replica: number): ReplicaTraffic {
    const id = `${partition}/${replica}`;
    let traffic = this.byReplica.get(id);
    if (traffic === undefined) {
      traffic = {
        partition, replica, raftBytes: 0, raftMessages: 0, appendEntries: 0, distinctEntries: 0, appendEntryBytes: 0,
        snapshotFrames: 0, snapshotBytes: 0, snapshotPairs: 0,
      };
      this.byReplica.set(id, traffic);
    }
    return traffic;
  }

  stop(): void {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
  }

  private onRaftFrame(node: string, data: Uint8Array): void {
    this.nodeInboxBytes.set(node, (this.nodeInboxBytes.get(node) ?? 0) + data.byteLength);
    let groups: ReturnType<typeof decodeNodeFrame>;
    try {
      groups = decodeNodeFrame(data);
    } catch {
      this.undecodable++;
      return;
    }
    for (const group of groups) this.onBatch(group.partition, group.batch);
  }

  private onBatch(partition: number, batch: Uint8Array): void {
    try {
      const messages = decodeBatch(batch);
      // The batch's bytes are shared by its messages; in practice one batch goes to one replica.
      const share = batch.byteLength / Math.max(1, messages.length);
      for (const message of messages) {
        const traffic = this.replica(partition, message.to);
        traffic.raftBytes += share;
        traffic.raftMessages++;
        if (message.type === MessageType.Append) {
          for (const entry of message.entries ?? []) {
            if (entry.type !== EntryType.Normal) continue;
            traffic.appendEntries++;
            traffic.appendEntryBytes += entry.data.byteLength;
            let seen = this.indexesSeen.get(traffic);
            if (seen === undefined) this.indexesSeen.set(traffic, (seen = new Set()));
            if (!seen.has(entry.index)) {
              seen.add(entry.index);
              traffic.distinctEntries++;
            }
          }
        }
      }
    } catch {
      this.undecodable++;
    }
  }

  private onSnapshotFrame(partition: number, replica: number, data: Uint8Array): void {
    const traffic = this.replica(partition, replica);
    traffic.snapshotFrames++;
    traffic.snapshotBytes += data.byteLength;
    try {
      const frame = decodeSnapshotFrame(data.subarray(SNAPSHOT_WRAP_BYTES));
      if (frame.kind === 'trailer') traffic.snapshotPairs = frame.pairCount;
    } catch {
      this.undecodable++;
    }
  }
}

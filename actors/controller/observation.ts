// What the controller sees of the running cluster, from the latest fresh heartbeat of each node: who
// leads each partition and with which membership, which node hosts which replica, how far each learner
// is behind. Pure: built from heartbeats, answers the planner's questions.

import type { ReplicaStatus } from '../../supervisor/statusTypes';
import type { Heartbeat } from './heartbeat';

/** A learner at most this many entries behind its leader may be promoted without stalling commits. */
export const CAUGHT_UP_LAG_MAX = 64;

export class Observation {
  private readonly leaders = new Map<number, ReplicaStatus>();
  private readonly running = new Set<string>();

  constructor(readonly heartbeats: ReadonlyMap<string, Heartbeat>) {
    for (const heartbeat of heartbeats.values()) {
      for (const status of heartbeat.replicas) {
        if (status.role === 'stopped') continue;
        this.running.add(`${status.partition}/${status.replica}`);
        if (status.role !== 'leader') continue;
        // Two nodes may both claim a partition for a moment (an old leader not yet told); the newer term wins.
        const known = this.leaders.get(status.partition);
        if (!known || status.term > known.term) this.leaders.set(status.partition, status);
      }
    }
  }

  /** The status of partition `partition`'s leader, if a fresh heartbeat reports one. */
  leader(partition: number): ReplicaStatus | undefined {
    return this.leaders.get(partition);
  }

  leaderOf(partition: number): number | null {
    return this.leaders.get(partition)?.replica ?? null;
  }

  /** The replica id of `partition` that `node` hosts (running or not), if any. */
  hostedOn(node: string, partition: number): number | undefined {
    return this.heartbeats.get(node)?.hosted.find((ref) => ref.partition === partition)?.replica;
  }

  isRunning(partition: number, replica: number): boolean {
    return this.running.has(`${partition}/${replica}`);
  }

  /** The replica runs and the leader has (nearly) all of its log on it. */
  caughtUp(partition: number, replica: number): boolean {
    const lag = this.leaders.get(partition)?.followerLag?.[String(replica)];
    return lag !== undefined && lag <= CAUGHT_UP_LAG_MAX && this.isRunning(partition, replica);
  }
}

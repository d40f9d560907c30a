// The status a replica reports (`cairn.cluster.status`, metrics), from its core's view and its store.

import { Role } from '../raft';
import type { Raft } from '../raft';
import type { ReplicaStatus } from '../../supervisor/statusTypes';

export function replicaStatus(
  raft: Raft,
  identity: { partition: number; replica: number; node: string },
  local: { applied: number; snapshotsInstalled: number; stopped: boolean; readsServed: { lease: number; readIndex: number } },
): ReplicaStatus {
  const status = raft.status();
  const leading = status.role === Role.Leader && !local.stopped;
  const followerLag: Record<string, number> = {};
  for (const progress of status.progress) followerLag[String(progress.id)] = status.lastIndex - progress.match;
  return {
    ...identity,
    role: local.stopped ? 'stopped' : status.role,
    term: status.term,
    leader: status.leader,
    commit: status.commit,
    applied: local.applied,
    lastIndex: status.lastIndex,
    firstIndex: status.firstIndex,
    snapshotsInstalled: local.snapshotsInstalled,
    followerLag: leading ? followerLag : undefined,
    members: leading ? { voters: [...status.conf.voters].sort((a, b) => a - b), learners: [...status.conf.learners].sort((a, b) => a - b) } : undefined,
    confCommitted: leading ? raft.pendingConfIndex <= status.commit : undefined,
    readsServed: { ...local.readsServed },
  };
}

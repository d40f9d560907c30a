// A cluster status with a led and a leaderless partition, for formatting and HTTP tests.
import type { ClusterStatus } from '../../../supervisor/statusTypes';

export const SAMPLE_STATUS: ClusterStatus = {
  nodes: [
    { id: 'n1', pid: 101, httpPort: 8080, uptimeMs: 65_000, replicas: 2, restarts: 0, failed: [] },
    { id: 'n2', pid: 102, uptimeMs: 4_000, replicas: 1, restarts: 3, failed: [{ actor: 'p1/r2', error: 'StorageCorruptionError: bad checksum' }] },
  ],
  partitions: [
    {
      id: 0,
      leader: { replica: 1, node: 'n1', term: 4 },
      replicas: [
        { partition: 0, replica: 2, node: 'n2', role: 'follower', term: 4, leader: 1, commit: 10, applied: 9, lastIndex: 10, firstIndex: 1, snapshotsInstalled: 0 },
        { partition: 0, replica: 1, node: 'n1', role: 'leader', term: 4, leader: 1, commit: 10, applied: 10, lastIndex: 12, firstIndex: 1, snapshotsInstalled: 0, followerLag: { 2: 2 } },
      ],
    },
    { id: 1, leader: null, replicas: [{ partition: 1, replica: 1, node: 'n1', role: 'candidate', term: 7, leader: 0, commit: 0, applied: 0, lastIndex: 0, firstIndex: 1, snapshotsInstalled: 1 }] },
  ],
  missing: ['p1/r2'],
};

// Which partitions a node keeps data for, read from its data directory the way ops/backup.js does:
// the node env `<data>/<node>/store/` (read-only, beside the running supervisor) and any `p<N>/`
// environment of its own.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { listEnvDirs, openReadOnly, replicasIn } from '../../ops/backupFormat';

export async function storedPartitions(dataDir: string, node: string): Promise<number[]> {
  const nodeDir = path.join(dataDir, node);
  if (!existsSync(nodeDir)) return [];
  const partitions: number[] = [];
  for (const env of listEnvDirs(nodeDir)) {
    const root = openReadOnly(path.join(nodeDir, env.dir));
    try {
      for (const replica of replicasIn(root, env)) partitions.push(replica.partition);
    } finally {
      await root.close();
    }
  }
  return partitions.sort((a, b) => a - b);
}

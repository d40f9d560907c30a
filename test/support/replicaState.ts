// Reads every replica's state-machine digest over the control subject, once all replicas of each
// partition have applied the same index, so tests can assert that replicas agree.

import { CairnCluster } from './cairnCluster';
import { METADATA_PARTITION, METADATA_REPLICAS } from '../../actors/controller/metadataPartition';

export interface ReplicaDigest {
  partition: number;
  replica: number;
  node: string;
  applied: number;
  digest: string;
  pairs: number;
}

async function gatherDigests(cluster: CairnCluster): Promise<ReplicaDigest[]> {
  const digests: ReplicaDigest[] = [];
  const replies = await cluster.nc.requestMany('cairn.ctl.digest', new Uint8Array(0), { maxWait: 2_000, maxMessages: cluster.options.partitions * cluster.options.replicas + METADATA_REPLICAS });
  for await (const reply of replies) digests.push(JSON.parse(Buffer.from(reply.data).toString()));
  // The controller's own group is not the key space: the tests compare the clients' partitions.
  return digests.filter((digest) => digest.partition !== METADATA_PARTITION);
}

/** Digests by partition, taken when every replica of every partition is at the same applied index. */
export async function readReplicaStates(cluster: CairnCluster, replicasPerPartition = cluster.options.replicas): Promise<Map<number, { node: string; applied: number; entries: string }[]>> {
  let byPartition = new Map<number, { node: string; applied: number; entries: string }[]>();
  await cluster.until(async () => {
    byPartition = new Map();
    for (const digest of await gatherDigests(cluster)) {
      const list = byPartition.get(digest.partition) ?? [];
      list.push({ node: digest.node, applied: digest.applied, entries: `${digest.pairs} pairs, sha256 ${digest.digest}` });
      byPartition.set(digest.partition, list);
    }
    if (byPartition.size !== cluster.options.partitions) return false;
    return [...byPartition.values()].every((list) => list.length === replicasPerPartition && list.every((r) => r.applied === list[0].applied));
  }, 30_000, 'replicas to apply the same index');
  return byPartition;
}

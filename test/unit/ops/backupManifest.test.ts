// The backup manifest (ops/backupFormat.ts): version 2 (environments + the replicas in them) is parsed
// and checked; a version 1 manifest (one environment per replica) is read as version 2.

import { expect } from 'chai';
import { parseManifest, replicaName } from '../../../ops/backupFormat';

const SHA = 'a'.repeat(64);
const summary = {
  envFormat: 1, applied: 5, hardState: { term: 1, vote: 1, commit: 5 }, snapshotIndex: 0, snapshotTerm: 0,
  voters: [1, 2, 3], learners: [], log: { entries: 5, firstIndex: 1, lastIndex: 5 }, keys: 4,
};
const v2 = {
  format: 'cairn-node-backup', version: 2, node: 'n1', source: '/data', createdAt: '2026-01-01T00:00:00Z', compact: false,
  envs: [{ dir: 'store', bytes: 4096, sha256: SHA }, { dir: 'p7', bytes: 8192, sha256: SHA }],
  replicas: [{ partition: 0, dir: 'store', ...summary }, { partition: 65535, dir: 'store', ...summary }, { partition: 7, dir: 'p7', ...summary }],
};

describe('backup manifest', () => {
  it('parses a version 2 manifest: the node store and an older environment of its own', () => {
    const manifest = parseManifest(JSON.stringify(v2), 'm.json');
    expect(manifest.envs.map((env) => env.dir)).to.deep.equal(['store', 'p7']);
    expect(manifest.replicas.map((replica) => replicaName(replica.dir, replica.partition))).to.deep.equal(['store/p0', 'store/p65535', 'p7']);
  });

  it('reads a version 1 manifest as version 2, each replica its own environment', () => {
    const v1 = { ...v2, version: 1, envs: undefined, replicas: [{ partition: 3, dir: 'p3', bytes: 100, sha256: SHA, ...summary }] };
    const manifest = parseManifest(JSON.stringify(v1), 'm.json');
    expect(manifest.version).to.equal(2);
    expect(manifest.envs).to.deep.equal([{ dir: 'p3', bytes: 100, sha256: SHA }]);
    expect(manifest.replicas.map((replica) => replica.dir)).to.deep.equal(['p3']);
  });

  it('refuses a replica in an environment the backup does not have, twice the same partition, or a bad digest', () => {
    const missingEnv = { ...v2, replicas: [{ partition: 1, dir: 'p1', ...summary }] };
    expect(() => parseManifest(JSON.stringify(missingEnv), 'm.json')).to.throw(/bad replica entry/);
    const twice = { ...v2, replicas: [{ partition: 0, dir: 'store', ...summary }, { partition: 0, dir: 'store', ...summary }] };
    expect(() => parseManifest(JSON.stringify(twice), 'm.json')).to.throw(/bad replica entry/);
    const badDigest = { ...v2, envs: [{ dir: 'store', bytes: 1, sha256: 'xyz' }] };
    expect(() => parseManifest(JSON.stringify(badDigest), 'm.json')).to.throw(/bad environment entry/);
    expect(() => parseManifest(JSON.stringify({ ...v2, version: 3 }), 'm.json')).to.throw(/not a cairn-node-backup v1 or v2 manifest/);
  });
});

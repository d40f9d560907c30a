/**
 * Ring and placement measurements: `node dist/bench/ring.js [--json]`.
 * Prints a JSON document (first) and readable tables. Everything except the
 * timings is deterministic; the numbers feed docs/hashing.md.
 */
import { HashRing, RingMember, VNODES_PER_UNIT_WEIGHT_DEFAULT, partitionMembers } from '../actors/router/hashRing';
import { NodeSpec, placeReplicas, replicaCountsByNode } from '../actors/router/placement';

const KEY_COUNT = 100_000;
const VNODE_COUNTS = [16, 32, 64, 128, 256, 512, 1024];
const keys = Array.from({ length: KEY_COUNT }, (_unused, index) => `user:${index}`);

function round(value: number, digits = 4): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

interface Spread {
  maxOverMean: number;
  minOverMean: number;
  stddevOverMean: number;
}

function spreadOf(values: number[]): Spread {
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  const variance = values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / values.length;
  return {
    maxOverMean: round(Math.max(...values) / mean),
    minOverMean: round(Math.min(...values) / mean),
    stddevOverMean: round(Math.sqrt(variance) / mean),
  };
}

function keyCounts(ring: HashRing): number[] {
  const counts = new Map<string, number>();
  for (const member of ring.members()) counts.set(member.id, 0);
  for (const key of keys) {
    const owner = ring.lookup(key);
    counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  return [...counts.values()];
}

function movement(before: HashRing, after: HashRing, newMemberId: string) {
  let moved = 0;
  let movedElsewhere = 0;
  for (const key of keys) {
    const ownerAfter = after.lookup(key);
    if (before.lookup(key) !== ownerAfter) {
      moved++;
      if (ownerAfter !== newMemberId) movedElsewhere++;
    }
  }
  return { keys: KEY_COUNT, moved, fraction: round(moved / KEY_COUNT), movedNotToNewMember: movedElsewhere };
}

/** Arc-ownership spread averaged over partition counts 2..64 (less luck than one ring). */
function spreadOverPartitionCounts(vnodesPerUnitWeight: number) {
  let stddevSum = 0;
  let maxSum = 0;
  let maxWorst = 0;
  let newShareErrorSum = 0;
  let samples = 0;
  for (let partitionCount = 2; partitionCount <= 64; partitionCount++) {
    const ring = HashRing.build(partitionMembers(partitionCount), { vnodesPerUnitWeight });
    const spread = spreadOf([...ring.ownership().values()]);
    stddevSum += spread.stddevOverMean;
    maxSum += spread.maxOverMean;
    maxWorst = Math.max(maxWorst, spread.maxOverMean);
    const grown = HashRing.build(partitionMembers(partitionCount + 1), { vnodesPerUnitWeight });
    newShareErrorSum += Math.abs((grown.ownership().get(`p${partitionCount}`) ?? 0) * (partitionCount + 1) - 1);
    samples++;
  }
  return {
    meanStddevOverMean: round(stddevSum / samples),
    meanMaxOverMean: round(maxSum / samples),
    worstMaxOverMean: round(maxWorst),
    // |moved fraction / ideal fraction - 1| when going from P to P+1 partitions, averaged.
    meanMovedRelativeError: round(newShareErrorSum / samples),
  };
}

function measureVnodes(vnodesPerUnitWeight: number) {
  const ring8 = HashRing.build(partitionMembers(8), { vnodesPerUnitWeight });
  const ring9 = HashRing.build(partitionMembers(9), { vnodesPerUnitWeight });
  const ring64 = HashRing.build(partitionMembers(64), { vnodesPerUnitWeight });
  return {
    vnodesPerUnitWeight,
    keys8Partitions: spreadOf(keyCounts(ring8)),
    ownership8Partitions: spreadOf([...ring8.ownership().values()]),
    ownership64Partitions: spreadOf([...ring64.ownership().values()]),
    moved8To9: movement(ring8, ring9, 'p8').fraction,
    partitionCounts2To64: spreadOverPartitionCounts(vnodesPerUnitWeight),
    lookupsPerSecond64Partitions: lookupsPerSecond(ring64),
    buildMilliseconds500Members: buildMilliseconds(nodeMembers(500), vnodesPerUnitWeight),
  };
}

function lookupsPerSecond(ring: HashRing): number {
  let sink = 0;
  for (let index = 0; index < 20_000; index++) sink += ring.lookup(keys[index]).length; // warm up
  const rounds = 10;
  const started = process.hrtime.bigint();
  for (let round = 0; round < rounds; round++) {
    for (const key of keys) sink += ring.lookup(key).length;
  }
  const elapsedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (sink === 0) throw new Error('unreachable');
  return Math.round((rounds * KEY_COUNT) / elapsedSeconds);
}

function nodeMembers(count: number): RingMember[] {
  return Array.from({ length: count }, (_unused, index) => ({ id: `node-${index}`, weight: 1 }));
}

function buildMilliseconds(members: RingMember[], vnodesPerUnitWeight = VNODES_PER_UNIT_WEIGHT_DEFAULT): number {
  HashRing.build(members, { vnodesPerUnitWeight }); // warm up
  const started = process.hrtime.bigint();
  HashRing.build(members, { vnodesPerUnitWeight });
  return round(Number(process.hrtime.bigint() - started) / 1e6, 2);
}

/** P(node in the first `replicaCount` draws) under weighted sampling without replacement. */
function inclusionProbabilities(weights: number[], replicaCount: number): number[] {
  const result = weights.map(() => 0);
  const visit = (chosen: number[], probability: number): void => {
    if (chosen.length === replicaCount) {
      for (const index of chosen) result[index] += probability;
      return;
    }
    const remaining = weights.reduce((sum, weight, index) => (chosen.includes(index) ? sum : sum + weight), 0);
    weights.forEach((weight, index) => {
      if (!chosen.includes(index)) visit([...chosen, index], (probability * weight) / remaining);
    });
  };
  visit([], 1);
  return result;
}

function weightedShares(weights: number[], partitionCount: number, replicaCount: number) {
  const nodes: NodeSpec[] = weights.map((weight, index) => ({ id: `n${index}`, weight }));
  const partitions = Array.from({ length: partitionCount }, (_unused, index) => `p${index}`);
  const counts = replicaCountsByNode(placeReplicas(partitions, nodes, replicaCount), nodes);
  const total = partitionCount * Math.min(replicaCount, nodes.length);
  const weightTotal = weights.reduce((sum, weight) => sum + weight, 0);
  const walkModel = inclusionProbabilities(weights, Math.min(replicaCount, nodes.length));
  return {
    weights,
    partitionCount,
    replicaCount,
    nodes: nodes.map((node, index) => ({
      id: node.id,
      weight: node.weight,
      replicas: counts.get(node.id) ?? 0,
      share: round((counts.get(node.id) ?? 0) / total),
      // Proportional ideal, ignoring the one-replica-per-partition cap.
      proportionalShare: round(node.weight / weightTotal),
      // Expected share if the walk were exact weighted sampling without replacement.
      walkModelShare: round((walkModel[index] * partitionCount) / total),
    })),
  };
}

function nodeMovement(partitionCount: number, replicaCount: number) {
  const partitions = Array.from({ length: partitionCount }, (_unused, index) => `p${index}`);
  const before = placeReplicas(partitions, [0, 1, 2].map((index) => ({ id: `n${index}`, weight: 1 })), replicaCount);
  const after = placeReplicas(partitions, [0, 1, 2, 3].map((index) => ({ id: `n${index}`, weight: 1 })), replicaCount);
  let moved = 0;
  let movedNotToNewNode = 0;
  for (const partitionId of partitions) {
    const previous = new Set(before.assignments.get(partitionId));
    for (const nodeId of after.assignments.get(partitionId) ?? []) {
      if (previous.has(nodeId)) continue;
      moved++;
      if (nodeId !== 'n3') movedNotToNewNode++;
    }
  }
  const replicas = partitionCount * replicaCount;
  return { partitionCount, replicaCount, replicas, moved, fraction: round(moved / replicas), fairShare: 0.25, movedNotToNewNode };
}

function main(): void {
  const ring8 = HashRing.build(partitionMembers(8));
  const ring256 = HashRing.build(nodeMembers(256));
  const report = {
    keys: KEY_COUNT,
    keyFormat: 'user:<i>',
    vnodesPerUnitWeightDefault: VNODES_PER_UNIT_WEIGHT_DEFAULT,
    lookupsPerSecond: { members8: lookupsPerSecond(ring8), members256: lookupsPerSecond(ring256) },
    buildMilliseconds: {
      members8: buildMilliseconds(partitionMembers(8)),
      members500: buildMilliseconds(nodeMembers(500)),
    },
    partitions8To9: movement(ring8, HashRing.build(partitionMembers(9)), 'p8'),
    nodes3To4: [nodeMovement(64, 3), nodeMovement(4096, 3)],
    spreadByVnodes: VNODE_COUNTS.map(measureVnodes),
    weighted: [
      weightedShares([1, 1, 2], 64, 3),
      weightedShares([1, 1, 1, 1, 2, 2], 64, 3),
      weightedShares([1, 1, 1, 1, 2, 2], 4096, 3),
      weightedShares([1, 1, 1, 1, 2, 2], 4096, 1),
    ],
  };
  console.log(JSON.stringify(report, null, 2));
  if (process.argv.includes('--json')) return;

  console.log('\nlookups/s: 8 members %d, 256 members %d; build ms: 8 members %d, 500 members %d',
    report.lookupsPerSecond.members8, report.lookupsPerSecond.members256,
    report.buildMilliseconds.members8, report.buildMilliseconds.members500);
  const p = report.partitions8To9;
  console.log(`8 -> 9 partitions: ${p.moved}/${p.keys} keys moved = ${p.fraction} (ideal ${round(1 / 9)}), not to p8: ${p.movedNotToNewMember}`);
  for (const n of report.nodes3To4) {
    console.log(`3 -> 4 nodes, ${n.partitionCount} partitions x ${n.replicaCount}: ${n.moved}/${n.replicas} replicas moved = ${n.fraction} (fair ${n.fairShare}), not to n3: ${n.movedNotToNewNode}`);
  }
  console.log('\nmax/min/sd are relative to the mean; "2..64" averages arc ownership over rings of 2..64 partitions');
  console.log('vnodes | 8p keys max/min/sd | 8p arc max/min/sd  | 64p arc max/min/sd | 8->9 moved | 2..64 sd/max/worst | 2..64 move err | lookups/s 64p | build 500 ms');
  for (const row of report.spreadByVnodes) {
    const f = (s: Spread) => `${s.maxOverMean.toFixed(3)}/${s.minOverMean.toFixed(3)}/${s.stddevOverMean.toFixed(3)}`;
    const a = row.partitionCounts2To64;
    console.log(`${String(row.vnodesPerUnitWeight).padStart(6)} | ${f(row.keys8Partitions)} | ${f(row.ownership8Partitions)} | ${f(row.ownership64Partitions)} | ${row.moved8To9.toFixed(4).padStart(10)} | ${a.meanStddevOverMean.toFixed(3)}/${a.meanMaxOverMean.toFixed(3)}/${a.worstMaxOverMean.toFixed(3)} | ${a.meanMovedRelativeError.toFixed(3).padStart(14)} | ${String(row.lookupsPerSecond64Partitions).padStart(13)} | ${row.buildMilliseconds500Members}`);
  }
  for (const w of report.weighted) {
    console.log(`\nweights [${w.weights.join(',')}], ${w.partitionCount} partitions x ${w.replicaCount} replicas`);
    console.log('node | weight | replicas | share  | proportional | walk model');
    for (const n of w.nodes) {
      console.log(`${n.id.padEnd(4)} | ${String(n.weight).padStart(6)} | ${String(n.replicas).padStart(8)} | ${n.share.toFixed(4)} | ${n.proportionalShare.toFixed(4).padStart(12)} | ${n.walkModelShare.toFixed(4)}`);
    }
  }
}

main();

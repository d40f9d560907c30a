// npm run bench:raft — pushes proposals through a 3-node in-memory cluster of the Raft core (zero-latency
// network, memory storage) and reports committed entries per second and heap bytes allocated per entry.
// The allocation figure comes from a child run with a young generation large enough that no GC happens
// during the measured window, so the heap growth is the allocation.

import { execFileSync } from 'node:child_process';
import { PerformanceObserver } from 'node:perf_hooks';
import { Message, MemoryStorage, Raft, Role, SeededRandom, bootstrapEntries } from '../actors/raft';
import { printReport } from './report';

interface Node {
  raft: Raft;
  storage: MemoryStorage;
}

function makeCluster(): Node[] {
  const voters = [1, 2, 3];
  const random = new SeededRandom(1);
  return voters.map((id) => {
    const storage = new MemoryStorage({ voters: [], learners: [] });
    const { entries, hardState } = bootstrapEntries(voters);
    storage.append(entries);
    storage.setHardState(hardState);
    const raft = new Raft({ id, electionTicks: 10, heartbeatTicks: 1, random, appendEntriesMax: 4096, inflightMessagesMax: 64 }, storage);
    return { raft, storage };
  });
}

/** One round: every node acts on its Ready, then every message is delivered. Returns entries the leader applied. */
function round(nodes: Node[], leader: Node): number {
  const inbox: Message[] = [];
  let applied = 0;
  for (const node of nodes) {
    while (node.raft.hasReady()) {
      const ready = node.raft.ready();
      node.storage.append(ready.entries);
      if (ready.hardState) node.storage.setHardState(ready.hardState);
      for (const message of ready.messages) inbox.push(message);
      if (node === leader) applied += ready.committedEntries.length;
      node.raft.advance(ready);
    }
  }
  for (const message of inbox) nodes[message.to - 1].raft.step(message);
  return applied;
}

function run(entries: number, batch: number): { seconds: number; committed: number } {
  const nodes = makeCluster();
  nodes[0].raft.campaign();
  while (nodes[0].raft.role !== Role.Leader || nodes[0].raft.log.committed < nodes[0].raft.termStartIndex) round(nodes, nodes[0]);
  const leader = nodes[0];
  const payload = new Uint8Array(100);
  let proposed = 0;
  let committed = 0;
  const started = process.hrtime.bigint();
  while (committed < entries) {
    for (let i = 0; i < batch && proposed < entries && proposed - committed < batch * 4; i++, proposed++) leader.raft.propose(payload);
    committed += round(nodes, leader);
    if (leader.storage.lastIndex() - leader.storage.firstIndex() > 200_000) {
      for (const node of nodes) node.storage.compact(node.raft.log.applied, node.raft.conf);
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, committed };
}

function measureAllocation(): void {
  const gc = (globalThis as { gc?: () => void }).gc!;
  run(20_000, 512);
  let collections = 0;
  const observer = new PerformanceObserver((list) => (collections += list.getEntries().length));
  observer.observe({ entryTypes: ['gc'] });
  gc();
  const before = process.memoryUsage().heapUsed;
  const { committed } = run(50_000, 512);
  const after = process.memoryUsage().heapUsed;
  observer.disconnect();
  console.log(JSON.stringify({ bytesPerEntry: (after - before) / committed, collections }));
}

function main(): void {
  if (process.argv.includes('--allocation-child')) return measureAllocation();
  const entries = Number(process.env.BENCH_ENTRIES ?? 1_000_000);
  run(100_000, 512); // warm up the JIT
  const rows = [64, 512, 4096].map((batch) => {
    const { seconds, committed } = run(entries, batch);
    return { batch, committed, seconds: +seconds.toFixed(3), entriesPerSecond: Math.round(committed / seconds) };
  });
  const allocation = JSON.parse(
    execFileSync(process.execPath, ['--expose-gc', '--max-semi-space-size=512', __filename, '--allocation-child']).toString(),
  );
  printReport('raft core: 3 nodes in memory, 100-byte entries', rows, {
    allocation: { bytesPerEntry: Math.round(allocation.bytesPerEntry), gcDuringMeasurement: allocation.collections },
  });
}

main();

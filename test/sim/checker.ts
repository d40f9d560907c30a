// Safety properties checked while the simulation runs. Any violation throws SimViolation at once, so the
// trace that ends the report is the trace that led to it.

import { Entry, Raft, Role, Snapshot } from '../../actors/raft';
import { decodeWrite } from './kvCommands';
import { EntryType } from '../../actors/raft';

export class SimViolation extends Error {
  override name = 'SimViolation';
}

function sameEntry(a: Entry, b: Entry): boolean {
  if (a.term !== b.term || a.type !== b.type || a.data.byteLength !== b.data.byteLength) return false;
  for (let i = 0; i < a.data.byteLength; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

export class Checker {
  private leadersByTerm = new Map<number, number>();
  /** Every entry any node applied, by index: the one true committed log. */
  private committed: Entry[] = [];
  private keyHistory = new Map<string, { indexes: number[]; values: string[] }>();
  private leaderTermChecked = new Map<number, number>();
  maxAckedIndex = 0;
  readsChecked = 0;
  writesAcked = 0;

  get committedIndex(): number {
    return this.committed.length;
  }

  /** State machine safety: no two nodes apply different entries at one index. */
  applied(nodeId: number, entry: Entry): void {
    const known = this.committed[entry.index - 1];
    if (known) {
      if (!sameEntry(known, entry)) {
        throw new SimViolation(`state machine safety: node ${nodeId} applied a different entry at ${entry.index} (term ${entry.term} vs ${known.term})`);
      }
      return;
    }
    if (entry.index !== this.committed.length + 1) {
      throw new SimViolation(`node ${nodeId} applied ${entry.index} but the committed log ends at ${this.committed.length}`);
    }
    this.committed.push(entry);
    if (entry.type === EntryType.Normal && entry.data.byteLength > 0) {
      const write = decodeWrite(entry.data);
      let history = this.keyHistory.get(write.key);
      if (!history) this.keyHistory.set(write.key, (history = { indexes: [], values: [] }));
      history.indexes.push(entry.index);
      history.values.push(write.value);
    }
  }

  snapshotInstalled(nodeId: number, snapshot: Snapshot, kv: Map<string, string>): void {
    const index = snapshot.meta.index;
    if (index > this.committed.length) throw new SimViolation(`node ${nodeId} installed snapshot ${index} beyond committed ${this.committed.length}`);
    if (snapshot.meta.term !== this.committed[index - 1]?.term) throw new SimViolation(`snapshot ${index} has term ${snapshot.meta.term}, committed entry has ${this.committed[index - 1]?.term}`);
    for (const key of this.keyHistory.keys()) {
      if (kv.get(key) !== this.valueAt(key, index)) throw new SimViolation(`snapshot ${index} on node ${nodeId} has ${key}=${kv.get(key)}, expected ${this.valueAt(key, index)}`);
    }
    for (const key of kv.keys()) {
      if (!this.keyHistory.has(key)) throw new SimViolation(`snapshot ${index} on node ${nodeId} has unknown key ${key}`);
    }
  }

  valueAt(key: string, prefix: number): string | undefined {
    const history = this.keyHistory.get(key);
    if (!history) return undefined;
    let low = 0;
    let high = history.indexes.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (history.indexes[middle] <= prefix) low = middle + 1;
      else high = middle;
    }
    return low === 0 ? undefined : history.values[low - 1];
  }

  /** Election safety, and leader completeness when a node leads a term for the first time. */
  stepped(nodeId: number, raft: Raft): void {
    if (raft.role !== Role.Leader) return;
    const existing = this.leadersByTerm.get(raft.term);
    if (existing !== undefined && existing !== nodeId) {
      throw new SimViolation(`election safety: nodes ${existing} and ${nodeId} both lead term ${raft.term}`);
    }
    this.leadersByTerm.set(raft.term, nodeId);
    if (this.leaderTermChecked.get(nodeId) === raft.term) return;
    this.leaderTermChecked.set(nodeId, raft.term);
    for (let index = raft.log.firstIndex(); index <= this.committed.length; index++) {
      if (raft.log.term(index) !== this.committed[index - 1].term) {
        throw new SimViolation(`leader completeness: leader ${nodeId} of term ${raft.term} lacks committed entry ${index}`);
      }
    }
  }

  writeAcknowledged(index: number): void {
    this.writesAcked++;
    if (index > this.maxAckedIndex) this.maxAckedIndex = index;
  }

  /**
   * A linearizable read must reflect a log prefix that includes every write acknowledged before the read
   * began, and return exactly that prefix's value.
   */
  readServed(key: string, value: string | undefined, servedIndex: number, requiredIndex: number): void {
    this.readsChecked++;
    if (servedIndex < requiredIndex) {
      throw new SimViolation(`stale read of ${key}: served at ${servedIndex} but a write at ${requiredIndex} was acknowledged before the read began`);
    }
    const expected = this.valueAt(key, servedIndex);
    if (value !== expected) throw new SimViolation(`read of ${key} at ${servedIndex} returned ${value}, the log says ${expected}`);
  }

  /** Log matching: where two logs hold an entry of the same index and term, they agree up to it. */
  logsMatch(nodes: { id: number; raft: Raft }[]): void {
    for (let a = 0; a < nodes.length; a++) {
      for (let b = a + 1; b < nodes.length; b++) this.logPairMatches(nodes[a], nodes[b]);
    }
  }

  private logPairMatches(a: { id: number; raft: Raft }, b: { id: number; raft: Raft }): void {
    const low = Math.max(a.raft.log.firstIndex(), b.raft.log.firstIndex());
    const high = Math.min(a.raft.log.lastIndex(), b.raft.log.lastIndex());
    let matched = false;
    for (let index = high; index >= low; index--) {
      const same = a.raft.log.term(index) === b.raft.log.term(index);
      if (matched && !same) throw new SimViolation(`log matching: nodes ${a.id} and ${b.id} agree at a later index but differ at ${index}`);
      if (same) matched = true;
    }
  }
}

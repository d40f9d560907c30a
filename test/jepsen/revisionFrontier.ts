// Prunes the linearizability search (linearizability.ts): revisions only grow, so once the key's
// revision has passed the revision a completed operation answered, no later order can place that
// operation, and the branch is dead. Without this the search tries every increasing subsequence of
// many overlapping writes (2^n orders) before it reaches the return of one it skipped.

import type { Operation } from './linearizability';

/** The highest revision floor at which `op` can still be linearized; Infinity when revisions do not bind it. */
function revisionBound(op: Operation): number {
  const output = op.output;
  if (output === undefined) return Infinity;
  switch (output.f) {
    case 'put':
      return output.revision - 1;
    case 'del':
      return output.deleted ? output.revision - 1 : Infinity;
    case 'cas':
      if (output.ok) return output.revision - 1;
      return output.value === null ? Infinity : output.revision;
    case 'get':
      return output.value === null ? Infinity : output.revision;
  }
}

export class RevisionFrontier {
  /** Operation slots with a finite bound, by bound. */
  private readonly order: number[];
  private readonly bounds: number[];
  /** Slot -> position in `order`, or -1. */
  private readonly position: Int32Array;
  /** Segment tree over positions: how many are still pending (not linearized) in each range. */
  private readonly pending: Int32Array;
  private readonly leaves: number;

  constructor(ops: Operation[]) {
    const bounded = ops.map((op, slot) => ({ slot, bound: revisionBound(op) })).filter(({ bound }) => bound !== Infinity);
    bounded.sort((a, b) => a.bound - b.bound);
    this.order = bounded.map(({ slot }) => slot);
    this.bounds = bounded.map(({ bound }) => bound);
    this.position = new Int32Array(ops.length).fill(-1);
    this.order.forEach((slot, position) => (this.position[slot] = position));
    this.leaves = 1;
    while (this.leaves < Math.max(1, this.order.length)) this.leaves *= 2;
    this.pending = new Int32Array(2 * this.leaves);
    for (let position = 0; position < this.order.length; position++) this.add(position, 1);
  }

  /** The operation in `slot` was linearized (+1 = taken out, -1 = put back by backtracking). */
  mark(slot: number, linearized: boolean): void {
    const position = this.position[slot];
    if (position >= 0) this.add(position, linearized ? -1 : 1);
  }

  /** Whether every pending operation can still be placed once the revision floor is `floor`. */
  allows(floor: number): boolean {
    if (this.pending[1] === 0) return true;
    let node = 1;
    while (node < this.leaves) node = this.pending[2 * node] > 0 ? 2 * node : 2 * node + 1;
    return this.bounds[node - this.leaves] >= floor;
  }

  private add(position: number, delta: number): void {
    for (let node = position + this.leaves; node >= 1; node >>= 1) this.pending[node] += delta;
  }
}

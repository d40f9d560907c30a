// A min-heap of timed events; ties break by insertion order so a seed always replays identically.

interface Event {
  time: number;
  sequence: number;
  run: () => void;
}

export class EventQueue {
  private heap: Event[] = [];
  private sequence = 0;
  now = 0;

  schedule(delay: number, run: () => void): void {
    this.push({ time: this.now + delay, sequence: this.sequence++, run });
  }

  /** Runs the next event; false when none is left at or before `until`. */
  runNext(until: number): boolean {
    const next = this.heap[0];
    if (!next || next.time > until) return false;
    this.pop();
    this.now = next.time;
    next.run();
    return true;
  }

  /** Moves the clock forward to `time` (never backward); call once no event is due before it. */
  advanceTo(time: number): void {
    if (time > this.now) this.now = time;
  }

  get size(): number {
    return this.heap.length;
  }

  private before(a: Event, b: Event): boolean {
    return a.time < b.time || (a.time === b.time && a.sequence < b.sequence);
  }

  private push(event: Event): void {
    const heap = this.heap;
    heap.push(event);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.before(heap[index], heap[parent])) break;
      [heap[index], heap[parent]] = [heap[parent], heap[index]];
      index = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < heap.length && this.before(heap[left], heap[smallest])) smallest = left;
      if (right < heap.length && this.before(heap[right], heap[smallest])) smallest = right;
      if (smallest === index) return;
      [heap[index], heap[smallest]] = [heap[smallest], heap[index]];
      index = smallest;
    }
  }
}

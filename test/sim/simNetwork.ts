// A network that drops, delays (and so reorders), duplicates and partitions messages, driven by the seed.

import { Message } from '../../actors/raft';
import { SeededRandom } from '../../actors/raft/random';
import { EventQueue } from './eventQueue';

export interface NetworkFaults {
  dropProbability: number;
  duplicateProbability: number;
  delayMin: number;
  delayMax: number;
}

export class SimNetwork {
  /** Directed links that are cut: "from>to". */
  private cutLinks = new Set<string>();
  faults: NetworkFaults;
  sent = 0;
  delivered = 0;

  constructor(
    private readonly queue: EventQueue,
    private readonly random: SeededRandom,
    faults: NetworkFaults,
    private readonly deliver: (message: Message) => void,
  ) {
    this.faults = faults;
  }

  /** Returns whether the message left (it may still be cut in flight). */
  send(message: Message): boolean {
    this.sent++;
    if (this.cutLinks.has(`${message.from}>${message.to}`)) return false;
    if (this.random.chance(this.faults.dropProbability)) return false;
    const copies = this.random.chance(this.faults.duplicateProbability) ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      const { delayMin, delayMax } = this.faults;
      const delay = delayMin + this.random.nextInt(delayMax - delayMin + 1);
      this.queue.schedule(delay, () => {
        // A partition made while the message was in flight still stops it.
        if (this.cutLinks.has(`${message.from}>${message.to}`)) return;
        this.delivered++;
        this.deliver(message);
      });
    }
    return true;
  }

  cutOneWay(from: number, to: number): void {
    this.cutLinks.add(`${from}>${to}`);
  }

  /** Splits the nodes into two sides that cannot reach each other. */
  partition(sideA: number[], sideB: number[]): void {
    for (const a of sideA) {
      for (const b of sideB) {
        this.cutOneWay(a, b);
        this.cutOneWay(b, a);
      }
    }
  }

  heal(): void {
    this.cutLinks.clear();
  }

  describeCuts(): string {
    return [...this.cutLinks].sort().join(' ');
  }
}

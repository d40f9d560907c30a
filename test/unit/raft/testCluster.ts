// A synchronous in-memory cluster of Raft cores for scripted scenarios: messages are delivered in rounds
// until the cluster is quiet, through a filter that tests use to drop, cut and isolate.

import {
  ConfState, Entry, EntryType, HardState, Message, MemoryStorage, Raft, RaftConfig, Role, SeededRandom, bootstrapEntries,
} from '../../../actors/raft';

export interface TestNode {
  id: number;
  raft: Raft;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: { context: number; index: number }[];
}

export type MessageFilter = (message: Message) => boolean;

export class TestCluster {
  readonly nodes = new Map<number, TestNode>();
  /** Returns false to drop a message. */
  filters: MessageFilter[] = [];
  delivered: Message[] = [];
  private readonly random = new SeededRandom(7);

  constructor(private readonly config: Partial<RaftConfig> = {}) {}

  static withVoters(voters: number[], config: Partial<RaftConfig> = {}): TestCluster {
    const cluster = new TestCluster(config);
    const { entries, hardState } = bootstrapEntries(voters);
    for (const id of voters) cluster.addNode(id, { entries, hardState });
    return cluster;
  }

  /** Adds a node whose durable state is `log` and `hardState` (empty: a blank new replica). */
  addNode(id: number, state: { entries?: Entry[]; hardState?: HardState; confState?: ConfState } = {}): TestNode {
    const storage = new MemoryStorage(state.confState ?? { voters: [], learners: [] });
    storage.append(state.entries ?? []);
    if (state.hardState) storage.setHardState(state.hardState);
    const node: TestNode = { id, raft: this.makeRaft(id, storage, 0), storage, applied: [], readStates: [] };
    this.nodes.set(id, node);
    return node;
  }

  private makeRaft(id: number, storage: MemoryStorage, applied: number): Raft {
    return new Raft({ id, electionTicks: 10, heartbeatTicks: 1, random: this.random, applied, ...this.config }, storage);
  }

  node(id: number): TestNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  raft(id: number): Raft {
    return this.node(id).raft;
  }

  /** Restarts a node from its durable storage only. */
  restart(id: number): void {
    const node = this.node(id);
    const snapshotIndex = node.storage.snapshot().meta.index;
    node.raft = this.makeRaft(id, node.storage, snapshotIndex);
    node.applied = node.applied.filter((entry) => entry.index <= snapshotIndex);
  }

  isolate(id: number): void {
    this.filters.push((message) => message.from !== id && message.to !== id);
  }

  cut(a: number, b: number): void {
    this.filters.push((message) => !((message.from === a && message.to === b) || (message.from === b && message.to === a)));
  }

  heal(): void {
    this.filters = [];
  }

  /** Processes every node's Ready and delivers messages until nothing is left to do. */
  settle(roundsMax = 1000): void {
    for (let round = 0; round < roundsMax; round++) {
      const outbox: Message[] = [];
      for (const node of this.nodes.values()) this.drainReady(node, outbox);
      if (outbox.length === 0) return;
      for (const message of outbox) {
        if (!this.filters.every((filter) => filter(message))) continue;
        const target = this.nodes.get(message.to);
        if (!target) continue;
        this.delivered.push(message);
        target.raft.step(message);
      }
    }
    throw new Error('cluster did not settle');
  }

  private drainReady(node: TestNode, outbox: Message[]): void {
    while (node.raft.hasReady()) {
      const ready = node.raft.ready();
      if (ready.snapshot) node.storage.applySnapshot(ready.snapshot);
      node.storage.append(ready.entries);
      if (ready.hardState) node.storage.setHardState(ready.hardState);
      outbox.push(...ready.messages);
      node.applied.push(...ready.committedEntries);
      node.readStates.push(...ready.readStates);
      node.raft.advance(ready);
    }
  }

  tick(ids: number[], times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const id of ids) this.raft(id).tick();
      this.settle();
    }
  }

  elect(id: number): void {
    this.raft(id).campaign();
    this.settle();
    if (this.raft(id).role !== Role.Leader) throw new Error(`node ${id} did not win: ${this.raft(id).role}`);
  }

  leaders(): number[] {
    return [...this.nodes.values()].filter((node) => node.raft.role === Role.Leader).map((node) => node.id);
  }

  propose(id: number, text: string): number {
    const result = this.raft(id).propose(new TextEncoder().encode(text));
    if (!result.ok) throw new Error(`proposal refused: ${result.code}`);
    this.settle();
    return result.index;
  }

  appliedTexts(id: number): string[] {
    return this.node(id).applied.filter((e) => e.type === EntryType.Normal && e.data.byteLength > 0).map((e) => new TextDecoder().decode(e.data));
  }
}

export function entry(index: number, term: number, text = ''): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(text) };
}

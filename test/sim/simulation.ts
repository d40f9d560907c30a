// One seeded run: a Raft group under random faults (drops, delays, duplicates, partitions, crashes,
// membership changes, leader transfers) with clients writing and reading, then a healed phase that must
// reach a leader and commit. Everything derives from the seed, so any failure replays exactly.

import { ConfChangeType, Message, MessageType, bootstrapEntries } from '../../actors/raft';
import { MemoryStorage } from '../../actors/raft/memoryStorage';
import { SeededRandom } from '../../actors/raft/random';
import { Checker, SimViolation } from './checker';
import { EventQueue } from './eventQueue';
import { encodeWrite } from './kvCommands';
import { SimNetwork } from './simNetwork';
import { InjectedBugs, SimNode } from './simNode';

export interface SimOptions {
  /** Ticks of faulty operation before the network heals. */
  faultyTicks?: number;
  /** Ticks the healed cluster has to elect a leader and commit. */
  healTicks?: number;
  bugs?: InjectedBugs;
  /** Leaders serve linearizable reads under a read lease when they hold one (actors/replica/readLease.ts). */
  leaseReads?: boolean;
  traceLength?: number;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  violation?: string;
  trace: string[];
  events: number;
  writesAcked: number;
  readsChecked: number;
  committed: number;
}

const TICK = 10;
const EVENTS_PER_SEED_MAX = 5_000_000;
const KEYS = ['a', 'b', 'c', '__proto__'];

export class Simulation {
  readonly queue = new EventQueue();
  readonly random: SeededRandom;
  readonly checker = new Checker();
  readonly network: SimNetwork;
  readonly nodes = new Map<number, SimNode>();
  private nextNodeId: number;
  private trace: string[] = [];
  private operation = 0;
  events = 0;

  constructor(readonly seed: number, private readonly options: SimOptions = {}) {
    this.random = new SeededRandom(seed);
    const faults = {
      dropProbability: this.random.nextInt(10) / 100,
      duplicateProbability: this.random.nextInt(5) / 100,
      delayMin: 1,
      delayMax: 2 + this.random.nextInt(20),
    };
    this.network = new SimNetwork(this.queue, this.random, faults, (message) => this.deliver(message));
    const voters = this.random.chance(0.3) ? [1, 2, 3, 4, 5] : [1, 2, 3];
    this.nextNodeId = voters.length + 1;
    for (const id of voters) this.addNode(id, voters);
    this.note(`seed ${seed}: voters ${voters.join(',')}, drop ${faults.dropProbability}, dup ${faults.duplicateProbability}, delay ${faults.delayMin}-${faults.delayMax}`);
  }

  private addNode(id: number, bootstrapVoters: number[] | undefined): SimNode {
    const storage = new MemoryStorage({ voters: [], learners: [] });
    if (bootstrapVoters) {
      const { entries, hardState } = bootstrapEntries(bootstrapVoters);
      storage.append(entries);
      storage.setHardState(hardState);
    }
    const node = new SimNode(id, storage, this.queue, this.random, {
      send: (message) => this.send(message),
      applied: (applier, entry) => this.checker.applied(applier.id, entry),
      snapshotInstalled: (installer, snapshot, kv) => this.checker.snapshotInstalled(installer.id, snapshot, kv),
      stepped: (stepper) => this.checker.stepped(stepper.id, stepper.raft!),
      votePersisted: (voter) => this.crashAfterVote(voter),
    }, this.options.bugs ?? {}, this.options.leaseReads ?? false);
    this.nodes.set(id, node);
    node.start();
    return node;
  }

  /** Nemesis: a voter killed right after voting and back within an election, to catch a forgotten vote. */
  private crashAfterVote(voter: SimNode): void {
    if (!this.random.chance(0.3)) return;
    this.queue.schedule(1 + this.random.nextInt(5), () => {
      if (!voter.alive) return;
      this.note(`crash ${voter.id} just after voting`);
      voter.crash();
      this.queue.schedule(1 + this.random.nextInt(TICK * 3), () => {
        if (voter.alive) return;
        this.note(`restart ${voter.id}`);
        voter.start();
      });
    });
  }

  /** Snapshots are streamed out of band in production; the stream's driver reports how it went. */
  private send(message: Message): void {
    const left = this.network.send(message);
    if (message.type !== MessageType.Snapshot) return;
    this.queue.schedule(5 + this.random.nextInt(20), () => {
      const sender = this.nodes.get(message.from);
      sender?.raft?.reportSnapshot(message.to, left);
      sender?.afterStimulus();
    });
  }

  private deliver(message: Message): void {
    this.events++;
    this.nodes.get(message.to)?.receive(message);
  }

  note(line: string): void {
    this.trace.push(`[${this.queue.now}] ${line}`);
    const limit = this.options.traceLength ?? 60;
    if (this.trace.length > limit * 2) this.trace = this.trace.slice(-limit);
  }

  run(): SimResult {
    const faultyTicks = this.options.faultyTicks ?? 600;
    const healTicks = this.options.healTicks ?? 200;
    try {
      for (let tick = 0; tick < faultyTicks; tick++) {
        this.runUntil(this.queue.now + TICK);
        this.injectFaults();
        this.clientOperations();
        if (tick % 25 === 0) this.checkLogs();
      }
      this.heal();
      this.awaitLiveness(healTicks);
      this.checkLogs();
      return this.result(true);
    } catch (error) {
      if (!(error instanceof SimViolation) && !(error instanceof Error)) throw error;
      this.note(`VIOLATION ${(error as Error).stack ?? error}`);
      return this.result(false, (error as Error).message);
    }
  }

  private result(ok: boolean, violation?: string): SimResult {
    const limit = this.options.traceLength ?? 60;
    return {
      seed: this.seed, ok, violation, trace: this.trace.slice(-limit), events: this.events,
      writesAcked: this.checker.writesAcked, readsChecked: this.checker.readsChecked, committed: this.checker.committedIndex,
    };
  }

  private runUntil(time: number): void {
    while (this.queue.runNext(time)) {
      // A livelock (events forever at one instant) is a bug too, and must end the seed, not hang it.
      if (++this.events > EVENTS_PER_SEED_MAX) throw new SimViolation(`runaway: over ${EVENTS_PER_SEED_MAX} events`);
    }
    // Time passes even when nothing happens (every node may be down, waiting for a restart).
    this.queue.advanceTo(time);
  }

  private liveNodes(): SimNode[] {
    return [...this.nodes.values()].filter((node) => node.alive);
  }

  private leaders(): SimNode[] {
    return this.liveNodes().filter((node) => node.isLeader());
  }

  private pick<T>(items: T[]): T | undefined {
    return items.length === 0 ? undefined : items[this.random.nextInt(items.length)];
  }

  private injectFaults(): void {
    const random = this.random;
    const all = [...this.nodes.keys()];
    if (random.chance(0.006)) {
      const victim = this.pick(this.liveNodes());
      if (victim && this.liveNodes().length > Math.ceil(this.nodes.size / 2)) {
        this.note(`crash ${victim.id}`);
        victim.crash();
      }
    }
    if (random.chance(0.02)) {
      const dead = this.pick([...this.nodes.values()].filter((node) => !node.alive));
      if (dead) {
        this.note(`restart ${dead.id}`);
        dead.start();
      }
    }
    if (random.chance(0.006)) {
      const shuffled = all.sort(() => random.nextInt(3) - 1);
      const cut = 1 + random.nextInt(shuffled.length - 1);
      this.network.partition(shuffled.slice(0, cut), shuffled.slice(cut));
      this.note(`partition ${shuffled.slice(0, cut)} | ${shuffled.slice(cut)}`);
    }
    if (random.chance(0.003)) {
      const from = this.pick(all)!;
      const to = this.pick(all.filter((id) => id !== from));
      if (to !== undefined) {
        this.network.cutOneWay(from, to);
        this.note(`cut ${from} -> ${to}`);
      }
    }
    if (random.chance(0.015)) {
      this.network.heal();
      this.note('heal network');
    }
    if (random.chance(0.004)) this.changeMembership();
    if (random.chance(0.004)) this.transferLeader();
  }

  private changeMembership(): void {
    const leader = this.pick(this.leaders());
    if (!leader) return;
    const conf = leader.raft!.conf;
    const choice = this.random.nextInt(3);
    if (choice === 0 && this.nextNodeId <= 8 && conf.learners.length === 0) {
      const id = this.nextNodeId++;
      const result = leader.raft!.proposeConfChange({ type: ConfChangeType.AddLearner, replica: id });
      this.note(`leader ${leader.id} add learner ${id}: ${result.ok ? 'proposed' : result.code}`);
      if (result.ok) this.addNode(id, undefined);
      else this.nextNodeId--;
    } else if (choice === 1 && conf.learners.length > 0) {
      const learner = conf.learners[0];
      const result = leader.raft!.proposeConfChange({ type: ConfChangeType.PromoteLearner, replica: learner });
      this.note(`leader ${leader.id} promote ${learner}: ${result.ok ? 'proposed' : result.code}`);
    } else if (choice === 2 && conf.voters.length > 3) {
      const victim = this.pick(conf.voters)!;
      const result = leader.raft!.proposeConfChange({ type: ConfChangeType.RemoveNode, replica: victim });
      this.note(`leader ${leader.id} remove ${victim}: ${result.ok ? 'proposed' : result.code}`);
    }
  }

  private transferLeader(): void {
    const leader = this.pick(this.leaders());
    if (!leader) return;
    const target = this.pick(leader.raft!.conf.voters.filter((id) => id !== leader.id));
    if (target === undefined) return;
    const result = leader.raft!.transferLeader(target);
    this.note(`leader ${leader.id} transfer to ${target}: ${result.ok ? 'started' : result.code}`);
  }

  private clientOperations(): void {
    for (let client = 0; client < 2; client++) {
      const leader = this.pick(this.leaders());
      if (!leader) return;
      const key = this.pick(KEYS)!;
      const operation = ++this.operation;
      if (this.random.chance(0.5)) this.write(leader, key, operation);
      else this.read(leader, key, operation);
    }
  }

  private write(leader: SimNode, key: string, operation: number): void {
    const value = `v${operation}`;
    leader.propose(encodeWrite(key, value), (acknowledged) => {
      if (!acknowledged) return;
      // The apply that acknowledged the write also told us its index: it is the entry just applied.
      this.checker.writeAcknowledged(leader.applied);
    });
  }

  private read(leader: SimNode, key: string, operation: number): void {
    const required = this.checker.maxAckedIndex;
    leader.read(key, operation, (result) => {
      if (result) this.checker.readServed(key, result.value, result.servedIndex, required);
    });
  }

  describeNodes(): void {
    for (const node of this.nodes.values()) {
      if (!node.raft) {
        this.note(`node ${node.id}: down`);
        continue;
      }
      const s = node.raft.status();
      this.note(`node ${node.id}: ${s.role} term ${s.term} vote ${s.vote} leader ${s.leader} commit ${s.commit} applied ${s.applied} log ${s.firstIndex}..${s.lastIndex} voters ${s.conf.voters} learners ${s.conf.learners} elapsed ${node.raft.electionElapsed}/${node.raft.randomizedElectionTimeout} progress ${JSON.stringify(s.progress)}`);
    }
  }

  private checkLogs(): void {
    this.checker.logsMatch(this.liveNodes().map((node) => ({ id: node.id, raft: node.raft! })));
  }

  private heal(): void {
    this.network.heal();
    this.network.faults = { dropProbability: 0, duplicateProbability: 0, delayMin: 1, delayMax: 5 };
    for (const node of this.nodes.values()) if (!node.alive) node.start();
    this.note('heal everything; restart every crashed node');
  }

  /** After healing: a leader must emerge and a new write must commit on every member, in bounded time. */
  private awaitLiveness(healTicks: number): void {
    const deadline = this.queue.now + healTicks * TICK;
    let probe: { index: number; term: number; leader: SimNode } | undefined;
    while (this.queue.now < deadline) {
      this.runUntil(this.queue.now + TICK);
      const leader = this.leaders().find((node) => node.raft!.leadTransferee === 0);
      if (!leader) continue;
      // A probe given to a stale leader (one that had not yet heard of a newer term) is lost: retry.
      if (probe && (probe.leader !== leader || probe.term !== leader.raft!.term)) probe = undefined;
      if (!probe) {
        if (leader.propose(encodeWrite('liveness', 'probe'), () => undefined)) {
          probe = { index: leader.raft!.log.lastIndex(), term: leader.raft!.term, leader };
        }
        continue;
      }
      const probeIndex = probe.index;
      const members = [...leader.raft!.conf.voters, ...leader.raft!.conf.learners];
      const caughtUp = members.every((id) => (this.nodes.get(id)?.applied ?? 0) >= probeIndex);
      if (caughtUp && this.checker.committedIndex >= probeIndex) return;
    }
    this.describeNodes();
    throw new SimViolation(`liveness: no leader committed a write on every member within ${healTicks} ticks of healing`);
  }
}

/** Which seeds run with lease reads: all, none, or the odd ones (the default: both drivers every run). */
export type LeaseMode = 'on' | 'off' | 'mixed';

export function leaseReadsFor(seed: number, mode: LeaseMode = 'mixed'): boolean {
  return mode === 'on' || (mode === 'mixed' && seed % 2 === 1);
}

export function runSeed(seed: number, options: SimOptions = {}): SimResult {
  return new Simulation(seed, options).run();
}

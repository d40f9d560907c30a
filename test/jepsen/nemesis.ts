// Jepsen's nemesis for a cairn cluster of supervisor processes: one fault at a time, in rounds of every
// enabled fault in an order drawn from a seeded random stream, each healed before the next. A fault hits a minority (one node) except `killall`, which
// kills every supervisor at once and restarts them all (acknowledged writes must survive it).
//
// - kill: kill -9 one supervisor, restart it later with the same data.
// - pause: SIGSTOP one supervisor (replicas, router and all), SIGCONT later.
// - partition: cut every Raft message to and from one node's replicas (bus/faultInjection.ts; the
//   supervisors run with --fault-injection), while clients can still reach its router and replicas.
//   A leader cut off this way must stop acknowledging writes and serving linearizable reads.
// - killall: kill -9 every supervisor, restart them all.
// - reshard: `cairn partitions create`, and the next time `cairn partitions delete` of the partition it
//   created, as an operator would: keys move between partitions while clients use them. Not a fault
//   that is healed but an operation that runs to its end; one it created is deleted when the run stops.

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SeededRandom } from '../../actors/raft/random';
import { sendFaultCommand } from '../../bus/faultInjection';
import { cairn } from '../support/cairnCli';
import type { CairnCluster } from '../support/cairnCluster';
import type { ClusterStatus } from '../../supervisor/statusTypes';

export const FAULTS = ['kill', 'pause', 'partition', 'killall', 'reshard'] as const;
export type Fault = (typeof FAULTS)[number];

/** Deletes of a partition the run created, tried before giving up at the end of a run. */
const RESTORE_ATTEMPTS = 5;

export interface FaultEvent {
  fault: Fault;
  nodes: string[];
  /** reshard: what the cairn command did (`partition 8 created: ...`), or why it failed. */
  outcome?: string;
  /** Milliseconds on the history's clock (performance.now()). */
  startedMs: number;
  healedMs: number;
}

export interface NemesisOptions {
  faults: Fault[];
  /** Quiet time between faults, milliseconds [min, max). */
  quietMs: [number, number];
  /** How long a fault lasts before it is healed, milliseconds [min, max). */
  faultMs: [number, number];
}

export class Nemesis {
  readonly events: FaultEvent[] = [];
  private running = true;
  private wake: (() => void) | undefined;
  /** Partitions the reshard fault created and has not deleted yet. */
  private readonly created: number[] = [];

  constructor(
    private readonly cluster: CairnCluster,
    private readonly options: NemesisOptions,
    private readonly random: SeededRandom,
  ) {}

  /** Injects faults until stop(); resolves with every node running and none paused. */
  async run(): Promise<void> {
    // Rounds of every fault once, in a seeded order, so that a short run still sees every kind.
    let round: Fault[] = [];
    while (this.running) {
      await this.rest(this.between(this.options.quietMs));
      if (!this.running || this.options.faults.length === 0) break;
      if (round.length === 0) round = this.shuffled(this.options.faults);
      const fault = round.pop()!;
      await (fault === 'reshard' ? this.reshard() : this.inject(fault));
    }
    // The layout the run began with, so that the cluster's health is judged as before.
    for (let attempt = 1; this.created.length > 0; attempt++) {
      if (attempt > RESTORE_ATTEMPTS) throw new Error(`could not delete partition ${this.created.at(-1)}, which the run created: ${this.events.at(-1)?.outcome}`);
      await this.reshard();
    }
  }

  stop(): void {
    this.running = false;
    this.wake?.();
  }

  private async inject(fault: Fault): Promise<void> {
    const ids = [...this.cluster.nodes.keys()];
    const nodes = fault === 'killall' ? ids : [ids[this.random.nextInt(ids.length)]];
    const startedMs = this.now();
    if (fault === 'pause') for (const id of nodes) this.cluster.nodes.get(id)!.child.kill('SIGSTOP');
    else if (fault === 'partition') await this.isolate(nodes[0]);
    else await Promise.all(nodes.map((id) => this.cluster.kill(id, 'SIGKILL')));
    // A fault always lasts its drawn time, also when the run is stopping: the heal is part of the test.
    await sleep(this.between(this.options.faultMs));
    if (fault === 'pause') for (const id of nodes) this.cluster.nodes.get(id)!.child.kill('SIGCONT');
    else if (fault === 'partition') await this.faultCommand({ op: 'heal' });
    else for (const id of nodes) await this.cluster.restart(id);
    this.events.push({ fault, nodes, startedMs, healedMs: this.now() });
  }

  /** Creates a partition, or deletes the one it created last; a refusal is recorded, not thrown. */
  private async reshard(): Promise<void> {
    const startedMs = this.now();
    const partition = this.created.at(-1);
    const args = partition === undefined ? ['partitions', 'create'] : ['partitions', 'delete', String(partition)];
    const run = await cairn([...args, '--nats', this.cluster.natsUrl, '--timeout', '10000']);
    const outcome = run.code === 0 ? run.stdout.trim() : `exit ${run.code}: ${run.stderr.trim().split('\n').at(-1)}`;
    if (run.code === 0 && partition === undefined) this.created.push(Number(/^partition (\d+) created/.exec(run.stdout)![1]));
    else if (run.code === 0 || /PARTITION_UNKNOWN/.test(run.stderr)) this.created.pop();
    this.events.push({ fault: 'reshard', nodes: [], outcome, startedMs, healedMs: this.now() });
  }

  /** Cuts every replica of `node` (the metadata partition's too) off from its peers. */
  private async isolate(node: string): Promise<void> {
    let status: ClusterStatus | undefined;
    await this.cluster.until(async () => (status = await this.cluster.status()) !== undefined, 10_000, 'the cluster status');
    const partitions = [...status!.partitions, ...(status!.metadata ? [status!.metadata] : [])];
    for (const partition of partitions) {
      for (const replica of partition.replicas) {
        if (replica.node === node) await this.faultCommand({ op: 'isolate', endpoint: `p${partition.id}/r${replica.replica}` });
      }
    }
  }

  private async faultCommand(command: Parameters<typeof sendFaultCommand>[2]): Promise<void> {
    await sendFaultCommand(this.cluster.nc, 'cairn', command, { expectedAcks: this.cluster.nodes.size, timeoutMs: 5_000 });
  }

  private shuffled(faults: Fault[]): Fault[] {
    const order = [...faults];
    for (let i = order.length - 1; i > 0; i--) {
      const j = this.random.nextInt(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  }

  private between([min, max]: [number, number]): number {
    return min + this.random.nextInt(Math.max(1, max - min));
  }

  private async rest(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
  }

  private now(): number {
    return performance.now();
  }
}

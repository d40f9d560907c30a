// Carries out the reshard in progress (reshard.ts), one phase at a time, on the partition leaders'
// `<lead>.shard.<op>` subjects (actors/replica/shardRequests.ts), then records the next phase through the
// controller's round. Every request is safe to repeat, so a phase that fails, or a controller that dies
// half-way, is simply run again from its start by whichever controller is active next.

import type { NatsConnection } from 'nats';
import { ErrorCode as NatsErrorCode } from 'nats';
import type { Subjects } from '../../bus/subjects';
import { shardPackr } from '../../bus/shardWire';
import { partitionMapOf } from '../router/layout';
import { subjectKey } from '../../storage/shardApply';
import type { ClusterState } from './clusterState';
import type { AdvanceReshard } from './commands';
import { KeyRing, nextRing, reshardRoles } from './reshard';

export interface ResharderContext {
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  log(line: string): void;
  /** Records a phase change through the controller's round; true once it is in the metadata. */
  advance(command: AdvanceReshard): Promise<boolean>;
  /** False once this controller is no longer active: stop at the next request. */
  active(): boolean;
  /** Asks for a controller round now (the next phase starts at once, not at the next 500 ms tick). */
  wakeRound(): void;
}

type Record4 = [string, string, number, number];

/** How long one request may keep retrying (no leader yet, an election) before the phase is given up. */
const REQUEST_PATIENCE_MS = 30_000;
const ATTEMPT_TIMEOUT_MS = 5_000;
const INGEST_RECORDS_MAX = 2_000;

class PhaseAbandoned extends Error {}

export class Resharder {
  private running = false;

  constructor(private readonly context: ResharderContext) {}

  /** Called by the active controller each round with the stored state: starts the current phase unless one runs. */
  poke(state: ClusterState): void {
    const reshard = state.reshard;
    if (reshard === null || this.running) return;
    this.running = true;
    const name = `reshard: ${reshard.kind} partition ${reshard.partitionId}, ${reshard.phase}`;
    let recorded = false;
    void this.runPhase(state)
      .then(async (next) => {
        recorded = await this.context.advance({ type: 'advanceReshard', partitionId: reshard.partitionId, phase: next });
        this.context.log(`${name} done${recorded ? `; now ${next}` : ', but the next phase was not recorded; retrying'}`);
      })
      .catch((error) => this.context.log(`${name} failed (${(error as Error).message}); will retry`))
      .finally(() => {
        this.running = false;
        // Keys may be refused while a reshard runs: its next phase must not wait for the next round.
        if (recorded) this.context.wakeRound();
      });
  }

  private async runPhase(state: ClusterState): Promise<AdvanceReshard['phase']> {
    const reshard = state.reshard!;
    const ring = nextRing(state);
    const { givers, receivers } = reshardRoles(state);
    switch (reshard.phase) {
      case 'fence':
        // No key stops being served before every receiver has a leader to take it.
        for (const partition of receivers) await this.request(partition, 'state', new Uint8Array(0));
        for (const partition of givers) await this.adopt(partition, ring!);
        return 'copy';
      case 'copy':
        // Givers' moving keys are frozen, so a copy run again (a controller died) copies the same values.
        // The keys are refused until the adopt: every giver is copied at once.
        await Promise.all(givers.map((partition) => this.copyOut(partition, ring!, receivers)));
        return 'adopt';
      case 'adopt':
        for (const partition of receivers) await this.adopt(partition, ring!);
        return 'purge';
      case 'purge':
        for (const partition of givers) if (state.partitions.has(partition)) await this.purge(partition, state.ringEpoch);
        return 'done';
    }
  }

  private async adopt(partition: number, ring: KeyRing): Promise<void> {
    await this.request(partition, 'adopt', Buffer.from(JSON.stringify({ epoch: ring.epoch, partitions: ring.partitions })));
  }

  /**
   * Copies every key `partition` gave away into the partition that owns it under `ring`, and raises every
   * receiver's revisions above the giver's, so that no key's revision goes back (its delete included).
   */
  private async copyOut(partition: number, ring: KeyRing, receivers: readonly number[]): Promise<void> {
    const state = JSON.parse(Buffer.from(await this.request(partition, 'state', new Uint8Array(0))).toString()) as { revisionHigh: number };
    await Promise.all(receivers.map((receiver) => this.request(receiver, 'ingest', shardPackr.pack({ epoch: ring.epoch, records: [], floor: state.revisionHigh }))));
    const exportPage = (after: string | null) => this.request(partition, 'export', Buffer.from(JSON.stringify({ epoch: ring.epoch, after })))
      .then((data) => shardPackr.unpack(data) as { records: Record4[]; next: string | null });
    let copied = 0;
    // Pipelined: the next page is read from the giver while this one is written to its receivers.
    let pending: Promise<{ records: Record4[]; next: string | null }> | undefined = exportPage(null);
    while (pending !== undefined) {
      const page: { records: Record4[]; next: string | null } = await pending;
      pending = page.next === null ? undefined : exportPage(page.next);
      pending?.catch(() => undefined); // awaited next turn; an ingest failing first must not leave it unhandled
      await this.ingestPage(page.records, ring);
      copied += page.records.length;
    }
    this.context.log(`reshard: copied ${copied} keys out of partition ${partition}`);
  }

  /** Writes one exported page to the partitions that own its keys under `ring`, all at once. */
  private async ingestPage(records: readonly Record4[], ring: KeyRing): Promise<void> {
    const owners = partitionMapOf(ring.partitions);
    const byOwner = new Map<number, Record4[]>();
    for (const record of records) {
      // A request-id record goes where the key its write touched goes.
      const key = subjectKey(record[0], { value: record[1], revision: record[2], createRevision: record[3] });
      if (key === undefined) continue;
      const owner = owners.partitionOf(key);
      let list = byOwner.get(owner);
      if (list === undefined) byOwner.set(owner, (list = []));
      list.push(record);
    }
    await Promise.all([...byOwner].map(async ([owner, list]) => {
      for (let start = 0; start < list.length; start += INGEST_RECORDS_MAX) {
        await this.request(owner, 'ingest', shardPackr.pack({ epoch: ring.epoch, records: list.slice(start, start + INGEST_RECORDS_MAX) }));
      }
    }));
  }

  /** Deletes, page by page, every key `partition` gave away in the move to ring `epoch`. */
  private async purge(partition: number, epoch: number): Promise<void> {
    let after: string | null = null;
    do {
      const reply = JSON.parse(Buffer.from(await this.request(partition, 'purge', Buffer.from(JSON.stringify({ epoch, after })))).toString()) as { next: string | null };
      after = reply.next;
    } while (after !== null);
  }

  /**
   * One request to the partition's leader, retried while there is no leader, the leader changes or the
   * partition is not ready (UNAVAILABLE); any other refusal abandons the phase.
   */
  private async request(partition: number, op: string, body: Uint8Array): Promise<Uint8Array> {
    const subject = `${this.context.subjects.partitionLead(partition)}.shard.${op}`;
    const deadline = Date.now() + REQUEST_PATIENCE_MS;
    let backoffMs = 20;
    let last = 'no attempt';
    while (Date.now() < deadline) {
      if (!this.context.active()) throw new PhaseAbandoned('the controller is no longer active');
      try {
        const reply = await this.context.nc.request(subject, body, { timeout: ATTEMPT_TIMEOUT_MS });
        const error = errorOf(reply.data);
        if (error === undefined) return reply.data;
        if (!['NOT_LEADER', 'UNAVAILABLE', 'TIMEOUT'].includes(error.code)) throw new PhaseAbandoned(`partition ${partition} refused ${op}: ${error.code}: ${error.message}`);
        last = `${error.code}: ${error.message}`;
      } catch (error) {
        if (error instanceof PhaseAbandoned) throw error;
        last = (error as { code?: string }).code === NatsErrorCode.NoResponders ? 'no leader' : (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, backoffMs));
      backoffMs = Math.min(backoffMs * 2, 500);
    }
    throw new PhaseAbandoned(`partition ${partition}: ${op} did not succeed within ${REQUEST_PATIENCE_MS} ms (${last})`);
  }
}

/** The error of a JSON error reply; undefined for any other reply (msgpack pages never start with `{"error"`). */
function errorOf(data: Uint8Array): { code: string; message: string } | undefined {
  if (data.byteLength < 9 || data[0] !== 0x7b || Buffer.from(data.subarray(0, 9)).toString() !== '{"error":') return undefined;
  return (JSON.parse(Buffer.from(data).toString()) as { error: { code: string; message: string } }).error;
}

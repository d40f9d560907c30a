// The resharding requests a partition leader serves on `<lead>.shard.<op>` (docs/resharding.md). The
// active controller drives them; each is safe to repeat.
//
//   adopt  {"epoch":E,"partitions":[..]}  propose the ring; reply {"ok":true,"epoch":E'} once applied
//   export {"epoch":E,"after":K|null}     keys this partition does not own (it must have adopted ring E):
//                                         msgpack {"records":[[key,value,revision,createRevision]..],"next":K|null}
//   ingest msgpack {"epoch":E,"records":[..]}  propose the copy for ring E; {"ok":true,"changed":N} once applied
//   purge  {"epoch":E,"after":K|null}     delete the next keys it gave away in the move to ring E (its
//                                         ring); {"ok":true,"purged":N,"next":K|null}
//   state  {}                             {"ok":true,"epoch":E,"partitions":[..],"revisionBase":B,"revisionHigh":H}
//                                         H: above every revision this partition has handed out
//
// Export and purge scan the durable state: keys a partition no longer owns cannot change after its ring
// entry, so a scan after that entry is durable sees their final values.

import type { Msg } from 'nats';
import { encodeError } from '../../bus/protocol';
import { shardPackr as packr } from '../../bus/shardWire';
import { KvResult, KvStateMachine, encodeShardCommand } from '../../storage';
import { KvCommandError } from '../../storage/kvCommand';
import { ShardCommand, validateRing } from '../../storage/shardCommand';
import { respond } from './clientRequests';

export interface ShardHost {
  readonly stateMachine: KvStateMachine;
  /** Proposes an entry and answers `message` with `encode(result)` once it applies; false if not leader. */
  propose(data: Uint8Array, message: Msg, encode: (result: KvResult) => Uint8Array): boolean;
  /** Resolves once everything computed so far is durable in the state machine. */
  flushed(): Promise<void>;
}

const EXPORT_RECORDS_MAX = 2_000;
const EXPORT_BYTES_MAX = 256 * 1024;
const PURGE_KEYS_MAX = 1_000;

export async function handleShardRequest(host: ShardHost, op: string | undefined, message: Msg): Promise<void> {
  try {
    switch (op) {
      case 'adopt': {
        const body = json(message);
        const epoch = body.epoch;
        if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 1) return refuse(message, 'BAD_REQUEST', 'epoch must be a positive integer');
        const command: ShardCommand = { op: 'ring', epoch, partitions: validateRing(body.partitions) };
        return proposeOrRefuse(host, command, message, (result) => (result.op === 'shard' ? reply({ ok: true, epoch: result.epoch }) : unexpected(result)));
      }
      case 'export':
        return await exportKeys(host, json(message), message);
      case 'ingest': {
        const body = packr.unpack(message.data) as { epoch?: unknown; records?: unknown; floor?: unknown };
        const command = { op: 'ingest', epoch: body?.epoch, records: body?.records, ...(body?.floor === undefined ? {} : { floor: body.floor }) } as ShardCommand;
        return proposeOrRefuse(host, command, message, (result) => (result.op === 'shard' ? reply({ ok: true, changed: result.changed }) : unexpected(result)));
      }
      case 'purge':
        return await purge(host, json(message), message);
      case 'state': {
        const shard = host.stateMachine.shardState();
        const revisionHigh = shard.revisionBase + host.stateMachine.appliedInMemory();
        return respond(message, reply({ ok: true, epoch: shard.epoch, partitions: shard.partitions, revisionBase: shard.revisionBase, revisionHigh }));
      }
      default:
        return refuse(message, 'BAD_REQUEST', `unknown shard request ${String(op)}`);
    }
  } catch (error) {
    if (error instanceof KvCommandError || error instanceof SyntaxError) return refuse(message, 'BAD_REQUEST', error.message);
    refuse(message, 'INTERNAL', `shard ${String(op)}: ${String(error)}`);
  }
}

async function exportKeys(host: ShardHost, body: Record<string, unknown>, message: Msg): Promise<void> {
  const { epoch, after } = body;
  if (typeof epoch !== 'number' || (after !== null && after !== undefined && typeof after !== 'string')) return refuse(message, 'BAD_REQUEST', 'export needs "epoch" and "after" (a key or null)');
  const adopted = host.stateMachine.shardState().epoch;
  if (adopted < epoch) return refuse(message, 'UNAVAILABLE', `ring epoch ${epoch} is not adopted here yet (${adopted})`);
  await host.flushed();
  const scan = host.stateMachine.scanUnowned(after ?? undefined, EXPORT_RECORDS_MAX, EXPORT_BYTES_MAX);
  respond(message, packr.pack({ records: scan.records, next: scan.next ?? null }));
}

async function purge(host: ShardHost, body: Record<string, unknown>, message: Msg): Promise<void> {
  const { epoch, after } = body;
  if (typeof epoch !== 'number' || (after !== null && after !== undefined && typeof after !== 'string')) return refuse(message, 'BAD_REQUEST', 'purge needs "epoch" and "after" (a key or null)');
  const adopted = host.stateMachine.shardState().epoch;
  if (adopted !== epoch) return refuse(message, 'BAD_REQUEST', `ring epoch ${epoch} is not this partition's ring (${adopted}); nothing purged`);
  await host.flushed();
  const scan = host.stateMachine.scanUnowned(after ?? undefined, PURGE_KEYS_MAX, Infinity);
  const next = scan.next ?? null;
  if (scan.records.length === 0) return respond(message, reply({ ok: true, purged: 0, next }));
  const command: ShardCommand = { op: 'purge', epoch, keys: scan.records.map(([key]) => key) };
  proposeOrRefuse(host, command, message, (result) => (result.op === 'shard' ? reply({ ok: true, purged: result.changed, next }) : unexpected(result)));
}

function proposeOrRefuse(host: ShardHost, command: ShardCommand, message: Msg, encode: (result: KvResult) => Uint8Array): void {
  if (!host.propose(encodeShardCommand(command), message, encode)) refuse(message, 'NOT_LEADER', 'not the leader');
}

function json(message: Msg): Record<string, unknown> {
  const body: unknown = message.data.byteLength === 0 ? {} : JSON.parse(Buffer.from(message.data).toString());
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new SyntaxError('body must be a JSON object');
  return body as Record<string, unknown>;
}

function reply(body: object): Uint8Array {
  return Buffer.from(JSON.stringify(body));
}

function unexpected(result: KvResult): Uint8Array {
  return encodeError('INTERNAL', `a shard entry applied as ${result.op}`);
}

function refuse(message: Msg, code: Parameters<typeof encodeError>[0], text: string): void {
  respond(message, encodeError(code, text));
}

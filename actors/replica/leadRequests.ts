// The client requests a partition leader serves on `<lead>.<op>` (or `<lead>.<op>.<requestId>` for a
// router's retryable write) and the stale reads any replica serves on `<read>.get`. Writes become
// proposals answered when they apply; linearizable reads wait for their ReadIndex (clientRequests.ts).

import type { Msg, NatsConnection, Subscription } from 'nats';
import { READ_QUEUE_GROUP } from '../../bus/subjects';
import type { Raft } from '../raft';
import { deadlineOf, isExpired } from '../../bus/deadline';
import { encodeError, parseRequest } from '../../bus/protocol';
import { KvResult, KvStateMachine, encodeKvCommand } from '../../storage';
import { REQUEST_ID_PATTERN } from '../../storage/kvCommand';
import { ClientRequests, encodeGet, respond, respondError } from './clientRequests';
import { commandOf, isWrite } from './commands';
import type { ShardHost } from './shardRequests';
import { ReadLease, leaseStateOf } from './readLease';

/** What a replica lends its request handlers. */
export interface LeadHost extends ShardHost {
  readonly partition: number;
  readonly requests: ClientRequests;
  /** The current core (a snapshot install replaces it). */
  raft(): Raft;
  wake(): void;
  readonly lease: ReadLease;
  /** Serves the confirmed reads that the applied state already covers. */
  serveReads(): void;
}

export function serveKvRequest(host: LeadHost, op: string, requestId: string | undefined, message: Msg): void {
  if (op !== 'put' && op !== 'get' && op !== 'del' && op !== 'cas') return respondError(message, 'BAD_REQUEST', `unknown operation ${op}`);
  if (requestId !== undefined && !REQUEST_ID_PATTERN.test(requestId)) return respondError(message, 'BAD_REQUEST', 'malformed request id');
  const parsed = parseRequest(op, message.data);
  if (!parsed.ok) return respond(message, encodeError(parsed.error.code, parsed.error.message));
  const request = parsed.request;
  if (op !== 'get' && isExpired(deadlineOf(message))) return respondError(message, 'DEADLINE_EXCEEDED', 'the write arrived after its Cairn-Deadline; it was not applied');
  const raft = host.raft();
  // Writes are checked where it is decided, at apply (a retried write must first find its earlier result).
  if (request.op === 'get') {
    // A linearizable read is checked once, when served (clientRequests.ts): the ring may change meanwhile.
    if (request.consistency === 'stale') return serveLocally(host, request.key, message);
    if (!readLinearizable(host, raft, request.key, message)) return;
  } else if (isWrite(request)) {
    const command = commandOf(request);
    if (requestId !== undefined) command.id = requestId;
    const result = raft.propose(encodeKvCommand(command));
    if (!result.ok) {
      const code = result.code === 'PROPOSALS_FULL' ? 'UNAVAILABLE' : 'NOT_LEADER';
      return respondError(message, code, `write refused: ${result.code}`, result.leader);
    }
    host.requests.addWrite(result.index, result.term, request, message);
  }
  host.wake();
}

/**
 * A linearizable read: at the commit index at once while the leader holds its read lease, else after a
 * ReadIndex round (whose confirmation also renews the lease). False when refused.
 */
function readLinearizable(host: LeadHost, raft: Raft, key: string, message: Msg): boolean {
  const now = performance.now();
  const state = leaseStateOf(raft);
  const context = host.requests.newReadContext();
  if (host.lease.holds(now, state)) {
    host.requests.readsServed.lease++;
    host.requests.addRead(context, key, message);
    host.requests.readConfirmed(context, raft.log.committed);
    host.serveReads();
    if (host.lease.wantsProbe(now, state)) {
      const probe = host.requests.newReadContext();
      if (raft.readIndex(probe).ok) host.lease.probeIssued(probe, now, raft.term);
    }
    return true;
  }
  const result = raft.readIndex(context);
  if (!result.ok) {
    respondError(message, 'NOT_LEADER', 'not the leader', result.leader);
    return false;
  }
  host.requests.readsServed.readIndex++;
  host.requests.addRead(context, key, message);
  if (host.lease.wantsProbe(now, state)) host.lease.probeIssued(context, now, raft.term);
  return true;
}

export function serveStaleRead(host: LeadHost, message: Msg): void {
  const parsed = parseRequest('get', message.data);
  if (!parsed.ok) return respond(message, encodeError(parsed.error.code, parsed.error.message));
  serveLocally(host, parsed.request.key, message);
}

/** A stale read: this replica's applied state, if the key is its partition's there. */
function serveLocally(host: LeadHost, key: string, message: Msg): void {
  if (!host.stateMachine.owns(key)) return refuseKey(host, message);
  respond(message, encodeGet(host.stateMachine.get(key)));
}

/** A proposal of a shard entry (shardRequests.ts), answered with `encode(result)` once it applies. */
export function proposeShardEntry(host: LeadHost, data: Uint8Array, message: Msg, encode: (result: KvResult) => Uint8Array): boolean {
  const result = host.raft().propose(data);
  if (!result.ok) return false;
  host.requests.addShardEntry(result.index, result.term, message, encode);
  host.wake();
  return true;
}

function refuseKey(host: LeadHost, message: Msg): void {
  respondError(message, 'WRONG_PARTITION', `the key is not partition ${host.partition}'s`);
}

export type { KvStateMachine };

/**
 * The stale-read queue group holds the partition's voters only: a learner (a replica being added, still
 * catching up, perhaps from an empty store) would answer from far behind, so it joins when promoted.
 * Leaving drains the subscription instead of dropping it: reads already on their way here are refused
 * (`refuse`, a retry elsewhere) instead of going unanswered.
 */
export class StaleReads {
  private subscription: Subscription | undefined;
  /** Counts joins: a read that the drained subscription of an earlier join delivers is refused. */
  private joins = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subject: string,
    private readonly serve: (message: Msg) => void,
    private readonly refuse: (message: Msg) => void,
  ) {}

  /** Joins or leaves the queue group as the replica is or is not a voter. */
  sync(voter: boolean): void {
    if (voter && !this.subscription) {
      const join = ++this.joins;
      const callback = (message: Msg) => (join === this.joins ? this.serve(message) : this.refuse(message));
      this.subscription = this.nc.subscribe(this.subject, { queue: READ_QUEUE_GROUP, callback: (_, message) => callback(message) });
    }
    if (!voter) this.close();
  }

  close(): void {
    if (!this.subscription) return;
    void this.subscription.drain().catch(() => undefined);
    this.subscription = undefined;
    this.joins++;
  }
}

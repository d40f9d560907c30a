// The node's control subject, `<prefix>.ctl.node-<nodeId>`: operator commands and fault drills for the
// replicas this supervisor hosts. Requests and replies are JSON; every reply is {"ok":true,"message":M}
// or {"ok":false,"error":{"code":C,"message":M}}.
//
//   {"command":"stop","partition":P}                 stop this node's replica of P (maintenance)
//   {"command":"start","partition":P}                start it again; it catches up from the leader
//   {"command":"transfer","partition":P,"to":NODE,"replica":R}
//                                                    hand P's leadership (held here) to replica R on NODE (R optional)
//   {"command":"drain"} / {"command":"undrain"}      hand every leadership away and keep it away / stop doing so
//   {"command":"add","partition":P,"replica":R,"voters":[..],"nodes":{..}}
//                                                    start a new, empty replica R of P here (step 1 of a move);
//                                                    voters: P's first membership, nodes: replica id -> node
//                                                    (both optional for a partition of the first layout)
//   {"command":"remove","partition":P,"replica":R}   stop this node's replica of P for good, delete its data
//                                                    (R optional: refused with CONFLICT if this node hosts another)
//   {"command":"crash","actor":"p<P>/r<R>"}          fault drill: that replica fails as a bug would
//   {"command":"crash","actor":"replicas"}           fault drill: the whole replica host thread dies

import type { NatsConnection } from 'nats';
import { subjects } from '../bus/subjects';
import { NODE_ID_PATTERN } from '../actors/controller/commands';
import type { AdminResult } from '../actors/replica/host';
import type { ActorHost } from './actorHost';

export type NodeCommand =
  | { command: 'stop' | 'start'; partition: number }
  | { command: 'transfer'; partition: number; to: string; replica?: number }
  | { command: 'drain' | 'undrain' }
  | { command: 'add'; partition: number; replica: number; bootstrap?: ReplicaBootstrap }
  | { command: 'remove'; partition: number; replica?: number }
  | { command: 'crash'; actor: string }
  | { command: 'crash-thread' };

type Refusal = { ok: false; error: { code: string; message: string } };

/** How a replica of a partition created after the first layout starts: its first voters and their nodes. */
export interface ReplicaBootstrap {
  voters: number[];
  nodes: Record<string, string>;
}

function parseBootstrap(request: Record<string, unknown>): ReplicaBootstrap | undefined | Refusal {
  const { voters, nodes } = request;
  if (voters === undefined && nodes === undefined) return undefined;
  if (!Array.isArray(voters) || voters.length === 0 || voters.length > 7 || !voters.every((id) => Number.isSafeInteger(id) && id > 0) || new Set(voters).size !== voters.length) {
    return bad('add: "voters" must list 1..7 distinct positive replica ids');
  }
  if (typeof nodes !== 'object' || nodes === null || Array.isArray(nodes)) return bad('add: "nodes" must map replica ids to node ids');
  const entries = Object.entries(nodes as Record<string, unknown>);
  if (entries.length > 16 || !entries.every(([id, node]) => /^[1-9][0-9]{0,9}$/.test(id) && typeof node === 'string' && NODE_ID_PATTERN.test(node))) return bad('add: "nodes" must map replica ids to node ids');
  return { voters: voters as number[], nodes: Object.fromEntries(entries) as Record<string, string> };
}

const bad = (message: string): Refusal => ({ ok: false, error: { code: 'BAD_REQUEST', message } });

/** Validates a decoded request body; pure. */
export function parseNodeCommand(body: unknown, hasActor: (actor: string) => boolean): { ok: true; command: NodeCommand } | Refusal {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return bad('body must be a JSON object');
  const request = body as Record<string, unknown>;
  const partitionOk = Number.isSafeInteger(request.partition) && (request.partition as number) >= 0;
  switch (request.command) {
    case 'stop':
    case 'start':
      if (!partitionOk) return bad(`${request.command} needs "partition", a non-negative integer`);
      return { ok: true, command: { command: request.command, partition: request.partition as number } };
    case 'transfer':
      if (!partitionOk) return bad('transfer needs "partition", a non-negative integer');
      if (typeof request.to !== 'string' || request.to.length === 0) return bad('transfer needs "to", the node to hand leadership to');
      if (request.replica !== undefined && (!Number.isSafeInteger(request.replica) || (request.replica as number) <= 0)) return bad('transfer: "replica" must be a positive integer');
      return { ok: true, command: { command: 'transfer', partition: request.partition as number, to: request.to, ...(request.replica === undefined ? {} : { replica: request.replica as number }) } };
    case 'drain':
    case 'undrain':
      return { ok: true, command: { command: request.command } };
    case 'add':
      if (!partitionOk) return bad('add needs "partition", a non-negative integer');
      if (!Number.isSafeInteger(request.replica) || (request.replica as number) <= 0) return bad('add needs "replica", a positive integer');
      const bootstrap = parseBootstrap(request);
      if (bootstrap !== undefined && 'ok' in bootstrap) return bootstrap;
      return { ok: true, command: { command: 'add', partition: request.partition as number, replica: request.replica as number, ...(bootstrap ? { bootstrap } : {}) } };
    case 'remove':
      if (!partitionOk) return bad('remove needs "partition", a non-negative integer');
      if (request.replica !== undefined && (!Number.isSafeInteger(request.replica) || (request.replica as number) <= 0)) return bad('remove: "replica" must be a positive integer');
      return { ok: true, command: { command: 'remove', partition: request.partition as number, ...(request.replica === undefined ? {} : { replica: request.replica as number }) } };
    case 'crash':
      if (request.actor === 'replicas') return { ok: true, command: { command: 'crash-thread' } };
      if (typeof request.actor !== 'string' || !hasActor(request.actor)) return bad('expected {"command":"crash","actor":"p<P>/r<R>"} for an actor of this node, or "actor":"replicas"');
      return { ok: true, command: { command: 'crash', actor: request.actor } };
    default:
      return bad('"command" must be one of stop, start, transfer, drain, undrain, add, remove, crash');
  }
}

/** What the supervisor does for the commands that change which replicas it hosts. */
export interface NodeControlHandlers {
  replicas: ActorHost;
  hasActor(actor: string): boolean;
  add(partition: number, replica: number, bootstrap?: ReplicaBootstrap): Promise<AdminResult | undefined>;
  remove(partition: number, replica?: number): Promise<AdminResult | undefined>;
  setDrained(drained: boolean): Promise<AdminResult | undefined>;
}

export function serveNodeControl(nc: NatsConnection, prefix: string, nodeId: string, handlers: NodeControlHandlers, log: (line: string) => void): void {
  nc.subscribe(subjects(prefix).control(`node-${nodeId}`), {
    callback: (_, message) => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.from(message.data).toString());
      } catch {
        body = undefined;
      }
      const parsed = parseNodeCommand(body, (actor) => handlers.hasActor(actor));
      const answer = parsed.ok ? execute(parsed.command, handlers, log) : Promise.resolve(parsed);
      void answer.then((reply) => {
        if (message.reply) message.respond(Buffer.from(JSON.stringify(reply)));
      });
    },
  });
}

async function execute(command: NodeCommand, handlers: NodeControlHandlers, log: (line: string) => void): Promise<AdminResult | Refusal> {
  log(`control: ${JSON.stringify(command)}`);
  const answer = command.command === 'add' ? await handlers.add(command.partition, command.replica, command.bootstrap)
    : command.command === 'remove' ? await handlers.remove(command.partition, command.replica)
    : command.command === 'drain' || command.command === 'undrain' ? await handlers.setDrained(command.command === 'drain')
    : await callHost(command, handlers.replicas);
  return answer ?? { ok: false, error: { code: 'UNAVAILABLE', message: 'the replica host is not running (restarting?); try again' } };
}

function callHost(command: NodeCommand, replicas: ActorHost): Promise<AdminResult | Refusal | undefined> {
  switch (command.command) {
    case 'stop':
      return replicas.call<AdminResult>('stopReplica', command.partition);
    case 'start':
      return replicas.call<AdminResult>('startReplica', command.partition);
    case 'transfer':
      return replicas.call<AdminResult>('transferTo', command.partition, command.to, command.replica);
    case 'crash':
      return replicas.call<{ ok: true } | Refusal>('crash', command.actor).then((reply) => reply && (reply.ok ? { ok: true, message: `crashed ${command.actor}` } : reply));
    case 'add':
    case 'remove':
    case 'drain':
    case 'undrain':
      return Promise.resolve(undefined);
    case 'crash-thread':
      // The thread dies before it can answer; the answer is that the drill was started.
      void replicas.call('crashThread');
      return Promise.resolve({ ok: true, message: 'crashing the replica host thread' });
  }
}

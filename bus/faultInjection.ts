// Fault injection between named endpoints (e.g. "p3/r2"), the layer every Raft send goes through.
// Tests use it to drop, delay, cut and isolate traffic on a real NATS connection; in production no
// rule is ever set and `route` costs one boolean check.
//
// Faults apply on the sending side only, so a rule takes effect in whichever process sends. Replicas
// live in worker threads (each with its own module instance) and in other processes, so the same
// rules are broadcast to every injector over NATS:
//
//   subject  <prefix>.ctl.fault   (every injector that called serveFaultControl subscribes, no queue group)
//   request  {"op":"drop","from":"p1/r1","to":"p1/r2"}          one direction
//            {"op":"delay","from":"p1/r1","to":"p1/r2","ms":50}  one direction, 0 removes the delay
//            {"op":"cut","a":"p1/r1","b":"p1/r2"}                both directions
//            {"op":"isolate","endpoint":"p1/r3"}                 everything from and to p1/r3
//            {"op":"heal"}                                        remove every rule
//   reply    {"ok":true,"injector":"<id>"} or {"ok":false,"injector":"<id>","error":"<why>"}
//            (one reply per injector; sendFaultCommand counts them)

import { RequestStrategy } from 'nats';
import type { NatsConnection, Subscription } from 'nats';
import { subjects } from './subjects';

export type EndpointId = string;

/** The hook a transport calls for every send. `deliver(item)` runs now, later, or never. */
export interface FaultLayer {
  route<T>(from: EndpointId, to: EndpointId, item: T, deliver: (item: T) => void): void;
}

/** Production: deliver at once. */
export const passThroughFaults: FaultLayer = {
  route(_from, _to, item, deliver) {
    deliver(item);
  },
};

export type FaultCommand =
  | { op: 'drop'; from: EndpointId; to: EndpointId }
  | { op: 'delay'; from: EndpointId; to: EndpointId; ms: number }
  | { op: 'cut'; a: EndpointId; b: EndpointId }
  | { op: 'isolate'; endpoint: EndpointId }
  | { op: 'heal' };

export class FaultError extends Error {
  override readonly name = 'FaultError';
  constructor(
    readonly code: 'BAD_COMMAND' | 'NO_ACK',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface FaultStats {
  dropped: number;
  delayed: number;
  delivered: number;
}

/** Delays beyond this are refused: a test that wants "never" should drop. */
export const DELAY_MS_MAX = 60_000;

export class FaultInjector implements FaultLayer {
  // `active` is false while no rule exists, so route() is one branch on the production path.
  private active = false;
  private readonly dropped = new Map<EndpointId, Set<EndpointId>>();
  private readonly delays = new Map<EndpointId, Map<EndpointId, number>>();
  private readonly isolated = new Set<EndpointId>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly counters: FaultStats = { dropped: 0, delayed: 0, delivered: 0 };

  route<T>(from: EndpointId, to: EndpointId, item: T, deliver: (item: T) => void): void {
    if (!this.active) {
      deliver(item);
      return;
    }
    if (this.isolated.has(from) || this.isolated.has(to) || this.dropped.get(from)?.has(to) === true) {
      this.counters.dropped++;
      return;
    }
    const delayMs = this.delays.get(from)?.get(to);
    if (delayMs === undefined) {
      this.counters.delivered++;
      deliver(item);
      return;
    }
    this.counters.delayed++;
    // Equal delays keep the order of one link (timers of equal duration fire in creation order).
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      deliver(item);
    }, delayMs);
    this.timers.add(timer);
  }

  /** Drops every message from `from` to `to` (one direction). */
  drop(from: EndpointId, to: EndpointId): void {
    checkEndpoint(from);
    checkEndpoint(to);
    linkSet(this.dropped, from).add(to);
    this.active = true;
  }

  /** Delays every message from `from` to `to` by `ms`; 0 removes the delay. */
  delay(from: EndpointId, to: EndpointId, ms: number): void {
    checkEndpoint(from);
    checkEndpoint(to);
    if (!Number.isInteger(ms) || ms < 0 || ms > DELAY_MS_MAX) {
      throw new FaultError('BAD_COMMAND', `delay must be an integer in [0, ${DELAY_MS_MAX}] ms, got ${ms}`);
    }
    let targets = this.delays.get(from);
    if (targets === undefined) this.delays.set(from, (targets = new Map()));
    if (ms === 0) targets.delete(to);
    else targets.set(to, ms);
    this.active = true;
  }

  /** Drops traffic both ways between `a` and `b`. */
  cut(a: EndpointId, b: EndpointId): void {
    this.drop(a, b);
    this.drop(b, a);
  }

  /** Drops everything sent by or to `endpoint`. */
  isolate(endpoint: EndpointId): void {
    checkEndpoint(endpoint);
    this.isolated.add(endpoint);
    this.active = true;
  }

  /** Removes every rule. Messages already delayed still arrive, as packets in flight would. */
  heal(): void {
    this.dropped.clear();
    this.delays.clear();
    this.isolated.clear();
    this.active = false;
  }

  /** Applies a command (from NATS or a test); throws FaultError on a malformed one. */
  apply(command: FaultCommand): void {
    switch (command.op) {
      case 'drop':
        return this.drop(command.from, command.to);
      case 'delay':
        return this.delay(command.from, command.to, command.ms);
      case 'cut':
        return this.cut(command.a, command.b);
      case 'isolate':
        return this.isolate(command.endpoint);
      case 'heal':
        return this.heal();
      default:
        throw new FaultError('BAD_COMMAND', `unknown fault op ${JSON.stringify((command as { op: unknown }).op)}`);
    }
  }

  stats(): FaultStats {
    return { ...this.counters };
  }

  /** Heals and forgets messages still delayed (so a closing test leaves no timers behind). */
  close(): void {
    this.heal();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

/** The injector transports use unless given another; one per module instance, i.e. per thread. */
export const defaultFaultInjector = new FaultInjector();

function linkSet(links: Map<EndpointId, Set<EndpointId>>, from: EndpointId): Set<EndpointId> {
  let targets = links.get(from);
  if (targets === undefined) links.set(from, (targets = new Set()));
  return targets;
}

function checkEndpoint(endpoint: unknown): asserts endpoint is EndpointId {
  if (typeof endpoint !== 'string' || endpoint.length === 0 || endpoint.length > 256) {
    throw new FaultError('BAD_COMMAND', `endpoint id must be a string of 1..256 characters, got ${JSON.stringify(endpoint)}`);
  }
}

// A Map, not an object: "constructor" or "__proto__" as an op must not find an inherited entry.
const FAULT_FIELDS = new Map<string, string>([
  ['drop', 'from,op,to'],
  ['delay', 'from,ms,op,to'],
  ['cut', 'a,b,op'],
  ['isolate', 'endpoint,op'],
  ['heal', 'op'],
]);

/** Validates a decoded JSON command; the injector methods validate endpoints and delays. */
export function parseFaultCommand(bytes: Uint8Array): FaultCommand {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new FaultError('BAD_COMMAND', 'fault command is not UTF-8 JSON', { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FaultError('BAD_COMMAND', 'fault command must be a JSON object');
  }
  const record = value as Record<string, unknown>;
  const expected = FAULT_FIELDS.get(String(record.op));
  if (expected === undefined) throw new FaultError('BAD_COMMAND', `unknown fault op ${JSON.stringify(record.op)}`);
  const fields = Object.keys(record).sort().join(',');
  if (fields !== expected) throw new FaultError('BAD_COMMAND', `fault op ${String(record.op)} takes fields ${expected}, got ${fields}`);
  return record as unknown as FaultCommand;
}


/**
 * Subscribes `injector` to `<prefix>.ctl.fault`. `injectorId` names this injector in replies.
 * The handler catches everything: an exception must not end the control subscription.
 */
export function serveFaultControl(nc: NatsConnection, prefix: string, injector: FaultInjector, injectorId: string): Subscription {
  const encoder = new TextEncoder();
  return nc.subscribe(subjects(prefix).control('fault'), {
    callback: (error, msg) => {
      if (error !== null) return;
      let reply: Record<string, unknown>;
      try {
        injector.apply(parseFaultCommand(msg.data));
        reply = { ok: true, injector: injectorId };
      } catch (failure) {
        reply = { ok: false, injector: injectorId, error: failure instanceof Error ? failure.message : String(failure) };
      }
      if (msg.reply !== undefined && msg.reply !== '') {
        try {
          msg.respond(encoder.encode(JSON.stringify(reply)));
        } catch {
          // The connection is closing; the sender will count one ack fewer.
        }
      }
    },
  });
}

export interface SendFaultOptions {
  /** How many injectors must acknowledge; the call resolves as soon as that many did. */
  expectedAcks: number;
  /** How long to wait for the acknowledgements, in milliseconds. */
  timeoutMs: number;
}

/**
 * Broadcasts a fault command and waits until `expectedAcks` injectors applied it, so a test knows the
 * fault is in force everywhere before it goes on. Throws FaultError('NO_ACK') on too few acks or any refusal.
 */
export async function sendFaultCommand(
  nc: NatsConnection,
  prefix: string,
  command: FaultCommand,
  options: SendFaultOptions,
): Promise<string[]> {
  const replies = await nc.requestMany(subjects(prefix).control('fault'), new TextEncoder().encode(JSON.stringify(command)), {
    strategy: RequestStrategy.Count,
    maxMessages: options.expectedAcks,
    maxWait: options.timeoutMs,
  });
  const acknowledged: string[] = [];
  try {
    for await (const reply of replies) {
      const body = JSON.parse(new TextDecoder().decode(reply.data)) as { ok?: unknown; injector?: unknown; error?: unknown };
      if (body.ok !== true) throw new FaultError('NO_ACK', `injector ${String(body.injector)} refused: ${String(body.error)}`);
      acknowledged.push(String(body.injector));
    }
  } catch (error) {
    if (error instanceof FaultError) throw error;
    throw new FaultError('NO_ACK', `fault command ${command.op} failed: ${String(error)}`, { cause: error });
  }
  if (acknowledged.length < options.expectedAcks) {
    throw new FaultError('NO_ACK', `fault command ${command.op}: ${acknowledged.length} of ${options.expectedAcks} injectors acknowledged`);
  }
  return acknowledged;
}

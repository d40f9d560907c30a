// The failure detector: heartbeats in, alive | suspect | down out, with time handed in by the caller.
//
// Health is local to the active controller and is NOT replicated through the metadata Raft group:
//  - a heartbeat every 500 ms from every node would put a Raft commit (an fsync on a majority) on the
//    metadata group's log for nothing durable: the only thing worth knowing is "heard recently";
//  - health is a judgement of the observer: a node the active controller cannot hear may be fine for
//    its peers, and a new controller leader must form its own view rather than inherit a stale one.
// What IS replicated is what the controller decides because of health (add a replica, remove a dead
// one), so a new controller leader continues from the decisions, not from the evidence. On takeover it
// calls `trackNodes` for every registered node, giving each a full grace period before it can be judged
// down: a leader change must never by itself trigger re-replication.

import { Result, refuse } from './result';

export type NodeHealth = 'alive' | 'suspect' | 'down';

export interface FailureDetectorConfig {
  /** How often nodes heartbeat. The detector does not use it; it bounds the other two (below). */
  readonly heartbeatIntervalMs: number;
  /** Silence (ms since the last heartbeat) from which a node is suspect: never a target, never led to. */
  readonly suspectAfterMs: number;
  /** Silence from which a node is down: its replicas are re-created elsewhere. */
  readonly downAfterMs: number;
}

/**
 * Defaults. Heartbeat every 500 ms. Suspect after 1,500 ms = three missed heartbeats, so one lost message
 * or a GC pause does not flip it, yet a dead node stops receiving new replicas and leaders within 2 s;
 * being suspect is cheap and reversible. Down after 10,000 ms: down starts re-replication, which copies a
 * whole partition to another node, so it waits out a supervisor restart with backoff or a short network
 * blip. Availability does not wait for it: each partition's own Raft group elects a new leader within
 * 200-400 ms (its election timeout), independent of the controller.
 */
export const FAILURE_DETECTOR_DEFAULTS: FailureDetectorConfig = Object.freeze({
  heartbeatIntervalMs: 500,
  suspectAfterMs: 1_500,
  downAfterMs: 10_000,
});

/** Refuses a configuration in which a node could be judged before it had a chance to heartbeat. */
export function validateFailureDetectorConfig(config: FailureDetectorConfig): Result<{ config: FailureDetectorConfig }> {
  const { heartbeatIntervalMs, suspectAfterMs, downAfterMs } = config;
  for (const [name, value] of Object.entries({ heartbeatIntervalMs, suspectAfterMs, downAfterMs })) {
    if (!Number.isSafeInteger(value) || value <= 0) return refuse('INVALID_COMMAND', `${name} must be a positive integer, got ${String(value)}`);
  }
  if (suspectAfterMs <= heartbeatIntervalMs) return refuse('INVALID_COMMAND', 'suspectAfterMs must exceed heartbeatIntervalMs');
  if (downAfterMs <= suspectAfterMs) return refuse('INVALID_COMMAND', 'downAfterMs must exceed suspectAfterMs');
  return { ok: true, config: Object.freeze({ ...config }) };
}

/** Health from silence alone: the boundaries belong to the worse state (silence == suspectAfterMs is suspect). */
export function healthForSilence(silenceMs: number, config: FailureDetectorConfig): NodeHealth {
  if (silenceMs >= config.downAfterMs) return 'down';
  if (silenceMs >= config.suspectAfterMs) return 'suspect';
  return 'alive';
}

export interface HealthTransition {
  readonly nodeId: string;
  readonly from: NodeHealth;
  readonly to: NodeHealth;
}

function assertTime(nowMs: number): void {
  if (!Number.isFinite(nowMs)) throw new RangeError(`nowMs must be a finite number, got ${String(nowMs)}`);
}

/**
 * Last heartbeat per node and the health last reported. Deterministic: the same calls with the same
 * times give the same answers. A node never heard of (not tracked) is `suspect`: there is no evidence
 * that it is dead, but none that it is usable either.
 */
export class FailureDetector {
  private readonly lastHeardMs = new Map<string, number>();
  private readonly reported = new Map<string, NodeHealth>();
  private revisionValue = 0;

  constructor(readonly config: FailureDetectorConfig = FAILURE_DETECTOR_DEFAULTS) {
    const checked = validateFailureDetectorConfig(config);
    if (!checked.ok) throw new RangeError(checked.error.message);
  }

  /** A heartbeat from `nodeId` at `nowMs`. An older time than one already seen changes nothing. */
  recordHeartbeat(nodeId: string, nowMs: number): void {
    assertTime(nowMs);
    const previous = this.lastHeardMs.get(nodeId);
    if (previous === undefined || nowMs > previous) this.lastHeardMs.set(nodeId, nowMs);
  }

  /** Start the clock for nodes not yet tracked (on registration and on becoming controller leader). */
  trackNodes(nodeIds: Iterable<string>, nowMs: number): void {
    assertTime(nowMs);
    for (const nodeId of nodeIds) if (!this.lastHeardMs.has(nodeId)) this.lastHeardMs.set(nodeId, nowMs);
  }

  /** Stop tracking a removed node. */
  forget(nodeId: string): void {
    this.lastHeardMs.delete(nodeId);
    if (this.reported.delete(nodeId)) this.revisionValue++;
  }

  healthOf(nodeId: string, nowMs: number): NodeHealth {
    assertTime(nowMs);
    const last = this.lastHeardMs.get(nodeId);
    if (last === undefined) return 'suspect';
    return healthForSilence(Math.max(0, nowMs - last), this.config);
  }

  /**
   * Health of every tracked node at `nowMs`, and the transitions since the previous `evaluate`. The
   * revision bumps whenever something changed, so the routing table can say its health is newer.
   */
  evaluate(nowMs: number): { health: Map<string, NodeHealth>; transitions: HealthTransition[]; revision: number } {
    const health = new Map<string, NodeHealth>();
    const transitions: HealthTransition[] = [];
    for (const nodeId of [...this.lastHeardMs.keys()].sort()) {
      const current = this.healthOf(nodeId, nowMs);
      const previous = this.reported.get(nodeId) ?? 'alive';
      if (current !== previous) transitions.push({ nodeId, from: previous, to: current });
      this.reported.set(nodeId, current);
      health.set(nodeId, current);
    }
    if (transitions.length > 0) this.revisionValue++;
    return { health, transitions, revision: this.revisionValue };
  }

  /** Bumps on every evaluate that saw a transition, and on forget. */
  get revision(): number {
    return this.revisionValue;
  }
}

// A node's heartbeat, published every 500 ms on `<prefix>.ctl.heartbeat` by its supervisor: that it is
// alive, its weight and drain state, the replicas it hosts (running or not) and what each running one
// reports. Every controller candidate listens, so the one that becomes active already knows the
// cluster. JSON: twice a second per node is control-plane traffic, not the hot path. Pure.

import type { ReplicaStatus } from '../../supervisor/statusTypes';
import { NODE_ID_PATTERN, WEIGHT_MAX } from './commands';

export const HEARTBEAT_INTERVAL_MS = 500;

export interface HostedReplicaRef {
  readonly partition: number;
  readonly replica: number;
}

export interface Heartbeat {
  readonly node: string;
  readonly weight: number;
  /** The node keeps leaderships away (its local drain flag). */
  readonly drained: boolean;
  /** Every replica in the node's assignment, whether it runs or not. */
  readonly hosted: readonly HostedReplicaRef[];
  /** Status of each running replica. */
  readonly replicas: readonly ReplicaStatus[];
}

const ROLES = new Set(['leader', 'follower', 'candidate', 'pre-candidate', 'stopped']);
const isIndex = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function isReplicaStatus(value: unknown): value is ReplicaStatus {
  if (!isObject(value)) return false;
  if (!isIndex(value.partition) || !isIndex(value.replica) || !isIndex(value.term) || !isIndex(value.commit)) return false;
  if (!ROLES.has(value.role as string) || typeof value.node !== 'string' || !NODE_ID_PATTERN.test(value.node)) return false;
  if (value.confCommitted !== undefined && typeof value.confCommitted !== 'boolean') return false;
  if (value.members !== undefined) {
    const members = value.members as Record<string, unknown>;
    if (!isObject(members) || !Array.isArray(members.voters) || !Array.isArray(members.learners) || ![...members.voters, ...members.learners].every(isIndex)) return false;
  }
  return value.followerLag === undefined || (isObject(value.followerLag) && Object.values(value.followerLag).every((lag) => typeof lag === 'number'));
}

/** The heartbeat in `bytes`, or undefined for anything malformed (one lost heartbeat is harmless). */
export function decodeHeartbeat(bytes: Uint8Array): Heartbeat | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString());
  } catch {
    return undefined;
  }
  if (!isObject(value) || typeof value.node !== 'string' || !NODE_ID_PATTERN.test(value.node)) return undefined;
  if (typeof value.weight !== 'number' || !(value.weight > 0 && value.weight <= WEIGHT_MAX) || typeof value.drained !== 'boolean') return undefined;
  if (!Array.isArray(value.hosted) || !value.hosted.every((ref) => isObject(ref) && isIndex(ref.partition) && isIndex(ref.replica))) return undefined;
  if (!Array.isArray(value.replicas) || !value.replicas.every(isReplicaStatus)) return undefined;
  return value as unknown as Heartbeat;
}

export function encodeHeartbeat(heartbeat: Heartbeat): Uint8Array {
  return Buffer.from(JSON.stringify(heartbeat));
}

// The NATS subject scheme of cairn: one place that names every subject, so that no other module
// concatenates subject strings by hand (a typo there silently routes to nobody).
//
// Public (any NATS client):   <p>.kv.put  <p>.kv.get  <p>.kv.del  <p>.kv.cas  <p>.cluster.status
// Internal (cairn only):      <p>.raft.<partition>.<replica>   a replica's Raft inbox
//                             <p>.rnode.<node>                 a node's Raft inbox (frames for many partitions)
//                             <p>.part.<partition>.lead        whoever leads the partition subscribes
//                             <p>.part.<partition>.read        queue group of replicas serving stale reads
//                             <p>.snap.<partition>.<replica>   snapshot streaming to a replica
//                             <p>.rtr.<router>.<seq>, .ack     a router's retry inbox (bus/routedReplies.ts)
//                             <p>.ctl.<name>, <p>.ctl.>         control (fault injection, admin)

export const DEFAULT_PREFIX = 'cairn';

/** Queue group of replicas sharing `<p>.part.<partition>.read`; the subject already names the partition. */
export const READ_QUEUE_GROUP = 'cairn-read';

/** Queue group of router actors sharing the public subjects. */
export const ROUTER_QUEUE_GROUP = 'cairn-router';

export type SubjectErrorCode = 'BAD_PREFIX' | 'BAD_TOKEN';

export class SubjectError extends Error {
  override readonly name = 'SubjectError';
  constructor(
    readonly code: SubjectErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// NATS itself accepts any token without whitespace, '.', '*' or '>'. We accept a stricter alphabet
// because prefixes and ids end up in shell commands, ACL files and metric labels, where anything
// beyond [A-Za-z0-9_-] needs quoting.
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const PREFIX_TOKENS_MAX = 8;

/** Partition ids are non-negative integers or simple tokens (the controller decides which). */
export type PartitionId = number | string;

export interface Subjects {
  readonly prefix: string;
  readonly kvPut: string;
  readonly kvGet: string;
  readonly kvDel: string;
  readonly kvCas: string;
  readonly clusterStatus: string;
  /** Every control subject, for a process that listens to all of them. */
  readonly controlAll: string;
  raft(partition: PartitionId, replica: number): string;
  /** Inbox of one node's replica host: Raft frames for every replica on that node (bus/raftMux.ts). */
  raftNode(nodeId: string): string;
  partitionLead(partition: PartitionId): string;
  partitionRead(partition: PartitionId): string;
  snapshot(partition: PartitionId, replica: number): string;
  control(name: string): string;
  /** Inbox of one router: refusals to retry (`.<seq>`) and batched acknowledgements (`.ack`). */
  routerInbox(routerId: string): string;
}

/** Throws SubjectError unless `prefix` is one or more dot-separated tokens of [A-Za-z0-9_-]. */
export function validatePrefix(prefix: string): void {
  if (typeof prefix !== 'string' || prefix.length === 0) {
    throw new SubjectError('BAD_PREFIX', 'subject prefix must be a non-empty string');
  }
  const tokens = prefix.split('.');
  if (tokens.length > PREFIX_TOKENS_MAX) {
    throw new SubjectError('BAD_PREFIX', `subject prefix has more than ${PREFIX_TOKENS_MAX} tokens: ${JSON.stringify(prefix)}`);
  }
  for (const token of tokens) {
    if (!TOKEN_PATTERN.test(token)) {
      throw new SubjectError('BAD_PREFIX', `subject prefix token ${JSON.stringify(token)} is not [A-Za-z0-9_-]{1,64}`);
    }
  }
}

/** Builds the subject scheme for `prefix`; validates the prefix once so that every getter is cheap. */
export function subjects(prefix: string = DEFAULT_PREFIX): Subjects {
  validatePrefix(prefix);
  return {
    prefix,
    kvPut: `${prefix}.kv.put`,
    kvGet: `${prefix}.kv.get`,
    kvDel: `${prefix}.kv.del`,
    kvCas: `${prefix}.kv.cas`,
    clusterStatus: `${prefix}.cluster.status`,
    controlAll: `${prefix}.ctl.>`,
    raft: (partition, replica) => `${prefix}.raft.${partitionToken(partition)}.${replicaToken(replica)}`,
    raftNode: (nodeId) => `${prefix}.rnode.${plainToken(nodeId, 'node id')}`,
    partitionLead: (partition) => `${prefix}.part.${partitionToken(partition)}.lead`,
    partitionRead: (partition) => `${prefix}.part.${partitionToken(partition)}.read`,
    snapshot: (partition, replica) => `${prefix}.snap.${partitionToken(partition)}.${replicaToken(replica)}`,
    control: (name) => `${prefix}.ctl.${plainToken(name, 'control name')}`,
    routerInbox: (routerId) => `${prefix}.rtr.${plainToken(routerId, 'router id')}`,
  };
}

function partitionToken(partition: PartitionId): string {
  if (typeof partition === 'number') {
    if (!Number.isSafeInteger(partition) || partition < 0) {
      throw new SubjectError('BAD_TOKEN', `partition id must be a non-negative safe integer, got ${partition}`);
    }
    return String(partition);
  }
  return plainToken(partition, 'partition id');
}

function replicaToken(replica: number): string {
  // Replica ids are positive: 0 means "none" in the Raft core (actors/raft/types.ts).
  if (!Number.isSafeInteger(replica) || replica <= 0) {
    throw new SubjectError('BAD_TOKEN', `replica id must be a positive safe integer, got ${replica}`);
  }
  return String(replica);
}

function plainToken(token: string, what: string): string {
  if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) {
    throw new SubjectError('BAD_TOKEN', `${what} ${JSON.stringify(token)} is not [A-Za-z0-9_-]{1,64}`);
  }
  return token;
}

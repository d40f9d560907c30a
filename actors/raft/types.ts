// The data the Raft core exchanges with its driver. Pure values: no I/O, no classes with behaviour.
// Replica ids are positive integers, unique within one Raft group; 0 means "none".

export const NONE = 0;

export enum EntryType {
  Normal = 0,
  ConfChange = 1,
}

/** One log entry. `data` is opaque to the core except for ConfChange entries (see confChange.ts). */
export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** Durable per-replica state. Must be on disk before any message of the same Ready is sent. */
export interface HardState {
  term: number;
  vote: number;
  commit: number;
}

/** The membership of a group: voters decide elections and commits, learners only receive the log. */
export interface ConfState {
  voters: number[];
  learners: number[];
}

/** Describes the state a snapshot captures: everything up to and including `index`. */
export interface SnapshotMeta {
  index: number;
  term: number;
  confState: ConfState;
}

/**
 * A snapshot as the core sees it. `data` is whatever the driver put in (the simulator puts the whole
 * state machine; the LMDB driver leaves it empty and streams the state machine out of band).
 */
export interface Snapshot {
  meta: SnapshotMeta;
  data?: Uint8Array;
}

export enum MessageType {
  Vote = 1,
  VoteResponse = 2,
  PreVote = 3,
  PreVoteResponse = 4,
  Append = 5,
  AppendResponse = 6,
  Heartbeat = 7,
  HeartbeatResponse = 8,
  Snapshot = 9,
  TimeoutNow = 10,
  TransferLeader = 11,
}

/**
 * One Raft message. A flat record (like etcd's raftpb.Message) so that codecs stay trivial.
 * Field meaning per type:
 * - Vote/PreVote: `index`/`logTerm` = candidate's last log position; `context` = 1 when a leader transfer forces it.
 * - Append: `index`/`logTerm` = position before `entries`; `commit` = leader's commit.
 * - AppendResponse: `index` = highest matching index on success; on reject `index` = the rejected
 *   probe index, `rejectHint` = follower's suggested index and `logTerm` = its term at that index.
 * - Heartbeat/HeartbeatResponse: `commit` (heartbeat only), `context` = read round being confirmed.
 * - Snapshot: `snapshot` carries the metadata (and data in the simulator).
 */
export interface Message {
  type: MessageType;
  from: number;
  to: number;
  term: number;
  logTerm?: number;
  index?: number;
  commit?: number;
  entries?: Entry[];
  reject?: boolean;
  rejectHint?: number;
  context?: number;
  snapshot?: Snapshot;
}

export enum Role {
  Follower = 'follower',
  PreCandidate = 'pre-candidate',
  Candidate = 'candidate',
  Leader = 'leader',
}

/** Volatile state the driver may want to react to (e.g. subscribe to the leader subject). */
export interface SoftState {
  leader: number;
  role: Role;
}

/** A linearizable read became safe: serve it once the state machine has applied `index`. */
export interface ReadState {
  context: number;
  index: number;
}

/**
 * What the driver must do, in this order:
 * 1. Install `snapshot` (if any) into the state machine and storage.
 * 2. Append `entries` to stable storage (an entry at index i replaces any stored entry >= i),
 *    and save `hardState` (if any). Both must be durable (fsync) before step 3.
 * 3. Send `messages`. Exception: Append and Heartbeat messages (only a leader sends them) may be sent
 *    before step 2 completes, in parallel with the leader's own fsync (Raft thesis §10.2.1): the core
 *    counts the leader's own log towards a commit only once advance() confirms it durable.
 * 4. Apply `committedEntries` in order; serve `readStates` once applied >= their index.
 * 5. Call `advance(ready)`.
 * `softState` may be acted on at any time.
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  snapshot?: Snapshot;
  entries: Entry[];
  messages: Message[];
  committedEntries: Entry[];
  readStates: ReadState[];
  /** Contexts of reads that can no longer be confirmed (leadership lost): fail them, the client may retry. */
  readsDropped: number[];
}

/**
 * The core's read-only view of stable storage, synchronous like etcd's raft.Storage.
 * Invariant: snapshot().meta.index === firstIndex() - 1, and term(firstIndex() - 1) is answerable.
 */
export interface RaftStorage {
  /** Hard state and the membership as of the latest snapshot. */
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [low, high), at least one entry even if it exceeds `bytesMax`. */
  entries(low: number, high: number, bytesMax: number): Entry[];
  /** Term of entry `index`, for firstIndex()-1 <= index <= lastIndex(); undefined outside that range. */
  term(index: number): number | undefined;
  firstIndex(): number;
  lastIndex(): number;
  /** The most recent snapshot the storage can hand to a lagging follower. */
  snapshot(): Snapshot;
}

/** Expected refusals of a client-facing call; never thrown, returned. */
export type ProposeRefusal = 'NOT_LEADER' | 'TRANSFERRING' | 'PROPOSALS_FULL' | 'CONF_CHANGE_PENDING' | 'BAD_CONF_CHANGE';

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: false; code: ProposeRefusal; leader: number };

/** Sizes an entry counts for in batching and flow control. */
export function entryBytes(entry: Entry): number {
  return entry.data.byteLength + 24;
}

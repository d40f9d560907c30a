// Follower side of replication: appending the leader's entries, learning the commit index, installing
// snapshots, and starting an election when a leader hands over.

import type { Raft } from './raft';
import { campaign } from './election';
import { Message, MessageType } from './types';

export function step(raft: Raft, message: Message): void {
  switch (message.type) {
    case MessageType.Append:
      heardFromLeader(raft, message);
      handleAppend(raft, message);
      return;
    case MessageType.Heartbeat:
      heardFromLeader(raft, message);
      handleHeartbeat(raft, message);
      return;
    case MessageType.Snapshot:
      heardFromLeader(raft, message);
      handleSnapshot(raft, message);
      return;
    case MessageType.TimeoutNow:
      // Leader transfer: campaign at once, without PreVote and past any lease (dissertation §3.10).
      campaign(raft, true);
      return;
    default:
      return;
  }
}

function heardFromLeader(raft: Raft, message: Message): void {
  raft.electionElapsed = 0;
  raft.leader = message.from;
}

function handleAppend(raft: Raft, message: Message): void {
  const log = raft.log;
  const index = message.index ?? 0;
  const reply = { type: MessageType.AppendResponse, from: raft.id, to: message.from, term: raft.term };
  if (index < log.committed) {
    // Everything up to our commit index already matches the leader's log.
    raft.send({ ...reply, index: log.committed });
    return;
  }
  const entries = message.entries ?? [];
  const appended = log.maybeAppend(index, message.logTerm ?? 0, message.commit ?? 0, entries);
  if (appended) {
    if (appended.writtenFrom <= appended.lastNewIndex) raft.logRewrittenFrom(appended.writtenFrom);
    raft.send({ ...reply, index: appended.lastNewIndex });
    return;
  }
  // Hint where the leader should probe next: skip every entry of a term the leader cannot have (§5.3 opt).
  const hintIndex = log.findConflictByTerm(Math.min(index, log.lastIndex()), message.logTerm ?? 0);
  const hintTerm = log.term(hintIndex) ?? 0;
  raft.send({ ...reply, index, reject: true, rejectHint: hintIndex, logTerm: hintTerm });
}

function handleHeartbeat(raft: Raft, message: Message): void {
  const commit = message.commit ?? 0;
  if (commit > raft.log.committed && commit <= raft.log.lastIndex()) raft.log.commitTo(commit);
  raft.send({ type: MessageType.HeartbeatResponse, from: raft.id, to: message.from, term: raft.term, context: message.context });
}

function handleSnapshot(raft: Raft, message: Message): void {
  const snapshot = message.snapshot!;
  const { index, term, confState } = snapshot.meta;
  const reply = { type: MessageType.AppendResponse, from: raft.id, to: message.from, term: raft.term };
  if (index <= raft.log.committed) {
    raft.send({ ...reply, index: raft.log.committed });
    return;
  }
  if (raft.log.matchTerm(index, term)) {
    // We already hold the snapshot's last entry, so our log up to it is the leader's: just commit.
    raft.log.commitTo(index);
    raft.send({ ...reply, index: raft.log.committed });
    return;
  }
  // The snapshot's membership may predate our own addition: the entries after it will add us.
  raft.log.restore(snapshot);
  raft.logRestored(confState, index);
  raft.send({ ...reply, index: raft.log.lastIndex() });
}

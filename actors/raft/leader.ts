// Leader side: heartbeats, CheckQuorum, pipelined replication with flow control, snapshots for followers
// whose next entry was compacted away, commit by majority, ReadIndex confirmation and leader transfer.

import type { Raft } from './raft';
import { Progress, ProgressState } from './progress';
import { Message, MessageType, NONE, Role } from './types';

export function tick(raft: Raft): void {
  raft.heartbeatElapsed++;
  raft.electionElapsed++;
  if (raft.electionElapsed >= raft.electionTicks) {
    raft.electionElapsed = 0;
    if (raft.checkQuorum && !quorumActive(raft)) {
      raft.becomeFollower(raft.term, NONE);
      return;
    }
    for (const progress of raft.progress.values()) progress.recentActive = false;
    // A transfer that did not finish within an election timeout is abandoned so proposals flow again.
    raft.leadTransferee = NONE;
  }
  if (raft.heartbeatElapsed >= raft.heartbeatTicks) {
    raft.heartbeatElapsed = 0;
    broadcastHeartbeat(raft);
  }
}

function quorumActive(raft: Raft): boolean {
  let active = raft.isVoter(raft.id) ? 1 : 0;
  for (const id of raft.conf.voters) {
    if (id !== raft.id && raft.progress.get(id)?.recentActive) active++;
  }
  return active >= raft.voterQuorum();
}

export function step(raft: Raft, message: Message): void {
  const progress = raft.progress.get(message.from);
  if (!progress) return;
  if (message.type === MessageType.AppendResponse) handleAppendResponse(raft, message, progress);
  else if (message.type === MessageType.HeartbeatResponse) handleHeartbeatResponse(raft, message, progress);
}

function handleAppendResponse(raft: Raft, message: Message, progress: Progress): void {
  progress.recentActive = true;
  const index = message.index ?? 0;
  if (message.reject) {
    let hint = message.rejectHint ?? 0;
    if ((message.logTerm ?? 0) > 0) hint = raft.log.findConflictByTerm(hint, message.logTerm!);
    if (progress.maybeDecreaseTo(index, hint)) {
      if (progress.state === ProgressState.Replicate) progress.becomeProbe();
      sendAppend(raft, message.from, true);
    }
    return;
  }
  const wasPaused = progress.isPaused();
  if (!progress.maybeUpdate(index)) return;
  if (progress.state === ProgressState.Probe) {
    progress.becomeReplicate();
  } else if (progress.state === ProgressState.Snapshot && progress.match >= progress.pendingSnapshot) {
    progress.becomeProbe();
    progress.becomeReplicate();
  } else if (progress.state === ProgressState.Replicate) {
    progress.inflights.freeLE(index);
  }
  if (maybeCommit(raft)) {
    if (raft.role !== Role.Leader) return;
    broadcastAppend(raft, true);
  } else if (wasPaused) {
    sendAppend(raft, message.from, false);
  }
  while (sendAppend(raft, message.from, false)) {
    // Pipelining: fill the follower's in-flight window.
  }
  if (message.from === raft.leadTransferee && progress.match === raft.log.lastIndex()) sendTimeoutNow(raft, message.from);
}

function handleHeartbeatResponse(raft: Raft, message: Message, progress: Progress): void {
  progress.recentActive = true;
  progress.probeSent = false;
  if (progress.match < raft.log.lastIndex()) {
    // An append at `next - 1` (empty when nothing is new) is confirmed or rejected, and a rejection sends
    // us back to probing: appends the network lost are found even when no new entries arrive. A window
    // still full a heartbeat later is taken as lost and resent from the match point.
    if (progress.state === ProgressState.Replicate && progress.isPaused()) progress.becomeProbe();
    sendAppend(raft, message.from, true);
  }
  const round = message.context ?? 0;
  if (round > progress.readRoundAcked && raft.isVoter(message.from)) {
    progress.readRoundAcked = round;
    raft.reads.confirm(quorumReadRound(raft), raft.readStates);
  }
}

/** Highest read round that a quorum of voters has confirmed. */
function quorumReadRound(raft: Raft): number {
  const rounds = raft.conf.voters.map((id) =>
    id === raft.id ? raft.reads.currentRound() : raft.progress.get(id)?.readRoundAcked ?? 0,
  );
  rounds.sort((a, b) => b - a);
  return rounds[raft.voterQuorum() - 1];
}

/** Advances the commit index to what a majority of voters holds, if that entry is of this term. */
export function maybeCommit(raft: Raft): boolean {
  const matches = raft.conf.voters.map((id) =>
    id === raft.id ? raft.log.stableLastIndex() : raft.progress.get(id)?.match ?? 0,
  );
  matches.sort((a, b) => b - a);
  if (!raft.log.maybeCommit(matches[raft.voterQuorum() - 1], raft.term)) return false;
  if (raft.log.committed >= raft.termStartIndex) raft.reads.releaseTermCommitWaiters(raft.log.committed);
  if (!raft.isVoter(raft.id) && raft.log.committed >= raft.lastConfIndex()) {
    // Our own removal is committed: step down; the remaining voters elect a leader among themselves.
    broadcastAppend(raft, true);
    raft.becomeFollower(raft.term, NONE);
  }
  return true;
}

/** Our own log was persisted up to its stable end: that counts as our acknowledgement. */
export function selfPersisted(raft: Raft): void {
  if (raft.isVoter(raft.id) && maybeCommit(raft) && raft.role === Role.Leader) broadcastAppend(raft, true);
}

export function broadcastAppend(raft: Raft, sendIfEmpty = false): void {
  for (const id of raft.progress.keys()) sendAppend(raft, id, sendIfEmpty);
}

export function broadcastHeartbeat(raft: Raft): void {
  const round = raft.reads.needsBroadcast() ? raft.reads.takeRoundToBroadcast() : raft.reads.currentRound();
  for (const [id, progress] of raft.progress) {
    const commit = Math.min(progress.match, raft.log.committed);
    raft.send({ type: MessageType.Heartbeat, from: raft.id, to: id, term: raft.term, commit, context: round });
  }
}

/** Sends the next batch of entries to `target`; returns whether a message went out. */
export function sendAppend(raft: Raft, target: number, sendIfEmpty: boolean): boolean {
  const progress = raft.progress.get(target);
  if (!progress || progress.isPaused()) return false;
  const previousIndex = progress.next - 1;
  const previousTerm = raft.log.term(previousIndex);
  const entries = raft.log.entries(progress.next, raft.log.lastIndex() + 1, raft.appendBytesMax, raft.appendEntriesMax);
  if (previousTerm === undefined || entries === undefined) return sendSnapshot(raft, target, progress);
  if (entries.length === 0 && !sendIfEmpty) return false;
  raft.send({
    type: MessageType.Append,
    from: raft.id,
    to: target,
    term: raft.term,
    index: previousIndex,
    logTerm: previousTerm,
    entries,
    commit: raft.log.committed,
  });
  progress.sentEntries(entries.length, previousIndex + entries.length);
  return true;
}

function sendSnapshot(raft: Raft, target: number, progress: Progress): boolean {
  // Only stream a snapshot to a follower we know is alive: it is expensive.
  if (!progress.recentActive) return false;
  const snapshot = raft.log.snapshot();
  raft.send({ type: MessageType.Snapshot, from: raft.id, to: target, term: raft.term, snapshot });
  progress.becomeSnapshot(snapshot.meta.index);
  return true;
}

export function snapshotReported(raft: Raft, target: number, succeeded: boolean): void {
  const progress = raft.progress.get(target);
  if (!progress || progress.state !== ProgressState.Snapshot) return;
  if (!succeeded) progress.pendingSnapshot = 0;
  progress.becomeProbe();
  // Wait for the follower's next answer (append or heartbeat response) before probing again.
  progress.probeSent = true;
}

export function sendTimeoutNow(raft: Raft, target: number): void {
  raft.timeoutNowTerm = raft.term;
  raft.send({ type: MessageType.TimeoutNow, from: raft.id, to: target, term: raft.term });
}

/** Keeps the progress map equal to the membership in effect. */
export function membershipChanged(raft: Raft): void {
  const members = new Set(raft.members());
  for (const id of [...raft.progress.keys()]) {
    if (!members.has(id)) raft.progress.delete(id);
  }
  for (const id of members) {
    if (id === raft.id) continue;
    const isLearner = raft.conf.learners.includes(id);
    const existing = raft.progress.get(id);
    if (existing) existing.isLearner = isLearner;
    else raft.progress.set(id, new Progress(raft.log.lastIndex() + 1, raft.inflightMessagesMax, isLearner));
  }
  if (raft.leadTransferee !== NONE && !raft.isVoter(raft.leadTransferee)) raft.leadTransferee = NONE;
}

// Elections: timeouts, PreVote (dissertation §9.6), voting, and the term rules every message passes first.

import type { Raft } from './raft';
import * as follower from './follower';
import { Message, MessageType, NONE, Role } from './types';

/** Context value on a Vote that a leader transfer forced: it bypasses the leader lease. */
export const FORCED_BY_TRANSFER = 1;

export function tickFollower(raft: Raft): void {
  raft.electionElapsed++;
  if (raft.electionElapsed >= raft.randomizedElectionTimeout && raft.isVoter(raft.id)) {
    raft.electionElapsed = 0;
    campaign(raft, false);
  }
}

/** Starts a (pre-)election. A forced one (leader transfer) skips PreVote and the lease. */
export function campaign(raft: Raft, forced: boolean): void {
  if (!raft.isVoter(raft.id)) return;
  const pre = raft.preVote && !forced;
  if (pre) {
    raft.reset(raft.term);
    raft.role = Role.PreCandidate;
  } else {
    raft.reset(raft.term + 1);
    raft.role = Role.Candidate;
    raft.vote = raft.id;
  }
  const term = pre ? raft.term + 1 : raft.term;
  if (recordVote(raft, raft.id, true)) return;
  const type = pre ? MessageType.PreVote : MessageType.Vote;
  const index = raft.log.lastIndex();
  const logTerm = raft.log.lastTerm();
  for (const id of raft.conf.voters) {
    if (id === raft.id) continue;
    raft.send({ type, from: raft.id, to: id, term, index, logTerm, context: forced ? FORCED_BY_TRANSFER : undefined });
  }
}

/** Counts a vote; returns true when the election was decided (won or lost). */
function recordVote(raft: Raft, from: number, granted: boolean): boolean {
  if (!raft.votes.has(from)) raft.votes.set(from, granted);
  let granting = 0;
  let rejecting = 0;
  for (const id of raft.conf.voters) {
    const vote = raft.votes.get(id);
    if (vote === true) granting++;
    else if (vote === false) rejecting++;
  }
  const quorum = raft.voterQuorum();
  if (granting >= quorum) {
    if (raft.role === Role.PreCandidate) campaign(raft, true);
    else raft.becomeLeader();
    return true;
  }
  if (rejecting >= quorum) {
    raft.becomeFollower(raft.term, NONE);
    return true;
  }
  return false;
}

function inLease(raft: Raft): boolean {
  if (raft.checkQuorum && raft.quietTicksLeft > 0) return true;
  return raft.checkQuorum && raft.leader !== NONE && raft.electionElapsed < raft.electionTicks;
}

/**
 * Applies the term rules; returns false when the message is consumed here (stale, ignored or a vote
 * request handled entirely by term logic).
 */
export function filterByTerm(raft: Raft, message: Message): boolean {
  if (message.term > raft.term) {
    const isVoteRequest = message.type === MessageType.Vote || message.type === MessageType.PreVote;
    // A replica that heard from a leader within the election timeout ignores disruptive candidates (§4.2.3).
    if (isVoteRequest && message.context !== FORCED_BY_TRANSFER && inLease(raft)) return false;
    const keepsTerm =
      message.type === MessageType.PreVote || (message.type === MessageType.PreVoteResponse && !message.reject);
    if (!keepsTerm) {
      const fromLeader =
        message.type === MessageType.Append || message.type === MessageType.Heartbeat || message.type === MessageType.Snapshot;
      raft.becomeFollower(message.term, fromLeader ? message.from : NONE);
    }
  } else if (message.term < raft.term) {
    answerStale(raft, message);
    return false;
  }
  if (message.type === MessageType.Vote || message.type === MessageType.PreVote) {
    answerVoteRequest(raft, message);
    return false;
  }
  return true;
}

function answerStale(raft: Raft, message: Message): void {
  if ((raft.checkQuorum || raft.preVote) && (message.type === MessageType.Append || message.type === MessageType.Heartbeat)) {
    // Tell a deposed leader about the newer term; with PreVote it would otherwise never learn of it.
    raft.send({ type: MessageType.AppendResponse, from: raft.id, to: message.from, term: raft.term, index: 0 });
  } else if (message.type === MessageType.PreVote) {
    raft.send({ type: MessageType.PreVoteResponse, from: raft.id, to: message.from, term: raft.term, reject: true });
  }
}

function answerVoteRequest(raft: Raft, message: Message): void {
  const pre = message.type === MessageType.PreVote;
  const canVote =
    raft.vote === message.from ||
    (raft.vote === NONE && raft.leader === NONE) ||
    (pre && message.term > raft.term);
  const upToDate = raft.log.isUpToDate(message.index ?? 0, message.logTerm ?? 0);
  const type = pre ? MessageType.PreVoteResponse : MessageType.VoteResponse;
  if (canVote && upToDate) {
    raft.send({ type, from: raft.id, to: message.from, term: message.term, reject: false });
    if (!pre) {
      raft.electionElapsed = 0;
      raft.vote = message.from;
    }
  } else {
    raft.send({ type, from: raft.id, to: message.from, term: raft.term, reject: true });
  }
}

export function stepCandidate(raft: Raft, message: Message): void {
  const expected = raft.role === Role.PreCandidate ? MessageType.PreVoteResponse : MessageType.VoteResponse;
  switch (message.type) {
    case MessageType.Append:
    case MessageType.Heartbeat:
    case MessageType.Snapshot:
      raft.becomeFollower(message.term, message.from);
      follower.step(raft, message);
      return;
    case expected:
      recordVote(raft, message.from, !message.reject);
      return;
    default:
      return;
  }
}

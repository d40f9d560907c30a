// Membership changes, one server at a time (Raft dissertation §4.1): each change adds or removes at most one
// voter, so any two successive majorities overlap. A configuration takes effect as soon as its entry is in
// a server's log, committed or not (dissertation §4.1), so the log is the source of truth and a truncated
// configuration entry reverts the membership.

import { assert } from './assert';
import { ConfState } from './types';

export enum ConfChangeType {
  AddVoter = 1,
  AddLearner = 2,
  PromoteLearner = 3,
  RemoveNode = 4,
}

export interface ConfChange {
  type: ConfChangeType;
  replica: number;
}

export function encodeConfChange(change: ConfChange): Uint8Array {
  const bytes = new Uint8Array(5);
  bytes[0] = change.type;
  new DataView(bytes.buffer).setUint32(1, change.replica);
  return bytes;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  assert(data.byteLength === 5, `conf change entry has ${data.byteLength} bytes, expected 5`);
  const type = data[0] as ConfChangeType;
  assert(type >= ConfChangeType.AddVoter && type <= ConfChangeType.RemoveNode, `unknown conf change type ${type}`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { type, replica: view.getUint32(1) };
}

/** Why a change cannot apply to a configuration, or undefined when it can. */
export function confChangeRefusal(conf: ConfState, change: ConfChange): string | undefined {
  const isVoter = conf.voters.includes(change.replica);
  const isLearner = conf.learners.includes(change.replica);
  if (!Number.isSafeInteger(change.replica) || change.replica <= 0) return 'replica id must be a positive integer';
  switch (change.type) {
    case ConfChangeType.AddVoter:
      return isVoter ? 'already a voter' : undefined;
    case ConfChangeType.AddLearner:
      return isVoter || isLearner ? 'already a member' : undefined;
    case ConfChangeType.PromoteLearner:
      return isLearner ? undefined : 'not a learner';
    case ConfChangeType.RemoveNode:
      if (!isVoter && !isLearner) return 'not a member';
      return isVoter && conf.voters.length === 1 ? 'cannot remove the last voter' : undefined;
    default:
      return 'unknown change type';
  }
}

export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  const voters = conf.voters.filter((id) => id !== change.replica);
  const learners = conf.learners.filter((id) => id !== change.replica);
  switch (change.type) {
    case ConfChangeType.AddVoter:
    case ConfChangeType.PromoteLearner:
      voters.push(change.replica);
      break;
    case ConfChangeType.AddLearner:
      learners.push(change.replica);
      break;
    case ConfChangeType.RemoveNode:
      break;
  }
  voters.sort((a, b) => a - b);
  learners.sort((a, b) => a - b);
  return { voters, learners };
}

export function cloneConfState(conf: ConfState): ConfState {
  return { voters: [...conf.voters], learners: [...conf.learners] };
}

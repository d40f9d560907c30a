// Membership changes asked of a partition leader on `<lead>.conf`: {"type":"addLearner"|"promote"|
// "remove","replica":R} (operators and, later, the controller; not part of the public protocol). A
// request is answered once its ConfChange entry is applied, so the asker knows the change took effect.

import type { Msg } from 'nats';
import { ConfChange, ConfChangeType, ConfState, Entry, ProposeResult } from '../raft';
import { respond, respondError } from './clientRequests';

const CONF_TYPES: Record<string, ConfChangeType> = {
  addLearner: ConfChangeType.AddLearner,
  promote: ConfChangeType.PromoteLearner,
  remove: ConfChangeType.RemoveNode,
};

export class MembershipRequests {
  private readonly pending = new Map<number, { term: number; message: Msg }>();

  /** Validates the request and proposes it with `propose`; refusals are answered at once. */
  handle(message: Msg, propose: (change: ConfChange) => ProposeResult): boolean {
    const change = parseChange(message.data);
    if (change === undefined) {
      respondError(message, 'BAD_REQUEST', 'expected {"type":"addLearner"|"promote"|"remove","replica":<positive integer>}');
      return false;
    }
    const result = propose(change);
    if (!result.ok) {
      const code = result.code === 'NOT_LEADER' ? 'NOT_LEADER' : result.code === 'BAD_CONF_CHANGE' ? 'BAD_REQUEST' : 'UNAVAILABLE';
      respondError(message, code, `membership change refused: ${result.code}`, result.leader);
      return false;
    }
    this.pending.set(result.index, { term: result.term, message });
    return true;
  }

  /** A ConfChange entry was applied; `conf` is the membership it produced. */
  applied(entry: Entry, conf: ConfState): void {
    const request = this.pending.get(entry.index);
    if (!request) return;
    this.pending.delete(entry.index);
    // Another leader's entry took this index: our proposal was never applied anywhere.
    if (request.term !== entry.term) return respondError(request.message, 'NOT_LEADER', 'leadership changed before the membership change committed');
    respond(request.message, Buffer.from(JSON.stringify({ ok: true, index: entry.index, voters: conf.voters, learners: conf.learners })));
  }

  /** Leadership was lost: the entries may still commit under the next leader, so the answer is indeterminate. */
  leadershipLost(leader: number): void {
    for (const { message } of this.pending.values()) respondError(message, 'UNAVAILABLE', 'leadership changed; the membership change may or may not apply', leader);
    this.pending.clear();
  }
}

function parseChange(data: Uint8Array): ConfChange | undefined {
  let body: { type?: unknown; replica?: unknown };
  try {
    body = JSON.parse(Buffer.from(data).toString()) as typeof body;
  } catch {
    return undefined;
  }
  const type = CONF_TYPES[String(body.type)];
  if (type === undefined || !Number.isSafeInteger(body.replica) || (body.replica as number) <= 0) return undefined;
  return { type, replica: body.replica as number };
}

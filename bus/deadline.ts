// Deadline propagation. A client may say until when its answer is of use: header `Cairn-Deadline`,
// Unix milliseconds. A router or leader that gets a write past that time refuses it with
// DEADLINE_EXCEEDED instead of applying it. Why: a request can sit in a paused process's socket buffer
// (SIGSTOP, a VM freeze) for as long as the pause lasts; forwarded on resume, a write the client gave
// up on long ago would land after the client's later writes and overwrite them. Clocks of different
// machines differ, so a request counts as expired only CLOCK_SKEW_ALLOWANCE_MS after its deadline.

import { headers } from 'nats';
import type { Msg, MsgHdrs } from 'nats';

export const DEADLINE_HEADER = 'Cairn-Deadline';
export const CLOCK_SKEW_ALLOWANCE_MS = 1_000;

export function deadlineHeaders(deadlineMs: number): MsgHdrs {
  const result = headers();
  result.set(DEADLINE_HEADER, String(Math.ceil(deadlineMs)));
  return result;
}

/** The request's deadline, or undefined when it has none (or a malformed one: then it is not enforced). */
export function deadlineOf(message: Pick<Msg, 'headers'>): number | undefined {
  const value = message.headers?.get(DEADLINE_HEADER);
  if (!value || !/^\d{1,16}$/.test(value)) return undefined;
  return Number(value);
}

export function isExpired(deadlineMs: number | undefined, nowMs = Date.now()): boolean {
  return deadlineMs !== undefined && nowMs > deadlineMs + CLOCK_SKEW_ALLOWANCE_MS;
}

// Request ids for writes that may be sent more than once (a router's retries, a cluster-aware client's):
// the state machine applies an id once, so ids must never repeat across senders or restarts. A random
// prefix per source, then a counter: 12 + a few characters of [A-Za-z0-9_-], well inside the 64 the
// protocol allows (storage/kvCommand.ts REQUEST_ID_PATTERN).

import { randomBytes } from 'node:crypto';

export class RequestIdSource {
  private readonly prefix = randomBytes(9).toString('base64url');
  private count = 0;

  next(): string {
    return `${this.prefix}${(this.count++).toString(36)}`;
  }

  /** The part every id of this source starts with (a router names its inbox after it). */
  get sourceId(): string {
    return this.prefix;
  }
}

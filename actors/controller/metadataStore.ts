// The controller's state document in the metadata partition: one key, written only by compare-and-set on
// its revision, so two controllers that both believe they lead cannot interleave their updates; the loser
// of a race re-reads and re-plans. Reads are linearizable (ReadIndex on the metadata leader), so a newly
// elected controller starts from every update its predecessor had acknowledged.

import { randomBytes } from 'node:crypto';
import type { NatsConnection } from 'nats';
import { subjects } from '../../bus/subjects';
import { METADATA_PARTITION } from './metadataPartition';
import { ClusterState } from './clusterState';
import { decodeClusterState, encodeClusterState } from './stateCodec';

export const STATE_KEY = 'controller/state';

export interface StoredState {
  readonly state: ClusterState;
  /** The revision to compare against on the next save; 0 when nothing is stored yet. */
  readonly revision: number;
}

export class MetadataStoreError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export class MetadataStore {
  private readonly lead: string;
  private readonly idPrefix = randomBytes(6).toString('base64url');
  private writes = 0;

  constructor(private readonly nc: NatsConnection, prefix: string, private readonly timeoutMs = 2_000) {
    this.lead = subjects(prefix).partitionLead(METADATA_PARTITION);
  }

  /** The stored state, or `undefined` when the cluster has never had a controller. */
  async load(): Promise<StoredState | undefined> {
    const reply = await this.request(`${this.lead}.get`, { key: STATE_KEY });
    if (reply.value === null || reply.value === undefined) return undefined;
    const decoded = decodeClusterState(Buffer.from(String(reply.value)));
    if (!decoded.ok) throw new MetadataStoreError(decoded.error.code, `the stored controller state is unreadable: ${decoded.error.message}`);
    return { state: decoded.state, revision: Number(reply.revision) };
  }

  /** Writes `state` if the key is still at `revision`; false when another controller wrote first. */
  async save(state: ClusterState, revision: number): Promise<number | false> {
    const value = Buffer.from(encodeClusterState(state)).toString();
    const body = revision === 0 ? { key: STATE_KEY, value, expectedValue: null } : { key: STATE_KEY, value, expectedRevision: revision };
    const reply = await this.request(`${this.lead}.cas.${this.idPrefix}${(this.writes++).toString(36)}`, body);
    return reply.ok === true ? Number(reply.revision) : false;
  }

  private async request(subject: string, body: object): Promise<Record<string, unknown>> {
    const message = await this.nc.request(subject, Buffer.from(JSON.stringify(body)), { timeout: this.timeoutMs });
    const reply = JSON.parse(Buffer.from(message.data).toString()) as Record<string, unknown> & { error?: { code: string; message: string } };
    if (reply.error) throw new MetadataStoreError(reply.error.code, reply.error.message);
    return reply;
  }
}

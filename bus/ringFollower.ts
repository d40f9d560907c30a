// The key ring as the active controller publishes it (docs/resharding.md): routers and cluster-aware
// clients map keys with it, follow `<prefix>.ctl.routing`, and ask the controller again when a partition
// answers WRONG_PARTITION or nobody answers for a partition (it may have been deleted). A stale ring is
// never unsafe: a partition refuses every key that is not its own, so staleness costs a retry only.

import type { NatsConnection, Subscription } from 'nats';
import { PartitionMap, partitionMapOf } from '../actors/router/layout';
import type { Subjects } from './subjects';

/** Refreshes closer together than this share one answer (a burst of refusals asks once). */
const REFRESH_INTERVAL_MS = 100;
const REFRESH_TIMEOUT_MS = 1_000;
const PARTITION_ID_LIMIT = 65535;

export interface RingSnapshot {
  readonly epoch: number;
  readonly partitions: readonly number[];
}

/** The ring of a controller view or routing message, if it carries a valid one. */
export function ringOf(view: unknown): RingSnapshot | undefined {
  const ring = (view as { ring?: { epoch?: unknown; partitions?: unknown } } | null)?.ring;
  if (typeof ring !== 'object' || ring === null) return undefined;
  const { epoch, partitions } = ring;
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) return undefined;
  if (!Array.isArray(partitions) || partitions.length === 0) return undefined;
  if (!partitions.every((id) => Number.isSafeInteger(id) && id >= 0 && id < PARTITION_ID_LIMIT)) return undefined;
  if (new Set(partitions).size !== partitions.length) return undefined;
  return { epoch, partitions: [...(partitions as number[])].sort((a, b) => a - b) };
}

export class RingFollower {
  private map: PartitionMap;
  private epoch = -1;
  private refreshing: Promise<void> | undefined;
  private refreshedAt = 0;
  private subscription: Subscription | undefined;

  /** `initial`: the ring to use until the controller tells (the first layout's, or a client's guess). */
  constructor(private readonly nc: NatsConnection, private readonly subjects: Subjects, initial: PartitionMap) {
    this.map = initial;
  }

  /** Follows the controller's publications from now on. */
  follow(): this {
    this.subscription = this.nc.subscribe(this.subjects.control('routing'), {
      callback: (_, message) => {
        try {
          this.accept(ringOf(JSON.parse(Buffer.from(message.data).toString())));
        } catch {
          // Not JSON: ignored, like any view without a ring.
        }
      },
    });
    return this;
  }

  get ringEpoch(): number {
    return this.epoch;
  }

  get partitions(): readonly number[] {
    return this.map.partitions;
  }

  partitionOf(key: string): number {
    return this.map.partitionOf(key);
  }

  /** Asks the active controller for its ring; concurrent callers share one request. Never throws. */
  refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    const wait = Math.max(0, this.refreshedAt + REFRESH_INTERVAL_MS - Date.now());
    this.refreshing = new Promise<void>((resolve) => setTimeout(resolve, wait))
      .then(() => this.nc.request(this.subjects.control('controller'), Buffer.from('{"op":"state"}'), { timeout: REFRESH_TIMEOUT_MS }))
      .then((reply) => this.accept(ringOf(JSON.parse(Buffer.from(reply.data).toString()))))
      .catch(() => undefined)
      .finally(() => {
        this.refreshedAt = Date.now();
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  close(): void {
    this.subscription?.unsubscribe();
  }

  private accept(ring: RingSnapshot | undefined): void {
    if (ring === undefined || ring.epoch < this.epoch) return;
    this.epoch = ring.epoch;
    this.map = partitionMapOf(ring.partitions);
  }
}

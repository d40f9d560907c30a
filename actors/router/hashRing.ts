/**
 * Consistent-hash ring with virtual nodes and weights.
 *
 * Pure: no I/O, no clock, no randomness. Every router, controller and node
 * must map a key to the same member, so the hash below is part of the wire
 * contract. Changing it (or the vnode label format, or the tie-break rule)
 * moves keys between partitions: the known-answer tests in
 * test/unit/router/hashRing.test.ts exist to catch that.
 *
 * The hash is xxHash32 (Yann Collet, reference XXH32 of xxHash 0.8) over the
 * UTF-8 bytes of the string, seed 0 unless stated. Strings are encoded with
 * the WHATWG UTF-8 encoder (TextEncoder), which writes a lone surrogate as
 * U+FFFD (EF BF BD) — so "\uD800" and "\uFFFD" hash alike. The public
 * protocol refuses lone surrogates before a key reaches the ring.
 *
 * Ring points: a member with id `m` and weight `w` owns
 * max(1, round(vnodesPerUnitWeight * w)) points; point i (0-based) is
 * xxHash32(utf8(m + "#" + decimal(i)), seed 0). A key is owned by the
 * member of the first point >= xxHash32(utf8(key)), wrapping to the first
 * point. Equal points are ordered by member id (UTF-16 code unit order), so
 * the ring does not depend on the order members were given in.
 *
 * See docs/hashing.md for the measurements behind the defaults.
 */

/** Default virtual points per unit of weight; see docs/hashing.md. */
export const VNODES_PER_UNIT_WEIGHT_DEFAULT = 256;

/** Bound on the total number of points in a ring (memory: 12 bytes each). */
export const RING_POINTS_MAX = 4_000_000;

/**
 * Bound on members: member index and point share one float64 sort key
 * (point * 2^21 + index < 2^53), so indices must fit in 21 bits.
 */
export const RING_MEMBERS_MAX = (1 << 21) - 1;

export type RingErrorCode =
  | 'EMPTY_RING'
  | 'INVALID_WEIGHT'
  | 'INVALID_MEMBER_ID'
  | 'DUPLICATE_MEMBER'
  | 'INVALID_VNODES'
  | 'INVALID_COUNT'
  | 'TOO_MANY_POINTS'
  | 'TOO_MANY_MEMBERS'
  | 'UNKNOWN_MEMBER'
  | 'INVALID_PARTITION_ID'
  | 'DUPLICATE_PARTITION';

/** A refused ring configuration or query. Nothing was built or changed. */
export class RingError extends Error {
  override readonly name = 'RingError';
  constructor(readonly code: RingErrorCode, message: string) {
    super(`${code}: ${message}`);
  }
}

export interface RingMember {
  /** Non-empty string id (a partition id such as "p3", or a node id). */
  readonly id: string;
  /** Positive finite number; the member's share of the ring is proportional to it. */
  readonly weight: number;
}

export interface RingOptions {
  /** Virtual points per unit of weight; a positive integer. Default 256. */
  readonly vnodesPerUnitWeight?: number;
}

// ---------------------------------------------------------------- xxHash32

const PRIME32_1 = 0x9e3779b1;
const PRIME32_2 = 0x85ebca77;
const PRIME32_3 = 0xc2b2ae3d;
const PRIME32_4 = 0x27d4eb2f;
const PRIME32_5 = 0x165667b1;

function rotateLeft32(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

function readUint32LittleEndian(bytes: Uint8Array, offset: number): number {
  return (
    bytes[offset] |
    (bytes[offset + 1] << 8) |
    (bytes[offset + 2] << 16) |
    (bytes[offset + 3] << 24)
  );
}

function xxHash32Round(accumulator: number, lane: number): number {
  accumulator = (accumulator + Math.imul(lane, PRIME32_2)) | 0;
  accumulator = rotateLeft32(accumulator, 13);
  return Math.imul(accumulator, PRIME32_1);
}

/**
 * xxHash32 of bytes[0, length) with a 32-bit seed; returns an unsigned
 * 32-bit integer. Bit-exact with the reference XXH32().
 */
export function xxHash32(bytes: Uint8Array, seed = 0, length = bytes.length): number {
  if (!(length >= 0 && length <= bytes.length)) throw new RangeError('xxHash32: length out of range');
  let offset = 0;
  let hash: number;
  if (length >= 16) {
    let v1 = (seed + PRIME32_1 + PRIME32_2) | 0;
    let v2 = (seed + PRIME32_2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - PRIME32_1) | 0;
    const limit = length - 16;
    while (offset <= limit) {
      v1 = xxHash32Round(v1, readUint32LittleEndian(bytes, offset));
      v2 = xxHash32Round(v2, readUint32LittleEndian(bytes, offset + 4));
      v3 = xxHash32Round(v3, readUint32LittleEndian(bytes, offset + 8));
      v4 = xxHash32Round(v4, readUint32LittleEndian(bytes, offset + 12));
      offset += 16;
    }
    hash = (rotateLeft32(v1, 1) + rotateLeft32(v2, 7) + rotateLeft32(v3, 12) + rotateLeft32(v4, 18)) | 0;
  } else {
    hash = (seed + PRIME32_5) | 0;
  }
  // The reference adds the length modulo 2^32.
  hash = (hash + length) | 0;
  while (offset + 4 <= length) {
    hash = (hash + Math.imul(readUint32LittleEndian(bytes, offset), PRIME32_3)) | 0;
    hash = Math.imul(rotateLeft32(hash, 17), PRIME32_4);
    offset += 4;
  }
  while (offset < length) {
    hash = (hash + Math.imul(bytes[offset], PRIME32_5)) | 0;
    hash = Math.imul(rotateLeft32(hash, 11), PRIME32_1);
    offset += 1;
  }
  hash ^= hash >>> 15;
  hash = Math.imul(hash, PRIME32_2);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, PRIME32_3);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

const utf8Encoder = new TextEncoder();
// Scratch buffer reused across calls (synchronous use only, never escapes).
let scratchBytes = new Uint8Array(256);

/**
 * xxHash32 of the UTF-8 encoding of `text` (lone surrogates encode as
 * U+FFFD). This is the ring's key hash.
 */
export function hashString(text: string, seed = 0): number {
  // UTF-8 needs at most 3 bytes per UTF-16 code unit.
  const bytesMax = text.length * 3;
  if (scratchBytes.length < bytesMax) scratchBytes = new Uint8Array(Math.max(bytesMax, scratchBytes.length * 2));
  const { read, written } = utf8Encoder.encodeInto(text, scratchBytes);
  if (read !== text.length) throw new Error('hashString: scratch buffer too small (assertion)');
  return xxHash32(scratchBytes, seed, written);
}

/** Ring position of member `memberId`'s virtual point `pointIndex`. */
export function virtualPointHash(memberId: string, pointIndex: number): number {
  return hashString(`${memberId}#${pointIndex}`);
}

// ---------------------------------------------------------------- ring

function validateMembers(members: readonly RingMember[]): RingMember[] {
  if (!Array.isArray(members)) throw new RingError('EMPTY_RING', 'members must be an array');
  if (members.length === 0) throw new RingError('EMPTY_RING', 'a ring needs at least one member');
  if (members.length > RING_MEMBERS_MAX) {
    throw new RingError('TOO_MANY_MEMBERS', `${members.length} members exceed ${RING_MEMBERS_MAX}`);
  }
  const seen = new Set<string>();
  for (const member of members) {
    if (typeof member?.id !== 'string' || member.id.length === 0) {
      throw new RingError('INVALID_MEMBER_ID', `member id must be a non-empty string, got ${JSON.stringify(member?.id)}`);
    }
    if (typeof member.weight !== 'number' || !Number.isFinite(member.weight) || member.weight <= 0) {
      throw new RingError('INVALID_WEIGHT', `member ${JSON.stringify(member.id)}: weight must be a positive finite number, got ${String(member.weight)}`);
    }
    if (seen.has(member.id)) throw new RingError('DUPLICATE_MEMBER', `member ${JSON.stringify(member.id)} appears twice`);
    seen.add(member.id);
  }
  // Sort by id so that the ring (and equal-point tie-breaks) is independent of input order.
  return members
    .map((member) => ({ id: member.id, weight: member.weight }))
    .sort((left, right) => (left.id < right.id ? -1 : left.id > right.id ? 1 : 0));
}

function validateVnodes(options: RingOptions | undefined): number {
  const vnodesPerUnitWeight = options?.vnodesPerUnitWeight ?? VNODES_PER_UNIT_WEIGHT_DEFAULT;
  if (!Number.isInteger(vnodesPerUnitWeight) || vnodesPerUnitWeight <= 0) {
    throw new RingError('INVALID_VNODES', `vnodesPerUnitWeight must be a positive integer, got ${String(vnodesPerUnitWeight)}`);
  }
  return vnodesPerUnitWeight;
}

/** Number of ring points a member of this weight owns. */
export function pointCountForWeight(weight: number, vnodesPerUnitWeight: number): number {
  return Math.max(1, Math.round(vnodesPerUnitWeight * weight));
}

/**
 * An immutable consistent-hash ring. Build with `HashRing.build`; a change
 * (`withMember`, `withoutMember`) returns a new ring.
 */
export class HashRing {
  /** Sorted ascending; points[i] is owned by members[owners[i]]. */
  private readonly points: Uint32Array;
  private readonly owners: Uint32Array;
  private readonly memberList: readonly RingMember[];

  private constructor(memberList: readonly RingMember[], readonly vnodesPerUnitWeight: number) {
    this.memberList = memberList;
    let pointTotal = 0;
    for (const member of memberList) pointTotal += pointCountForWeight(member.weight, vnodesPerUnitWeight);
    if (pointTotal > RING_POINTS_MAX) {
      throw new RingError('TOO_MANY_POINTS', `${pointTotal} ring points exceed ${RING_POINTS_MAX}; lower vnodesPerUnitWeight or weights`);
    }
    // One float64 per point: point * 2^21 + memberIndex. Members are sorted by id,
    // so a numeric sort orders equal points by member id.
    const sortKeys = new Float64Array(pointTotal);
    let cursor = 0;
    memberList.forEach((member, memberIndex) => {
      const count = pointCountForWeight(member.weight, vnodesPerUnitWeight);
      for (let pointIndex = 0; pointIndex < count; pointIndex++) {
        sortKeys[cursor++] = virtualPointHash(member.id, pointIndex) * 2097152 + memberIndex;
      }
    });
    sortKeys.sort();
    this.points = new Uint32Array(pointTotal);
    this.owners = new Uint32Array(pointTotal);
    for (let index = 0; index < pointTotal; index++) {
      const memberIndex = sortKeys[index] % 2097152;
      this.points[index] = (sortKeys[index] - memberIndex) / 2097152;
      this.owners[index] = memberIndex;
    }
    Object.freeze(this);
  }

  /** Build a ring. Throws RingError on an empty list, a bad id or weight, or a duplicate id. */
  static build(members: readonly RingMember[], options?: RingOptions): HashRing {
    const vnodesPerUnitWeight = validateVnodes(options);
    return new HashRing(Object.freeze(validateMembers(members)), vnodesPerUnitWeight);
  }

  /** Members sorted by id (a copy). */
  members(): RingMember[] {
    return this.memberList.map((member) => ({ ...member }));
  }

  get memberCount(): number {
    return this.memberList.length;
  }

  get pointCount(): number {
    return this.points.length;
  }

  has(memberId: string): boolean {
    return this.memberList.some((member) => member.id === memberId);
  }

  /** A new ring with `member` added, or its weight replaced if already present. */
  withMember(member: RingMember): HashRing {
    const rest = this.memberList.filter((existing) => existing.id !== member.id);
    return HashRing.build([...rest, member], { vnodesPerUnitWeight: this.vnodesPerUnitWeight });
  }

  /** A new ring without `memberId`. Throws UNKNOWN_MEMBER, or EMPTY_RING if it was the last. */
  withoutMember(memberId: string): HashRing {
    if (!this.has(memberId)) throw new RingError('UNKNOWN_MEMBER', `no member ${JSON.stringify(memberId)}`);
    const rest = this.memberList.filter((existing) => existing.id !== memberId);
    return HashRing.build(rest, { vnodesPerUnitWeight: this.vnodesPerUnitWeight });
  }

  /** Index of the first point >= hash, wrapping to 0. */
  private firstPointAtOrAfter(hash: number): number {
    let low = 0;
    let high = this.points.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.points[middle] < hash) low = middle + 1;
      else high = middle;
    }
    return low === this.points.length ? 0 : low;
  }

  /** The member that owns `key`. */
  lookup(key: string): string {
    return this.lookupHash(hashString(key));
  }

  /** The member that owns ring position `hash` (an unsigned 32-bit integer). */
  lookupHash(hash: number): string {
    return this.memberList[this.owners[this.firstPointAtOrAfter(hash >>> 0)]].id;
  }

  /**
   * Up to `count` distinct members met walking clockwise from `key`'s hash;
   * the first is `lookup(key)`. Returns every member (in walk order) when
   * count >= memberCount. Throws INVALID_COUNT unless count is a positive integer.
   */
  lookupN(key: string, count: number): string[] {
    return this.walk(hashString(key), count, () => true);
  }

  /**
   * Walk clockwise from ring position `hash`, collecting up to `count`
   * distinct members for which `accept(id)` holds.
   */
  walk(hash: number, count: number, accept: (memberId: string) => boolean): string[] {
    if (!Number.isInteger(count) || count <= 0) {
      throw new RingError('INVALID_COUNT', `count must be a positive integer, got ${String(count)}`);
    }
    const wanted = Math.min(count, this.memberList.length);
    const chosen: string[] = [];
    const visited = new Uint8Array(this.memberList.length);
    let visitedCount = 0;
    const start = this.firstPointAtOrAfter(hash >>> 0);
    for (let step = 0; step < this.points.length && chosen.length < wanted; step++) {
      const memberIndex = this.owners[(start + step) % this.points.length];
      if (visited[memberIndex] === 1) continue;
      visited[memberIndex] = 1;
      visitedCount++;
      const memberId = this.memberList[memberIndex].id;
      if (accept(memberId)) chosen.push(memberId);
      if (visitedCount === this.memberList.length) break;
    }
    return chosen;
  }

  /**
   * Fraction of the 2^32 hash space each member owns (exact, no sampling).
   * A point p owns (previous point, p]; the first point also owns the wrap.
   */
  ownership(): Map<string, number> {
    const shares = new Map<string, number>();
    for (const member of this.memberList) shares.set(member.id, 0);
    const total = 4294967296;
    for (let index = 0; index < this.points.length; index++) {
      const previous = index === 0 ? this.points[this.points.length - 1] - total : this.points[index - 1];
      const id = this.memberList[this.owners[index]].id;
      shares.set(id, (shares.get(id) ?? 0) + (this.points[index] - previous) / total);
    }
    return shares;
  }
}

/** Partition ids p0..p(count-1), weight 1 each: the key -> partition ring's members. */
export function partitionMembers(count: number): RingMember[] {
  if (!Number.isInteger(count) || count <= 0) {
    throw new RingError('INVALID_COUNT', `partition count must be a positive integer, got ${String(count)}`);
  }
  return Array.from({ length: count }, (_unused, index) => ({ id: `p${index}`, weight: 1 }));
}

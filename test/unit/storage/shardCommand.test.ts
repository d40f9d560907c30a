import { expect } from 'chai';
import { Packr } from 'msgpackr';
import { KvCommand, VALUE_BYTES_MAX, encodeKvCommand } from '../../../storage/kvCommand';
import { SHARD_BATCH_MAX, ShardCommand, decodeEntryCommand, encodeShardCommand, isShardCommand } from '../../../storage/shardCommand';
import { refusal } from './support';

/** Writes any map as msgpack, the way a buggy or hostile leader could put it in the log. */
const mapPackr = new Packr({ useRecords: false, mapsAsObjects: false, moreTypes: false });
const bytesOf = (fields: Record<string, unknown>): Uint8Array => mapPackr.pack(new Map(Object.entries(fields)));


/** Refused both ways: by the encoder (the leader) and by the decoder (a committed entry). */
function expectRefused(fields: Record<string, unknown>, code = 'BAD_REQUEST'): void {
  expect(refusal(() => encodeShardCommand(fields as unknown as ShardCommand)).code, `encode ${JSON.stringify(fields).slice(0, 120)}`).to.equal(code);
  expect(refusal(() => decodeEntryCommand(bytesOf(fields))).code, `decode ${JSON.stringify(fields).slice(0, 120)}`).to.equal(code);
}

describe('storage/shardCommand codec', () => {
  const commands: ShardCommand[] = [
    { op: 'ring', epoch: 1, partitions: [0, 1, 2] },
    { op: 'ring', epoch: 9, partitions: [] },
    { op: 'ring', epoch: 3, partitions: [5, 2 ** 31 - 1] },
    { op: 'ingest', epoch: 1, records: [['a', '1', 7, 3], ['ключ 🔑', '', 12, 12]] },
    { op: 'ingest', epoch: 1, records: [] },
    { op: 'purge', epoch: 1, keys: ['a', '__proto__', 'constructor'] },
    { op: 'purge', epoch: 1, keys: [] },
  ];

  for (const command of commands) {
    it(`round-trips ${JSON.stringify(command)}`, () => {
      const decoded = decodeEntryCommand(encodeShardCommand(command));
      expect(decoded).to.deep.equal(command);
      expect(isShardCommand(decoded)).to.equal(true);
    });
  }

  it('sorts the ring\'s partitions, so equal rings decode equal', () => {
    expect(decodeEntryCommand(encodeShardCommand({ op: 'ring', epoch: 2, partitions: [4, 0, 2] }))).to.deep.equal({ op: 'ring', epoch: 2, partitions: [0, 2, 4] });
  });

  it('decodes ordinary put, del and cas commands as before, with their request ids', () => {
    const kvCommands: KvCommand[] = [
      { op: 'put', key: 'k', value: 'v' },
      { op: 'put', key: 'k', value: 'v', id: 'req-1' },
      { op: 'del', key: 'k' },
      { op: 'cas', key: 'k', value: 'v', expectedRevision: 4 },
      { op: 'cas', key: 'k', value: 'v', expectedValue: null },
    ];
    for (const command of kvCommands) {
      const decoded = decodeEntryCommand(encodeKvCommand(command));
      expect(decoded, JSON.stringify(command)).to.deep.equal(command);
      expect(isShardCommand(decoded)).to.equal(false);
    }
    // ...and still refuses a bad one with the client codec's rules.
    expect(refusal(() => decodeEntryCommand(bytesOf({ op: 'put', key: '', value: 'v' }))).code).to.equal('BAD_REQUEST');
    expect(refusal(() => decodeEntryCommand(bytesOf({ op: 'incr', key: 'k' }))).code).to.equal('BAD_REQUEST');
  });

  it('refuses bytes that are not a msgpack map', () => {
    expect(refusal(() => decodeEntryCommand(Uint8Array.from([0xc1]))).code).to.equal('BAD_REQUEST');
    expect(refusal(() => decodeEntryCommand(mapPackr.pack(['ring', 1, [0]]))).code).to.equal('BAD_REQUEST');
  });

  describe('ring refusals (BAD_REQUEST)', () => {
    for (const epoch of [0, -1, 1.5, '1', null, 2 ** 53]) {
      it(`epoch ${JSON.stringify(epoch)}`, () => expectRefused({ op: 'ring', epoch, partitions: [0] }));
    }

    it('a partition listed twice', () => expectRefused({ op: 'ring', epoch: 1, partitions: [0, 1, 0] }));

    it('partition ids that are not integers in [0, 2^31-1]', () => {
      for (const id of [-1, 1.5, 2 ** 31, '1', null]) expectRefused({ op: 'ring', epoch: 1, partitions: [0, id] });
    });

    it('partitions that are not an array, or missing', () => {
      expectRefused({ op: 'ring', epoch: 1, partitions: 3 });
      expectRefused({ op: 'ring', epoch: 1 });
    });

    it('an unknown field, a request id included', () => {
      expectRefused({ op: 'ring', epoch: 1, partitions: [0], extra: true });
      expectRefused({ op: 'ring', epoch: 1, partitions: [0], id: 'req-1' });
    });
  });

  it('carries an ingest\'s revision floor, and refuses a bad one (BAD_REQUEST)', () => {
    expect(decodeEntryCommand(encodeShardCommand({ op: 'ingest', epoch: 2, records: [], floor: 77 }))).to.deep.equal({ op: 'ingest', epoch: 2, records: [], floor: 77 });
    for (const floor of [-1, 1.5, '7', null]) expectRefused({ op: 'ingest', epoch: 1, records: [], floor });
  });

  it('refuses an ingest or a purge without a positive epoch (BAD_REQUEST)', () => {
    for (const epoch of [undefined, 0, -1, 1.5, '1']) {
      expectRefused({ op: 'ingest', epoch, records: [] });
      expectRefused({ op: 'purge', epoch, keys: [] });
    }
  });

  describe('ingest refusals', () => {
    const ingest = (...records: unknown[]) => ({ op: 'ingest', epoch: 1, records });

    it('createRevision above revision, or revisions that are not positive integers (BAD_REQUEST)', () => {
      expectRefused(ingest(['a', 'v', 3, 4]));
      expectRefused(ingest(['a', 'v', 3, 0]));
      expectRefused(ingest(['a', 'v', 0, 0]));
      expectRefused(ingest(['a', 'v', 2.5, 1]));
      expectRefused(ingest(['a', 'v', '3', 1]));
    });

    it('a reserved key (starting with U+0000), an empty key or a key that is not a string (BAD_REQUEST)', () => {
      expectRefused(ingest(['\u0000shard', '{}', 1, 1]));
      expectRefused(ingest(['\u0000', 'v', 1, 1]));
      expectRefused(ingest(['', 'v', 1, 1]));
      expectRefused(ingest([7, 'v', 1, 1]));
    });

    it('a record that is not [key, value, revision, createRevision] (BAD_REQUEST)', () => {
      expectRefused(ingest(['a', 'v', 1]));
      expectRefused(ingest(['a', 'v', 1, 1, 1]));
      expectRefused(ingest({ key: 'a', value: 'v', revision: 1, createRevision: 1 }));
      expectRefused(ingest(['a', 5, 1, 1]));
      expectRefused({ op: 'ingest', epoch: 1, records: 'a' });
    });

    it('a value over the byte limit (VALUE_TOO_LARGE, as for a client put)', () => {
      expect(encodeShardCommand({ op: 'ingest', epoch: 1, records: [['a', 'v'.repeat(VALUE_BYTES_MAX), 1, 1]] })).to.be.instanceOf(Uint8Array);
      expectRefused(ingest(['a', 'v'.repeat(VALUE_BYTES_MAX + 1), 1, 1]), 'VALUE_TOO_LARGE');
    });

    it(`more than ${SHARD_BATCH_MAX} records (BAD_REQUEST)`, () => {
      const records = Array.from({ length: SHARD_BATCH_MAX }, (_, index): [string, string, number, number] => [`k${index}`, '', 1, 1]);
      expect(decodeEntryCommand(encodeShardCommand({ op: 'ingest', epoch: 1, records }))).to.have.nested.property('records.length', SHARD_BATCH_MAX);
      expectRefused(ingest(...records, ['one-more', '', 1, 1]));
    });

    it('an unknown field (BAD_REQUEST)', () => expectRefused({ op: 'ingest', epoch: 1, records: [], keys: [] }));
  });

  describe('purge refusals (BAD_REQUEST)', () => {
    it('reserved, empty or non-string keys', () => {
      for (const key of ['\u0000shard', '', 5, null]) expectRefused({ op: 'purge', epoch: 1, keys: ['a', key] });
    });

    it(`more than ${SHARD_BATCH_MAX} keys`, () => {
      expectRefused({ op: 'purge', epoch: 1, keys: Array.from({ length: SHARD_BATCH_MAX + 1 }, (_, index) => `k${index}`) });
    });

    it('an unknown field', () => expectRefused({ op: 'purge', epoch: 1, keys: [], records: [] }));
  });
});

import { expect } from 'chai';
import { EntryType, MessageType } from '../../../actors/raft/types';
import type { Message } from '../../../actors/raft/types';
import {
  CodecError,
  decodeBatch,
  decodeMessage,
  encodeBatch,
  encodeMessage,
  frameEncodedBytes,
  messageEncodedBytes,
} from '../../../bus/raftCodec';

/** xorshift32: a seeded PRNG, so a fuzz failure replays from the printed seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

const SAMPLES: Message[] = [
  { type: MessageType.Vote, from: 1, to: 2, term: 5, logTerm: 4, index: 100 },
  { type: MessageType.Vote, from: 1, to: 2, term: 5, logTerm: 4, index: 100, context: 1 },
  { type: MessageType.VoteResponse, from: 2, to: 1, term: 5, reject: false },
  { type: MessageType.PreVote, from: 3, to: 1, term: 6, logTerm: 5, index: 7 },
  { type: MessageType.PreVoteResponse, from: 1, to: 3, term: 6, reject: true },
  {
    type: MessageType.Append,
    from: 1,
    to: 2,
    term: 9,
    logTerm: 8,
    index: 41,
    commit: 40,
    entries: [
      { term: 9, index: 42, type: EntryType.Normal, data: bytes(0, 1, 2, 255) },
      { term: 9, index: 43, type: EntryType.ConfChange, data: new Uint8Array(0) },
    ],
  },
  { type: MessageType.Append, from: 1, to: 2, term: 9, logTerm: 8, index: 41, commit: 40, entries: [] },
  { type: MessageType.AppendResponse, from: 2, to: 1, term: 9, index: 30, reject: true, rejectHint: 25, logTerm: 7 },
  { type: MessageType.Heartbeat, from: 1, to: 2, term: 9, commit: 40, context: 17 },
  { type: MessageType.HeartbeatResponse, from: 2, to: 1, term: 9, context: 17 },
  {
    type: MessageType.Snapshot,
    from: 1,
    to: 4,
    term: 9,
    snapshot: { meta: { index: 1000, term: 8, confState: { voters: [1, 2, 3], learners: [4] } } },
  },
  {
    type: MessageType.Snapshot,
    from: 1,
    to: 4,
    term: 9,
    snapshot: { meta: { index: 1000, term: 8, confState: { voters: [1], learners: [] } }, data: bytes(9, 8, 7) },
  },
  { type: MessageType.TimeoutNow, from: 1, to: 2, term: 9 },
  { type: MessageType.TransferLeader, from: 3, to: 1, term: 9 },
  { type: MessageType.Heartbeat, from: 0xffff_ffff, to: 1, term: Number.MAX_SAFE_INTEGER, commit: 2 ** 32, context: 2 ** 32 - 1 },
];

describe('bus/raftCodec', () => {
  describe('round trip', () => {
    for (const message of SAMPLES) {
      it(`${MessageType[message.type]} ${JSON.stringify(Object.keys(message))}`, () => {
        const encoded = encodeMessage(message);
        expect(encoded.byteLength).to.equal(frameEncodedBytes(messageEncodedBytes(message)));
        expect(decodeMessage(encoded)).to.deep.equal(message);
      });
    }

    it('keeps absent optional fields absent', () => {
      const decoded = decodeMessage(encodeMessage({ type: MessageType.TimeoutNow, from: 1, to: 2, term: 3 }));
      expect(Object.keys(decoded).sort()).to.deep.equal(['from', 'term', 'to', 'type']);
    });

    it('round-trips a batch and an empty batch', () => {
      expect(decodeBatch(encodeBatch(SAMPLES))).to.deep.equal(SAMPLES);
      expect(decodeBatch(encodeBatch([]))).to.deep.equal([]);
    });

    it('returns plain Uint8Array entry data equal byte for byte, from a Buffer at an offset', () => {
      const data = new Uint8Array(256).map((_, i) => i);
      const message: Message = { type: MessageType.Append, from: 1, to: 2, term: 1, entries: [{ term: 1, index: 1, type: EntryType.Normal, data }] };
      const encoded = encodeMessage(message);
      const carrier = Buffer.alloc(encoded.byteLength + 13);
      carrier.set(encoded, 13);
      const decoded = decodeMessage(carrier.subarray(13));
      const decodedData = decoded.entries![0]!.data;
      expect(Object.getPrototypeOf(decodedData)).to.equal(Uint8Array.prototype);
      expect(Array.from(decodedData)).to.deep.equal(Array.from(data));
      carrier.fill(0); // the caller reusing its buffer must not change decoded entries
      expect(decodedData[255]).to.equal(255);
    });

    it('accepts entry data that is a Buffer or a view into a larger buffer', () => {
      const backing = Buffer.from('xxhello worldxx');
      const data = backing.subarray(2, 13);
      const message: Message = { type: MessageType.Append, from: 1, to: 2, term: 1, entries: [{ term: 1, index: 1, type: EntryType.Normal, data }] };
      const decoded = decodeMessage(encodeMessage(message));
      expect(Buffer.from(decoded.entries![0]!.data).toString()).to.equal('hello world');
    });
  });

  describe('encode refuses invalid messages with CodecError', () => {
    const base: Message = { type: MessageType.Heartbeat, from: 1, to: 2, term: 1 };
    const entry = { term: 1, index: 1, type: EntryType.Normal, data: new Uint8Array(1) };
    const cases: Array<[string, unknown]> = [
      ['negative term', { ...base, term: -1 }],
      ['fractional term', { ...base, term: 1.5 }],
      ['term beyond 2^53', { ...base, term: 2 ** 53 }],
      ['NaN commit', { ...base, commit: NaN }],
      ['from beyond u32', { ...base, from: 2 ** 32 }],
      ['unknown type', { ...base, type: 99 }],
      ['string reject', { ...base, reject: 'yes' }],
      ['data not bytes', { ...base, entries: [{ ...entry, data: [1, 2] }] }],
      ['unknown entry type', { ...base, entries: [{ ...entry, type: 7 }] }],
      ['null entry', { ...base, entries: [null] }],
      ['snapshot without confState', { ...base, snapshot: { meta: { index: 1, term: 1 } } }],
      ['voter id not an integer', { ...base, snapshot: { meta: { index: 1, term: 1, confState: { voters: ['1'], learners: [] } } } }],
    ];
    for (const [name, message] of cases) {
      it(name, () => {
        expect(() => encodeMessage(message as Message)).to.throw(CodecError).with.property('code', 'ENCODE_INVALID');
      });
    }
  });

  describe('decode refuses bad frames with CodecError', () => {
    const valid = encodeMessage(SAMPLES[5]!);
    const cases: Array<[string, Uint8Array, string]> = [
      ['empty input', new Uint8Array(0), 'TRUNCATED'],
      ['bad magic', bytes(0x00, 1, 0, 0, 0, 0), 'BAD_MAGIC'],
      ['bad version', bytes(0xcb, 2, 0, 0, 0, 0), 'BAD_VERSION'],
      ['count larger than the bytes', bytes(0xcb, 1, 0xff, 0xff, 0xff, 0xff), 'BAD_COUNT'],
      ['truncated message', valid.subarray(0, valid.byteLength - 1), 'TRUNCATED'],
      ['trailing bytes', Uint8Array.from([...valid, 0]), 'TRAILING_BYTES'],
      ['unknown message type', Uint8Array.from(valid).fill(0, 6, 7), 'BAD_FIELD'],
    ];
    for (const [name, input, code] of cases) {
      it(`${name} -> ${code}`, () => {
        expect(() => decodeBatch(input)).to.throw(CodecError).with.property('code', code);
      });
    }

    it('refuses an integer beyond 2^53 - 1', () => {
      const frame = encodeMessage({ type: MessageType.TimeoutNow, from: 1, to: 2, term: 1 });
      frame[6 + 11] = 0x00;
      frame[6 + 11 + 1] = 0x20; // term high word = 0x00200000 = 2^21
      expect(() => decodeBatch(frame)).to.throw(CodecError).with.property('code', 'BAD_FIELD');
    });

    it('refuses non-bytes input', () => {
      expect(() => decodeBatch('abc' as unknown as Uint8Array)).to.throw(CodecError);
      expect(() => decodeMessage(encodeBatch([]))).to.throw(CodecError).with.property('code', 'BAD_COUNT');
    });
  });

  describe('fuzz: untrusted bytes give only CodecError or well-formed messages', () => {
    const seed = Number(process.env.FUZZ_SEED ?? 0xc0ffee);

    it(`random bytes (seed=${seed})`, () => {
      const random = prng(seed);
      for (let round = 0; round < 20_000; round++) {
        const input = new Uint8Array(random() % 96);
        for (let i = 0; i < input.length; i++) input[i] = random() & 0xff;
        if (input.length > 1 && random() % 2 === 0) {
          input[0] = 0xcb; // get past the header often enough to exercise the body
          input[1] = 1;
        }
        checkDecode(input, `seed=${seed} round=${round}`);
      }
    });

    it(`mutated valid frames (seed=${seed})`, () => {
      const random = prng(seed + 1);
      const frame = encodeBatch(SAMPLES);
      for (let round = 0; round < 20_000; round++) {
        const input = Uint8Array.from(frame.subarray(0, frame.length - (random() % 3 === 0 ? random() % frame.length : 0)));
        const flips = 1 + (random() % 4);
        for (let i = 0; i < flips && input.length > 0; i++) input[random() % input.length] = random() & 0xff;
        checkDecode(input, `seed=${seed} round=${round}`);
      }
    });
  });
});

function checkDecode(input: Uint8Array, where: string): void {
  let messages: Message[];
  try {
    messages = decodeBatch(input);
  } catch (error) {
    if (!(error instanceof CodecError)) throw new Error(`${where}: threw ${String(error)}`);
    expect(error.name).to.equal('CodecError');
    return;
  }
  for (const message of messages) assertWellFormed(message, where);
}

function assertWellFormed(message: Message, where: string): void {
  const isCount = (value: unknown) => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
  const ok =
    Number.isInteger(message.type) &&
    message.type >= 1 &&
    message.type <= 11 &&
    isCount(message.from) &&
    isCount(message.to) &&
    isCount(message.term) &&
    ['logTerm', 'index', 'commit', 'rejectHint', 'context'].every((field) => {
      const value = (message as unknown as Record<string, unknown>)[field];
      return value === undefined || isCount(value);
    }) &&
    (message.reject === undefined || typeof message.reject === 'boolean') &&
    (message.entries === undefined ||
      message.entries.every((entry) => isCount(entry.term) && isCount(entry.index) && (entry.type === 0 || entry.type === 1) && entry.data instanceof Uint8Array));
  if (!ok) throw new Error(`${where}: decoded a malformed message ${JSON.stringify(message)}`);
  // A decoded message must encode again (the transport may forward it).
  encodeMessage(message);
}

import { expect } from 'chai';
import { Packr } from 'msgpackr';
import {
  KEY_BYTES_MAX,
  KvCommand,
  VALUE_BYTES_MAX,
  decodeKvCommand,
  encodeKvCommand,
} from '../../../storage/kvCommand';
import { refusal } from './support';

const objectPackr = new Packr({ useRecords: false });


describe('kvCommand codec', () => {
  const commands: KvCommand[] = [
    { op: 'put', key: 'a', value: '1' },
    { op: 'put', key: 'ключ 🔑', value: '' },
    { op: 'del', key: 'a' },
    { op: 'cas', key: 'a', value: '2', expectedRevision: 0 },
    { op: 'cas', key: 'a', value: '2', expectedRevision: 17 },
    { op: 'cas', key: 'a', value: '2', expectedValue: null },
    { op: 'cas', key: 'a', value: '2', expectedValue: '1' },
    { op: 'put', key: '__proto__', value: 'x' },
    { op: 'put', key: 'constructor', value: 'hasOwnProperty' },
  ];

  for (const command of commands) {
    it(`round-trips ${JSON.stringify(command)}`, () => {
      expect(decodeKvCommand(encodeKvCommand(command))).to.deep.equal(command);
    });
  }

  it('encodes equal commands to equal bytes, whatever the field order', () => {
    const one = encodeKvCommand({ op: 'cas', key: 'k', value: 'v', expectedRevision: 3 });
    const two = encodeKvCommand({ expectedRevision: 3, value: 'v', key: 'k', op: 'cas' } as KvCommand);
    expect(Buffer.from(one).equals(Buffer.from(two))).to.equal(true);
  });

  it('decodes a command another msgpack encoder wrote as a plain map', () => {
    expect(decodeKvCommand(objectPackr.pack({ op: 'put', key: 'k', value: 'v' }))).to.deep.equal({ op: 'put', key: 'k', value: 'v' });
  });

  it('keeps a __proto__ field in the bytes from touching prototypes', () => {
    const bytes = new Packr({ useRecords: false }).pack(new Map<string, unknown>([['op', 'put'], ['key', 'k'], ['value', 'v'], ['__proto__', { polluted: 1 }]]));
    expect(refusal(() => decodeKvCommand(bytes)).code).to.equal('BAD_REQUEST');
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
  });

  it('refuses keys and values over their byte limits with specific codes', () => {
    expect(refusal(() => encodeKvCommand({ op: 'put', key: 'k'.repeat(KEY_BYTES_MAX + 1), value: '' })).code).to.equal('KEY_TOO_LARGE');
    // 'é' is one UTF-16 unit but two UTF-8 bytes: limits count bytes.
    expect(refusal(() => encodeKvCommand({ op: 'put', key: 'é'.repeat(KEY_BYTES_MAX / 2 + 1), value: '' })).code).to.equal('KEY_TOO_LARGE');
    expect(encodeKvCommand({ op: 'put', key: 'k'.repeat(KEY_BYTES_MAX), value: 'v'.repeat(VALUE_BYTES_MAX) })).to.be.instanceOf(Uint8Array);
    expect(refusal(() => encodeKvCommand({ op: 'put', key: 'k', value: 'v'.repeat(VALUE_BYTES_MAX + 1) })).code).to.equal('VALUE_TOO_LARGE');
    const casTooLarge = { op: 'cas', key: 'k', value: 'v', expectedValue: 'v'.repeat(VALUE_BYTES_MAX + 1) } as const;
    expect(refusal(() => encodeKvCommand(casTooLarge)).code).to.equal('VALUE_TOO_LARGE');
  });

  const badCommands: [string, unknown][] = [
    ['an empty key', { op: 'put', key: '', value: 'v' }],
    ['a number key', { op: 'put', key: 7, value: 'v' }],
    ['a missing value', { op: 'put', key: 'k' }],
    ['a number value', { op: 'put', key: 'k', value: 1 }],
    ['an unknown op', { op: 'incr', key: 'k' }],
    ['an unknown field', { op: 'put', key: 'k', value: 'v', ttl: 5 }],
    ['del with a value', { op: 'del', key: 'k', value: 'v' }],
    ['put with an expectation', { op: 'put', key: 'k', value: 'v', expectedRevision: 1 }],
    ['cas without expectation', { op: 'cas', key: 'k', value: 'v' }],
    ['cas with both expectations', { op: 'cas', key: 'k', value: 'v', expectedRevision: 1, expectedValue: 'x' }],
    ['cas with a negative revision', { op: 'cas', key: 'k', value: 'v', expectedRevision: -1 }],
    ['cas with a fractional revision', { op: 'cas', key: 'k', value: 'v', expectedRevision: 1.5 }],
    ['cas without value', { op: 'cas', key: 'k', expectedRevision: 1 }],
  ];

  for (const [what, command] of badCommands) {
    it(`refuses ${what} on both encode and decode`, () => {
      expect(refusal(() => encodeKvCommand(command as KvCommand)).code).to.equal('BAD_REQUEST');
      expect(refusal(() => decodeKvCommand(objectPackr.pack(command))).code).to.equal('BAD_REQUEST');
    });
  }

  it('refuses lone surrogates when encoding', () => {
    expect(refusal(() => encodeKvCommand({ op: 'put', key: 'a\uD800b', value: 'v' })).code).to.equal('BAD_REQUEST');
    expect(refusal(() => encodeKvCommand({ op: 'put', key: 'k', value: '\uDC00' })).code).to.equal('BAD_REQUEST');
  });

  it('decodes invalid UTF-8 on the wire to U+FFFD, never to a lone surrogate (msgpackr behaviour)', () => {
    // A foreign encoder may write a lone surrogate as WTF-8 bytes ED A0 80.
    const bytes = objectPackr.pack({ op: 'put', key: 'a\uD800b', value: 'v' });
    expect(decodeKvCommand(bytes).key).to.equal('a\uFFFD\uFFFD\uFFFDb');
  });

  it('accepts a well-formed surrogate pair', () => {
    expect(decodeKvCommand(encodeKvCommand({ op: 'put', key: '\uD83D\uDE00', value: 'ok' }))).to.include({ key: '😀' });
  });

  for (const [what, bytes] of [
    ['empty bytes', []],
    ['a reserved msgpack byte', [0xc1]],
    ['a truncated map', [0x82, 0xa2]],
    ['an array', [0x91, 0x01]],
    ['trailing bytes', [0x80, 0x01]],
  ] as const) {
    it(`refuses ${what} when decoding`, () => {
      expect(refusal(() => decodeKvCommand(Uint8Array.from(bytes))).code).to.equal('BAD_REQUEST');
    });
  }
});

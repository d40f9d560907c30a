import { expect } from 'chai';
import {
  KEY_BYTES_MAX,
  REQUEST_BYTES_MAX,
  VALUE_BYTES_MAX,
  encodeError,
  encodeReply,
  encodeRequest,
  parseReply,
  parseRequest,
} from '../../../bus/protocol';
import type { ErrorCode, KvRequest, Operation } from '../../../bus/protocol';

const utf8 = (text: string) => new TextEncoder().encode(text);
const json = (value: unknown) => utf8(JSON.stringify(value));

interface Case {
  name: string;
  op: Operation;
  body: Uint8Array;
  /** The parsed request, or the error code expected. */
  expected: KvRequest | ErrorCode;
}

const CASES: Case[] = [
  // accepted
  { name: 'put', op: 'put', body: json({ key: 'a', value: '1' }), expected: { op: 'put', key: 'a', value: '1' } },
  { name: 'put empty value', op: 'put', body: json({ key: 'a', value: '' }), expected: { op: 'put', key: 'a', value: '' } },
  { name: 'put "__proto__" as a key', op: 'put', body: json({ key: '__proto__', value: 'x' }), expected: { op: 'put', key: '__proto__', value: 'x' } },
  { name: 'put "constructor" as a key', op: 'put', body: json({ key: 'constructor', value: 'x' }), expected: { op: 'put', key: 'constructor', value: 'x' } },
  { name: 'put astral characters', op: 'put', body: json({ key: '🪨', value: 'é漢' }), expected: { op: 'put', key: '🪨', value: 'é漢' } },
  { name: 'put with a UTF-8 BOM', op: 'put', body: Uint8Array.from([0xef, 0xbb, 0xbf, ...json({ key: 'a', value: 'b' })]), expected: { op: 'put', key: 'a', value: 'b' } },
  { name: 'get defaults to linearizable', op: 'get', body: json({ key: 'a' }), expected: { op: 'get', key: 'a', consistency: 'linearizable' } },
  { name: 'get stale', op: 'get', body: json({ key: 'a', consistency: 'stale' }), expected: { op: 'get', key: 'a', consistency: 'stale' } },
  { name: 'del', op: 'del', body: json({ key: 'a' }), expected: { op: 'del', key: 'a' } },
  { name: 'cas by revision', op: 'cas', body: json({ key: 'a', value: '2', expectedRevision: 7 }), expected: { op: 'cas', key: 'a', value: '2', expected: { revision: 7 } } },
  { name: 'cas by revision 0 (absent)', op: 'cas', body: json({ key: 'a', value: '2', expectedRevision: 0 }), expected: { op: 'cas', key: 'a', value: '2', expected: { revision: 0 } } },
  { name: 'cas by value', op: 'cas', body: json({ key: 'a', value: '2', expectedValue: '1' }), expected: { op: 'cas', key: 'a', value: '2', expected: { value: '1' } } },
  { name: 'cas by value null (absent)', op: 'cas', body: json({ key: 'a', value: '2', expectedValue: null }), expected: { op: 'cas', key: 'a', value: '2', expected: { value: null } } },
  { name: 'status with empty body', op: 'status', body: new Uint8Array(0), expected: { op: 'status' } },
  { name: 'status with {}', op: 'status', body: json({}), expected: { op: 'status' } },
  { name: 'key of exactly 1024 bytes', op: 'del', body: json({ key: 'é'.repeat(512) }), expected: { op: 'del', key: 'é'.repeat(512) } },

  // not JSON objects
  { name: 'empty body', op: 'put', body: new Uint8Array(0), expected: 'BAD_REQUEST' },
  { name: 'not JSON', op: 'put', body: utf8('key=a'), expected: 'BAD_REQUEST' },
  { name: 'JSON array', op: 'put', body: json(['a', '1']), expected: 'BAD_REQUEST' },
  { name: 'JSON null', op: 'get', body: utf8('null'), expected: 'BAD_REQUEST' },
  { name: 'JSON string', op: 'get', body: utf8('"a"'), expected: 'BAD_REQUEST' },
  { name: 'deeply nested array', op: 'put', body: utf8('['.repeat(100_000) + ']'.repeat(100_000)), expected: 'BAD_REQUEST' },
  { name: 'deeply nested value', op: 'put', body: utf8(`{"key":"a","value":${'['.repeat(50_000)}${']'.repeat(50_000)}}`), expected: 'BAD_REQUEST' },
  { name: 'unterminated deep nesting', op: 'put', body: utf8('{"a":'.repeat(50_000)), expected: 'BAD_REQUEST' },
  { name: 'invalid UTF-8 (lone continuation byte)', op: 'put', body: Uint8Array.from([...utf8('{"key":"a","value":"'), 0x80, ...utf8('"}')]), expected: 'BAD_REQUEST' },
  { name: 'invalid UTF-8 (overlong encoding)', op: 'put', body: Uint8Array.from([...utf8('{"key":"'), 0xc0, 0xaf, ...utf8('","value":"x"}')]), expected: 'BAD_REQUEST' },
  { name: 'invalid UTF-8 (encoded surrogate)', op: 'put', body: Uint8Array.from([...utf8('{"key":"'), 0xed, 0xa0, 0x80, ...utf8('","value":"x"}')]), expected: 'BAD_REQUEST' },
  { name: 'body over the limit', op: 'put', body: new Uint8Array(REQUEST_BYTES_MAX + 1).fill(0x20), expected: 'VALUE_TOO_LARGE' },

  // field rules
  { name: 'missing key', op: 'put', body: json({ value: '1' }), expected: 'BAD_REQUEST' },
  { name: 'missing value', op: 'put', body: json({ key: 'a' }), expected: 'BAD_REQUEST' },
  { name: 'extra field', op: 'put', body: json({ key: 'a', value: '1', ttl: 5 }), expected: 'BAD_REQUEST' },
  { name: 'key in the reserved U+0000 namespace', op: 'put', body: json({ key: '\u0000r\u0000abc', value: 'x' }), expected: 'BAD_REQUEST' },
  { name: 'extra "__proto__" field', op: 'get', body: utf8('{"key":"a","__proto__":{"consistency":"stale"}}'), expected: 'BAD_REQUEST' },
  { name: 'misspelt field', op: 'cas', body: json({ key: 'a', value: '1', expectedRevison: 3 }), expected: 'BAD_REQUEST' },
  { name: 'numeric key', op: 'get', body: json({ key: 1 }), expected: 'BAD_REQUEST' },
  { name: 'null key', op: 'get', body: json({ key: null }), expected: 'BAD_REQUEST' },
  { name: 'empty key', op: 'get', body: json({ key: '' }), expected: 'BAD_REQUEST' },
  { name: 'object value', op: 'put', body: json({ key: 'a', value: { x: 1 } }), expected: 'BAD_REQUEST' },
  { name: 'numeric value', op: 'put', body: json({ key: 'a', value: 1 }), expected: 'BAD_REQUEST' },
  { name: 'null value in put', op: 'put', body: json({ key: 'a', value: null }), expected: 'BAD_REQUEST' },
  { name: 'bad consistency', op: 'get', body: json({ key: 'a', consistency: 'eventual' }), expected: 'BAD_REQUEST' },
  { name: 'lone high surrogate in key', op: 'get', body: utf8('{"key":"a\\ud800"}'), expected: 'BAD_REQUEST' },
  { name: 'lone low surrogate in value', op: 'put', body: utf8('{"key":"a","value":"\\udc00b"}'), expected: 'BAD_REQUEST' },
  { name: 'reversed surrogate pair', op: 'put', body: utf8('{"key":"a","value":"\\udc00\\ud800"}'), expected: 'BAD_REQUEST' },
  { name: 'lone surrogate in expectedValue', op: 'cas', body: utf8('{"key":"a","value":"b","expectedValue":"\\ud83d"}'), expected: 'BAD_REQUEST' },
  { name: 'key over 1024 bytes', op: 'get', body: json({ key: 'x'.repeat(KEY_BYTES_MAX + 1) }), expected: 'KEY_TOO_LARGE' },
  { name: 'key over 1024 bytes in UTF-8 only', op: 'get', body: json({ key: 'é'.repeat(513) }), expected: 'KEY_TOO_LARGE' },
  { name: 'value over the limit', op: 'put', body: json({ key: 'a', value: 'x'.repeat(VALUE_BYTES_MAX + 1) }), expected: 'VALUE_TOO_LARGE' },
  { name: 'cas with both expectations', op: 'cas', body: json({ key: 'a', value: '1', expectedRevision: 1, expectedValue: '0' }), expected: 'BAD_REQUEST' },
  { name: 'cas with no expectation', op: 'cas', body: json({ key: 'a', value: '1' }), expected: 'BAD_REQUEST' },
  { name: 'cas negative revision', op: 'cas', body: json({ key: 'a', value: '1', expectedRevision: -1 }), expected: 'BAD_REQUEST' },
  { name: 'cas fractional revision', op: 'cas', body: json({ key: 'a', value: '1', expectedRevision: 1.5 }), expected: 'BAD_REQUEST' },
  { name: 'cas unsafe revision', op: 'cas', body: utf8('{"key":"a","value":"1","expectedRevision":9007199254740993}'), expected: 'BAD_REQUEST' },
  { name: 'cas revision 1e400', op: 'cas', body: utf8('{"key":"a","value":"1","expectedRevision":1e400}'), expected: 'BAD_REQUEST' },
  { name: 'cas string revision', op: 'cas', body: json({ key: 'a', value: '1', expectedRevision: '3' }), expected: 'BAD_REQUEST' },
  { name: 'cas numeric expectedValue', op: 'cas', body: json({ key: 'a', value: '1', expectedValue: 3 }), expected: 'BAD_REQUEST' },
  { name: 'cas expectedValue over the limit', op: 'cas', body: json({ key: 'a', value: '1', expectedValue: 'x'.repeat(VALUE_BYTES_MAX + 1) }), expected: 'VALUE_TOO_LARGE' },
  { name: 'status with a field', op: 'status', body: json({ verbose: true }), expected: 'BAD_REQUEST' },
];

describe('bus/protocol', () => {
  describe('parseRequest', () => {
    for (const testCase of CASES) {
      it(`${testCase.op}: ${testCase.name}`, () => {
        const result = parseRequest(testCase.op, testCase.body);
        if (typeof testCase.expected === 'string') {
          expect(result.ok, JSON.stringify(result).slice(0, 200)).to.equal(false);
          if (!result.ok) {
            expect(result.error.code).to.equal(testCase.expected);
            expect(result.error.message).to.be.a('string').and.not.equal('');
          }
        } else {
          expect(result).to.deep.equal({ ok: true, request: testCase.expected });
        }
      });
    }

    it('accepts the largest value and the largest key together', () => {
      const body = json({ key: 'k'.repeat(KEY_BYTES_MAX), value: 'v'.repeat(VALUE_BYTES_MAX) });
      expect(parseRequest('put', body).ok).to.equal(true);
    });

    it('accepts a cas by value carrying two largest values', () => {
      const body = json({ key: 'k', value: 'v'.repeat(VALUE_BYTES_MAX), expectedValue: 'w'.repeat(VALUE_BYTES_MAX) });
      expect(parseRequest('cas', body).ok).to.equal(true);
    });

    it('normalises a -0 revision to 0', () => {
      const result = parseRequest('cas', utf8('{"key":"a","value":"1","expectedRevision":-0}'));
      expect(result.ok && result.request.expected).to.deep.equal({ revision: 0 });
      expect(Object.is(result.ok && 'revision' in result.request.expected && result.request.expected.revision, 0)).to.equal(true);
    });

    it('never throws on arbitrary bytes', () => {
      let state = 12345;
      for (let round = 0; round < 5000; round++) {
        const input = new Uint8Array(round % 64);
        for (let i = 0; i < input.length; i++) input[i] = (state = (state * 1103515245 + 12345) >>> 0) >>> 24;
        for (const op of ['put', 'get', 'del', 'cas', 'status'] as const) parseRequest(op, input);
      }
    });
  });

  describe('encodeRequest is parsed back by parseRequest', () => {
    const requests: KvRequest[] = [
      { op: 'put', key: 'a', value: '"quoted"\n' },
      { op: 'get', key: 'a', consistency: 'stale' },
      { op: 'del', key: '__proto__' },
      { op: 'cas', key: 'a', value: 'b', expected: { revision: 3 } },
      { op: 'cas', key: 'a', value: 'b', expected: { value: null } },
      { op: 'status' },
    ];
    for (const request of requests) {
      it(JSON.stringify(request), () => {
        expect(parseRequest(request.op, encodeRequest(request))).to.deep.equal({ ok: true, request });
      });
    }
  });

  describe('replies', () => {
    it('encodes replies as JSON objects', () => {
      expect(new TextDecoder().decode(encodeReply('put', { revision: 3 }))).to.equal('{"revision":3}');
      expect(new TextDecoder().decode(encodeReply('get', { value: null, revision: 0 }))).to.equal('{"value":null,"revision":0}');
      expect(new TextDecoder().decode(encodeReply('cas', { ok: false, value: 'x', revision: 4 }))).to.equal('{"ok":false,"value":"x","revision":4}');
    });

    it('encodes errors, with a leader hint only for NOT_LEADER', () => {
      expect(JSON.parse(new TextDecoder().decode(encodeError('BAD_REQUEST', 'nope')))).to.deep.equal({ error: { code: 'BAD_REQUEST', message: 'nope' } });
      expect(JSON.parse(new TextDecoder().decode(encodeError('NOT_LEADER', 'ask 2', 2)))).to.deep.equal({ error: { code: 'NOT_LEADER', message: 'ask 2', leader: 2 } });
      expect(JSON.parse(new TextDecoder().decode(encodeError('NOT_LEADER', 'unknown')))).to.deep.equal({ error: { code: 'NOT_LEADER', message: 'unknown', leader: 0 } });
    });

    const replyCases: Array<[string, Operation, unknown, boolean | ErrorCode]> = [
      ['put ok', 'put', { revision: 1 }, true],
      ['get absent', 'get', { value: null, revision: 0 }, true],
      ['del', 'del', { deleted: true, revision: 5 }, true],
      ['cas refused', 'cas', { ok: false, value: null, revision: 0 }, true],
      ['status', 'status', { partitions: 8 }, true],
      ['error', 'put', { error: { code: 'TIMEOUT', message: 'slow' } }, 'TIMEOUT'],
      ['unknown error code -> INTERNAL', 'put', { error: { code: 'WAT', message: '?' } }, 'INTERNAL'],
      ['bad shape -> INTERNAL', 'get', { value: 3, revision: 1 }, 'INTERNAL'],
      ['negative revision -> INTERNAL', 'put', { revision: -1 }, 'INTERNAL'],
    ];
    for (const [name, op, body, expected] of replyCases) {
      it(`parseReply ${name}`, () => {
        const result = parseReply(op, json(body));
        if (expected === true) expect(result).to.deep.equal({ ok: true, reply: body });
        else expect(!result.ok && result.error.code).to.equal(expected);
      });
    }

    it('parseReply reads the leader hint of NOT_LEADER', () => {
      const result = parseReply('put', encodeError('NOT_LEADER', 'ask 3', 3));
      expect(result).to.deep.equal({ ok: false, error: { code: 'NOT_LEADER', message: 'ask 3', leader: 3 } });
    });
  });
});

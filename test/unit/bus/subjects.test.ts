import { expect } from 'chai';
import { DEFAULT_PREFIX, SubjectError, subjects, validatePrefix } from '../../../bus/subjects';

describe('bus/subjects', () => {
  it('names every subject under the default prefix', () => {
    const s = subjects();
    expect(s.prefix).to.equal(DEFAULT_PREFIX);
    expect([s.kvPut, s.kvGet, s.kvDel, s.kvCas, s.clusterStatus]).to.deep.equal([
      'cairn.kv.put',
      'cairn.kv.get',
      'cairn.kv.del',
      'cairn.kv.cas',
      'cairn.cluster.status',
    ]);
    expect(s.raft(3, 2)).to.equal('cairn.raft.3.2');
    expect(s.partitionLead(3)).to.equal('cairn.part.3.lead');
    expect(s.partitionRead(3)).to.equal('cairn.part.3.read');
    expect(s.snapshot(3, 1)).to.equal('cairn.snap.3.1');
    expect(s.control('fault')).to.equal('cairn.ctl.fault');
    expect(s.controlAll).to.equal('cairn.ctl.>');
  });

  it('accepts multi-token prefixes and string partition ids', () => {
    const s = subjects('acme.prod-1');
    expect(s.kvPut).to.equal('acme.prod-1.kv.put');
    expect(s.raft('meta', 1)).to.equal('acme.prod-1.raft.meta.1');
  });

  const badPrefixes: unknown[] = ['', '.', 'a.', '.a', 'a..b', 'a b', 'a*', 'a.>', 'ä', 'a\tb', 'x'.repeat(65), 'a.b.c.d.e.f.g.h.i', 5];
  for (const prefix of badPrefixes) {
    it(`refuses prefix ${JSON.stringify(prefix)}`, () => {
      expect(() => validatePrefix(prefix as string)).to.throw(SubjectError).with.property('code', 'BAD_PREFIX');
    });
  }

  const badIds: Array<[string, () => string]> = [
    ['negative partition', () => subjects().raft(-1, 1)],
    ['fractional partition', () => subjects().raft(1.5, 1)],
    ['wildcard partition', () => subjects().raft('*', 1)],
    ['dotted partition', () => subjects().partitionLead('a.b')],
    ['replica 0 (none)', () => subjects().raft(1, 0)],
    ['NaN replica', () => subjects().snapshot(1, NaN)],
    ['unsafe replica', () => subjects().raft(1, 2 ** 60)],
    ['wildcard control name', () => subjects().control('>')],
  ];
  for (const [name, make] of badIds) {
    it(`refuses ${name}`, () => {
      expect(make).to.throw(SubjectError).with.property('code', 'BAD_TOKEN');
    });
  }

  it('errors carry name and code', () => {
    try {
      subjects('bad prefix');
      expect.fail('should throw');
    } catch (error) {
      expect(error).to.be.instanceOf(SubjectError);
      expect((error as SubjectError).name).to.equal('SubjectError');
    }
  });
});

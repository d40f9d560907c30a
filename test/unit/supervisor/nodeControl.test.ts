import { expect } from 'chai';
import { parseNodeCommand } from '../../../supervisor/nodeControl';

describe('supervisor/nodeControl: the node control subject refuses malformed commands', () => {
  const actors = ['p0/r1', 'p3/r2'];
  const has = (actor: string) => actors.includes(actor);
  const refusal = (body: unknown) => {
    const outcome = parseNodeCommand(body, (actor) => actors.includes(actor));
    expect(outcome.ok, JSON.stringify(body)).to.equal(false);
    return outcome.ok ? '' : `${outcome.error.code}: ${outcome.error.message}`;
  };

  it('accepts each command with its fields', () => {
    expect(parseNodeCommand({ command: 'stop', partition: 3 }, has)).to.deep.equal({ ok: true, command: { command: 'stop', partition: 3 } });
    expect(parseNodeCommand({ command: 'start', partition: 0 }, has)).to.deep.equal({ ok: true, command: { command: 'start', partition: 0 } });
    expect(parseNodeCommand({ command: 'transfer', partition: 1, to: 'n2' }, has)).to.deep.equal({ ok: true, command: { command: 'transfer', partition: 1, to: 'n2' } });
    expect(parseNodeCommand({ command: 'drain' }, has)).to.deep.equal({ ok: true, command: { command: 'drain' } });
    expect(parseNodeCommand({ command: 'crash', actor: 'p3/r2' }, has)).to.deep.equal({ ok: true, command: { command: 'crash', actor: 'p3/r2' } });
    expect(parseNodeCommand({ command: 'crash', actor: 'replicas' }, has)).to.deep.equal({ ok: true, command: { command: 'crash-thread' } });
    expect(parseNodeCommand({ command: 'add', partition: 2, replica: 4 }, has)).to.deep.equal({ ok: true, command: { command: 'add', partition: 2, replica: 4 } });
    expect(parseNodeCommand({ command: 'remove', partition: 2 }, has)).to.deep.equal({ ok: true, command: { command: 'remove', partition: 2 } });
  });

  it('refuses with BAD_REQUEST and says what is wrong', () => {
    expect(refusal(undefined)).to.equal('BAD_REQUEST: body must be a JSON object');
    expect(refusal([1])).to.equal('BAD_REQUEST: body must be a JSON object');
    expect(refusal({ command: 'explode' })).to.match(/^BAD_REQUEST: "command" must be one of/);
    expect(refusal({ command: 'stop' })).to.match(/stop needs "partition"/);
    expect(refusal({ command: 'stop', partition: -1 })).to.match(/non-negative integer/);
    expect(refusal({ command: 'start', partition: 1.5 })).to.match(/non-negative integer/);
    expect(refusal({ command: 'transfer', partition: 1 })).to.match(/transfer needs "to"/);
    expect(refusal({ command: 'crash', actor: 'p9/r9' })).to.match(/for an actor of this node/);
    expect(refusal({ command: 'add', partition: 1 })).to.match(/add needs "replica"/);
    expect(refusal({ command: 'add', partition: 1, replica: 0 })).to.match(/add needs "replica"/);
    expect(refusal({ command: 'remove' })).to.match(/remove needs "partition"/);
  });

  describe('add with the first membership of a partition created later (voters and nodes)', () => {
    const nodes = { 1: 'n0', 2: 'n1', 3: 'n2' };

    it('accepts voters and nodes together as the replica\'s bootstrap', () => {
      expect(parseNodeCommand({ command: 'add', partition: 4, replica: 2, voters: [1, 2, 3], nodes }, has)).to.deep.equal({
        ok: true,
        command: { command: 'add', partition: 4, replica: 2, bootstrap: { voters: [1, 2, 3], nodes: { 1: 'n0', 2: 'n1', 3: 'n2' } } },
      });
      expect(parseNodeCommand({ command: 'add', partition: 4, replica: 1, voters: [1], nodes: { 1: 'n5' } }, has)).to.deep.equal({
        ok: true,
        command: { command: 'add', partition: 4, replica: 1, bootstrap: { voters: [1], nodes: { 1: 'n5' } } },
      });
    });

    it('refuses one without the other', () => {
      expect(refusal({ command: 'add', partition: 4, replica: 1, voters: [1, 2, 3] })).to.match(/^BAD_REQUEST: add: "nodes"/);
      expect(refusal({ command: 'add', partition: 4, replica: 1, nodes })).to.match(/^BAD_REQUEST: add: "voters"/);
    });

    it('refuses voters that are not 1..7 distinct positive replica ids', () => {
      for (const voters of [[], [0], [-1], [1.5], ['1'], [1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 2], 3, null, { 1: 1 }]) {
        expect(refusal({ command: 'add', partition: 4, replica: 1, voters, nodes }), JSON.stringify(voters)).to.match(/^BAD_REQUEST: add: "voters"/);
      }
    });

    it('refuses nodes that do not map replica ids to node ids', () => {
      const seventeen = Object.fromEntries(Array.from({ length: 17 }, (_, index) => [String(index + 1), `n${index}`]));
      for (const bad of [null, ['n0', 'n1'], 'n0', { 0: 'n0' }, { a: 'n0' }, { '01': 'n0' }, { 1: '' }, { 1: 'a b' }, { 1: '.n0' }, { 1: 5 }, { 1: null }, seventeen]) {
        expect(refusal({ command: 'add', partition: 4, replica: 1, voters: [1], nodes: bad }), JSON.stringify(bad)).to.match(/^BAD_REQUEST: add: "nodes"/);
      }
    });
  });
});

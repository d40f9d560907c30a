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
});

import { expect } from 'chai';
import { parseNodeCommand } from '../../../supervisor/nodeControl';
import { planRebalance } from '../../../supervisor/adminCommands';
import { clusterLayout } from '../../../actors/router/layout';

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

describe('supervisor/adminCommands: planRebalance', () => {
  const node = (id: string, extra: object = {}) => ({ id, pid: 1, uptimeMs: 1, replicas: 0, restarts: 0, failed: [], ...extra });
  const replica = (partition: number, id: number, nodeId: string) => ({
    partition, replica: id, node: nodeId, role: 'follower' as const, term: 1, leader: 1, commit: 1, applied: 1, lastIndex: 1, firstIndex: 1, snapshotsInstalled: 0,
  });
  const statusOf = (nodes: ReturnType<typeof node>[], layout: string[][]) => ({
    nodes,
    partitions: layout.map((holders, id) => ({ id, leader: null, replicas: holders.map((n, i) => replica(id, i + 1, n)) })),
    missing: [],
  });

  it('plans nothing for the placement itself, moves only onto a new node, and only off a drained one', () => {
    const three = ['n1', 'n2', 'n3'].map((id) => node(id));
    const layout = clusterLayout(['n1', 'n2', 'n3'], 8, 3).map((p) => [...p.nodeOfReplica.values()]);
    expect(planRebalance(statusOf(three, layout)).moves).to.deep.equal([]);
    const grown = planRebalance(statusOf([...three, node('n4')], layout)).moves;
    expect(grown.length).to.be.greaterThan(0);
    for (const move of grown) expect(move.to).to.equal('n4');
    const drained = planRebalance(statusOf([node('n1'), node('n2', { drained: true }), node('n3'), node('n4')], layout)).moves;
    expect(drained.map((move) => move.from).every((from) => from === 'n2')).to.equal(true);
    expect(drained).to.have.length(layout.filter((holders) => holders.includes('n2')).length);
  });
});

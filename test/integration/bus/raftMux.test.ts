import { expect } from 'chai';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { MessageType } from '../../../actors/raft/types';
import type { Message } from '../../../actors/raft/types';
import { FaultInjector } from '../../../bus/faultInjection';
import { RaftMux } from '../../../bus/raftMux';
import { RaftTransport } from '../../../bus/raftTransport';
import { startNatsServer } from '../../support/natsServer';
import { waitFor } from '../../support/waitFor';
import type { NatsServerHandle } from '../../support/natsServer';

function heartbeat(from: number, to: number, context: number): Message {
  return { type: MessageType.Heartbeat, from, to, term: 1, commit: 0, context };
}

/** Two "nodes", each a connection + mux hosting one replica of every partition in `partitions`. */
describe('bus/raftMux: node-level batching of many Raft groups (real nats-server)', function () {
  this.timeout(30_000);
  let server: NatsServerHandle;
  const connections: NatsConnection[] = [];
  const muxes: RaftMux[] = [];

  before(async () => {
    server = await startNatsServer();
  });
  after(async () => {
    for (const mux of muxes) mux.close();
    for (const nc of connections) await nc.close();
    await server.stop();
  });

  const host = async (nodeId: string, partitions: number[], replica: number, nodeOf: Record<number, string>, faults = new FaultInjector()) => {
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    const mux = new RaftMux(nc, { nodeId, log: () => undefined });
    muxes.push(mux);
    const inbox = new Map<number, Message[]>();
    const transports = new Map<number, RaftTransport>();
    for (const partition of partitions) {
      inbox.set(partition, []);
      transports.set(partition, new RaftTransport(nc, {
        partition, replica, faults, mux, nodeOf: (id) => nodeOf[id],
        onMessage: (message) => inbox.get(partition)!.push(message),
        log: () => undefined,
      }));
    }
    return { mux, inbox, transports, faults };
  };

  it('sends what many partitions queue in one turn as one NATS message per destination node, in order', async () => {
    const partitions = [0, 1, 2, 3, 4, 5, 6, 7];
    const a = await host('na', partitions, 1, { 1: 'na', 2: 'nb' });
    const b = await host('nb', partitions, 2, { 1: 'na', 2: 'nb' });
    await connections[1].flush();
    for (const partition of partitions) {
      for (let i = 0; i < 3; i++) a.transports.get(partition)!.send([heartbeat(1, 2, partition * 10 + i)]);
    }
    await waitFor(() => partitions.every((p) => b.inbox.get(p)!.length === 3), 'every partition to receive its messages');
    expect(a.mux.framesSent, 'one frame for 24 messages of 8 groups').to.equal(1);
    for (const partition of partitions) {
      expect(b.inbox.get(partition)!.map((m) => (m as { context: number }).context)).to.deep.equal([0, 1, 2].map((i) => partition * 10 + i));
    }
  });

  it('applies fault rules per replica endpoint inside a shared frame', async () => {
    const a = await host('fa', [10, 11], 1, { 1: 'fa', 2: 'fb' });
    const b = await host('fb', [10, 11], 2, { 1: 'fa', 2: 'fb' });
    await connections[connections.length - 1].flush();
    a.faults.apply({ op: 'drop', from: 'p10/r1', to: 'p10/r2' });
    a.transports.get(10)!.send([heartbeat(1, 2, 1)]);
    a.transports.get(11)!.send([heartbeat(1, 2, 2)]);
    await waitFor(() => b.inbox.get(11)!.length === 1, 'the unaffected partition to receive');
    await connections[connections.length - 1].flush();
    expect(b.inbox.get(10)).to.have.length(0);
  });

  it('counts frames for partitions it does not host and drops malformed frames', async () => {
    const a = await host('ua', [20], 1, { 1: 'ua', 2: 'ub' });
    const b = await host('ub', [21], 2, { 1: 'ua', 2: 'ub' });
    await connections[connections.length - 1].flush();
    a.transports.get(20)!.send([heartbeat(1, 2, 1)]);
    await waitFor(() => b.mux.undeliverable === 1, 'the frame for an unhosted partition to be counted');
    connections[0].publish('cairn.rnode.ub', new Uint8Array([1, 2, 3]));
    await connections[0].flush();
    a.transports.get(20)!.send([heartbeat(1, 2, 2)]);
    await waitFor(() => b.mux.undeliverable === 2, 'the mux to keep working after a bad frame');
    expect(b.mux.framesReceived).to.equal(2);
  });
});

import { expect } from 'chai';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { EntryType, MessageType } from '../../../actors/raft/types';
import type { Message } from '../../../actors/raft/types';
import { FaultInjector, sendFaultCommand, serveFaultControl } from '../../../bus/faultInjection';
import { encodeBatch } from '../../../bus/raftCodec';
import { RaftTransport, raftEndpoint } from '../../../bus/raftTransport';
import type { RaftTransportOptions } from '../../../bus/raftTransport';
import { startNatsServer } from '../../support/natsServer';
import { waitFor } from '../../support/waitFor';
import type { NatsServerHandle } from '../../support/natsServer';

function heartbeat(from: number, to: number, context: number): Message {
  return { type: MessageType.Heartbeat, from, to, term: 1, commit: 0, context };
}

function append(from: number, to: number, index: number, dataBytes: number): Message {
  const data = new Uint8Array(dataBytes).map((_, i) => (index + i) & 0xff);
  return { type: MessageType.Append, from, to, term: 1, logTerm: 1, index: index - 1, commit: 0, entries: [{ term: 1, index, type: EntryType.Normal, data }] };
}

interface Node {
  transport: RaftTransport;
  inbox: Message[];
  logs: string[];
}

describe('bus/raftTransport (real nats-server)', function () {
  this.timeout(30_000);
  let server: NatsServerHandle;
  const connections: NatsConnection[] = [];
  const nodes: Node[] = [];
  let partition = 0;

  const connection = async (): Promise<NatsConnection> => {
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    return nc;
  };

  /** A replica's transport on `nc`; every test uses a fresh partition so tests cannot see each other. */
  const node = (nc: NatsConnection, replica: number, extra: Partial<RaftTransportOptions> = {}): Node => {
    const inbox: Message[] = [];
    const logs: string[] = [];
    const transport = new RaftTransport(nc, {
      partition,
      replica,
      onMessage: (message) => inbox.push(message),
      log: (line) => logs.push(line),
      faults: new FaultInjector(),
      ...extra,
    });
    const created = { transport, inbox, logs };
    nodes.push(created);
    return created;
  };

  before(async () => {
    server = await startNatsServer();
  });
  beforeEach(() => {
    partition++;
  });
  afterEach(async () => {
    for (const created of nodes.splice(0)) created.transport.close();
    await Promise.all(connections.splice(0).map((nc) => nc.close()));
  });
  after(async () => {
    await server?.stop();
  });

  it('sends one frame per destination per flush, and delivers in order', async () => {
    const [a, b, c] = [await connection(), await connection(), await connection()];
    const r1 = node(a, 1);
    const r2 = node(b, 2);
    const r3 = node(c, 3);
    await Promise.all([b.flush(), c.flush()]);
    const toTwo = [append(1, 2, 10, 100), heartbeat(1, 2, 1), append(1, 2, 11, 3)];
    r1.transport.send([toTwo[0]!, heartbeat(1, 3, 7), toTwo[1]!, toTwo[2]!]);
    await waitFor(() => r2.inbox.length === 3 && r3.inbox.length === 1, 'delivery');
    expect(r2.inbox).to.deep.equal(toTwo);
    expect(r3.inbox).to.deep.equal([heartbeat(1, 3, 7)]);
    expect(r1.transport.stats()).to.include({ framesSent: 2, messagesSent: 4 });
    expect(r2.transport.stats()).to.include({ framesReceived: 1, messagesReceived: 3 });
  });

  it('enqueue + flush batches across calls; nothing leaves before flush', async () => {
    const nc = await connection();
    const r1 = node(nc, 1);
    const r2 = node(nc, 2);
    r1.transport.enqueue(heartbeat(1, 2, 1));
    r1.transport.enqueue(heartbeat(1, 2, 2));
    expect(r1.transport.stats().framesSent).to.equal(0);
    r1.transport.flush();
    await waitFor(() => r2.inbox.length === 2, 'delivery');
    expect(r2.transport.stats().framesReceived).to.equal(1);
  });

  it('splits a batch over max frame size, keeping order, and drops a message too large for any frame', async () => {
    const nc = await connection();
    const r1 = node(nc, 1, { frameBytesMax: 2500 });
    const r2 = node(nc, 2);
    await nc.flush();
    const sent = [1, 2, 3, 4, 5].map((index) => append(1, 2, index, 1000));
    r1.transport.send([...sent.slice(0, 2), append(1, 2, 99, 5000), ...sent.slice(2)]);
    await waitFor(() => r2.inbox.length === 5, 'delivery');
    expect(r2.inbox).to.deep.equal(sent);
    expect(r1.transport.stats()).to.include({ framesSent: 3, oversized: 1 });
    expect(r1.logs.filter((line) => line.includes('frame limit'))).to.have.length(1);
  });

  it('keeps the subscription alive when the callback throws (counted, logged once)', async () => {
    const nc = await connection();
    const r1 = node(nc, 1);
    const seen: number[] = [];
    const r2 = node(nc, 2, {
      onMessage: (message) => {
        seen.push(message.context!);
        if (message.context! % 2 === 1) throw new Error(`boom ${message.context}`);
      },
    });
    await nc.flush();
    r1.transport.send([heartbeat(1, 2, 1), heartbeat(1, 2, 2)]);
    r1.transport.send([heartbeat(1, 2, 3)]);
    r1.transport.send([heartbeat(1, 2, 4)]);
    await waitFor(() => seen.length === 4, 'delivery after throws');
    expect(seen).to.deep.equal([1, 2, 3, 4]);
    expect(r2.transport.stats().handlerErrors).to.equal(2);
    expect(r2.logs).to.have.length(1);
    expect(r2.logs[0]).to.include('boom 1');
  });

  it('drops garbage frames and misrouted messages, and goes on', async () => {
    const nc = await connection();
    const r1 = node(nc, 1);
    const r2 = node(nc, 2);
    await nc.flush();
    const inbox = `cairn.raft.${partition}.2`;
    nc.publish(inbox, new TextEncoder().encode('{"json":"is not the codec"}'));
    nc.publish(inbox, encodeBatch([heartbeat(1, 3, 5)]));
    r1.transport.send([heartbeat(1, 2, 6)]);
    await waitFor(() => r2.inbox.length === 1, 'delivery');
    expect(r2.inbox[0]!.context).to.equal(6);
    expect(r2.transport.stats()).to.include({ decodeErrors: 1, misrouted: 1 });
  });

  describe('fault injection, observed on real NATS', () => {
    // All replicas share one connection: NATS keeps one publisher's order, so once a witness
    // published after the probe (raw, around the fault layer) arrives, the probe would have too.
    let nc: NatsConnection;
    let faults: FaultInjector;
    let r1: Node;
    let r2: Node;
    let r3: Node;
    let context = 0;
    const replicas = (): Node[] => [r1, r2, r3];
    const ping = async (from: number, to: number): Promise<boolean> => {
      const probe = ++context;
      const witness = ++context;
      const target = replicas()[to - 1]!;
      replicas()[from - 1]!.transport.send([heartbeat(from, to, probe)]);
      nc.publish(`cairn.raft.${partition}.${to}`, encodeBatch([heartbeat(from, to, witness)]));
      await waitFor(() => target.inbox.some((message) => message.context === witness), 'witness');
      return target.inbox.some((message) => message.context === probe);
    };

    beforeEach(async () => {
      nc = await connection();
      faults = new FaultInjector();
      r1 = node(nc, 1, { faults });
      r2 = node(nc, 2, { faults });
      r3 = node(nc, 3, { faults });
      await nc.flush();
    });
    afterEach(() => faults.close());

    it('drop is one-directional; heal restores', async () => {
      faults.drop(raftEndpoint(partition, 1), raftEndpoint(partition, 2));
      expect(await ping(1, 2)).to.equal(false);
      expect(await ping(2, 1)).to.equal(true);
      faults.heal();
      expect(await ping(1, 2)).to.equal(true);
    });

    it('cut blocks both directions only between the pair', async () => {
      faults.cut(raftEndpoint(partition, 1), raftEndpoint(partition, 2));
      expect(await ping(1, 2)).to.equal(false);
      expect(await ping(2, 1)).to.equal(false);
      expect(await ping(2, 3)).to.equal(true);
      faults.heal();
      expect(await ping(2, 1)).to.equal(true);
    });

    it('isolate blocks all traffic of one replica', async () => {
      faults.isolate(raftEndpoint(partition, 2));
      expect(await ping(1, 2)).to.equal(false);
      expect(await ping(3, 2)).to.equal(false);
      expect(await ping(2, 3)).to.equal(false);
      expect(await ping(1, 3)).to.equal(true);
      faults.heal();
      expect(await ping(3, 2)).to.equal(true);
    });

    it('delay holds a link for the given time', async () => {
      faults.delay(raftEndpoint(partition, 1), raftEndpoint(partition, 2), 150);
      const start = Date.now();
      r1.transport.send([heartbeat(1, 2, 1000)]);
      await waitFor(() => r2.inbox.some((message) => message.context === 1000), 'delayed delivery');
      expect(Date.now() - start).to.be.at.least(140);
    });
  });

  it('faults commanded over <prefix>.ctl.fault reach every injector (as in separate processes)', async () => {
    const [a, b, control] = [await connection(), await connection(), await connection()];
    const faultsA = new FaultInjector();
    const faultsB = new FaultInjector();
    const subscriptions = [serveFaultControl(a, 'cairn', faultsA, 'proc-a'), serveFaultControl(b, 'cairn', faultsB, 'proc-b')];
    const r1 = node(a, 1, { faults: faultsA });
    const r2 = node(b, 2, { faults: faultsB });
    await Promise.all([a.flush(), b.flush()]);
    try {
      const acks = await sendFaultCommand(control, 'cairn', { op: 'cut', a: raftEndpoint(partition, 1), b: raftEndpoint(partition, 2) }, { expectedAcks: 2, timeoutMs: 2000 });
      expect(acks.sort()).to.deep.equal(['proc-a', 'proc-b']);
      r1.transport.send([heartbeat(1, 2, 1)]);
      r2.transport.send([heartbeat(2, 1, 2)]);
      expect(faultsA.stats().dropped + faultsB.stats().dropped).to.equal(2);
      await sendFaultCommand(control, 'cairn', { op: 'heal' }, { expectedAcks: 2, timeoutMs: 2000 });
      r1.transport.send([heartbeat(1, 2, 3)]);
      r2.transport.send([heartbeat(2, 1, 4)]);
      await waitFor(() => r1.inbox.length === 1 && r2.inbox.length === 1, 'delivery after heal');
      expect(r2.inbox[0]!.context).to.equal(3);
      expect(r1.inbox[0]!.context).to.equal(4);
      const refused = await sendFaultCommand(control, 'cairn', { op: 'delay', from: 'x', to: 'y', ms: -5 }, { expectedAcks: 2, timeoutMs: 2000 }).catch((error: unknown) => error);
      expect(refused).to.have.property('code', 'NO_ACK');
    } finally {
      subscriptions.forEach((subscription) => subscription.unsubscribe());
      faultsA.close();
      faultsB.close();
    }
  });
});

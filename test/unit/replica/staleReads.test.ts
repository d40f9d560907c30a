import { expect } from 'chai';
import type { Msg, NatsConnection } from 'nats';
import { StaleReads } from '../../../actors/replica/leadRequests';
import { READ_QUEUE_GROUP } from '../../../bus/subjects';

/** Records subscriptions like a NATS connection would hold them. */
function fakeConnection() {
  const live = new Map<number, { subject: string; queue?: string }>();
  let next = 0;
  const nc = {
    subscribe: (subject: string, options: { queue?: string }) => {
      const id = next++;
      live.set(id, { subject, queue: options.queue });
      return { drain: async () => void live.delete(id) };
    },
  } as unknown as NatsConnection;
  return { nc, live };
}

describe('replica/StaleReads: only voters serve stale reads', () => {
  it('a learner stays out of the read queue group, joins once promoted, leaves when removed', () => {
    const { nc, live } = fakeConnection();
    const reads = new StaleReads(nc, 'cairn.part.3.read.get', (_message: Msg) => undefined, (_message: Msg) => undefined);
    reads.sync(false);
    expect([...live.values()], 'a learner catching up').to.deep.equal([]);
    reads.sync(true);
    reads.sync(true);
    expect([...live.values()], 'promoted: one subscription, in the queue group').to.deep.equal([{ subject: 'cairn.part.3.read.get', queue: READ_QUEUE_GROUP }]);
    reads.sync(false);
    expect([...live.values()], 'removed from the voters').to.deep.equal([]);
    reads.sync(true);
    reads.close();
    expect(live.size, 'closed with the replica').to.equal(0);
  });
});

import { expect } from 'chai';
import type { NatsConnection } from 'nats';
import { PartitionMap } from '../../../actors/router/layout';
import { RingFollower, ringOf } from '../../../bus/ringFollower';
import { subjects } from '../../../bus/subjects';

describe('bus/ringFollower', () => {
  describe('ringOf', () => {
    it('accepts a valid ring of a controller view, partitions in ascending order', () => {
      expect(ringOf({ controller: 'n1', epoch: 12, ring: { epoch: 3, partitions: [2, 0, 1] } })).to.deep.equal({ epoch: 3, partitions: [0, 1, 2] });
      expect(ringOf({ ring: { epoch: 0, partitions: [0] } }), 'epoch 0: the first layout').to.deep.equal({ epoch: 0, partitions: [0] });
      expect(ringOf({ ring: { epoch: 1, partitions: [65534] } })).to.deep.equal({ epoch: 1, partitions: [65534] });
    });

    const refused: [string, unknown][] = [
      ['a negative epoch', { ring: { epoch: -1, partitions: [0] } }],
      ['a fractional epoch', { ring: { epoch: 1.5, partitions: [0] } }],
      ['an epoch that is a string', { ring: { epoch: '1', partitions: [0] } }],
      ['a missing epoch', { ring: { partitions: [0] } }],
      ['an empty ring', { ring: { epoch: 1, partitions: [] } }],
      ['a partition listed twice', { ring: { epoch: 1, partitions: [0, 1, 1] } }],
      ['the metadata partition 65535', { ring: { epoch: 1, partitions: [0, 65535] } }],
      ['an id above 65535', { ring: { epoch: 1, partitions: [70000] } }],
      ['a negative id', { ring: { epoch: 1, partitions: [-1] } }],
      ['a fractional id', { ring: { epoch: 1, partitions: [0.5] } }],
      ['an id that is a string', { ring: { epoch: 1, partitions: ['0'] } }],
      ['partitions that are not an array', { ring: { epoch: 1, partitions: { 0: 0 } } }],
      ['no ring', { epoch: 1 }],
      ['a ring that is not an object', { ring: 'p0' }],
      ['null', null],
      ['a number', 5],
    ];
    for (const [name, view] of refused) {
      it(`refuses ${name}`, () => {
        expect(ringOf(view)).to.equal(undefined);
      });
    }
  });

  describe('RingFollower', () => {
    /** A connection that only records the subscription, so a test can publish to it. */
    function fakeConnection() {
      const published: { subject?: string; callback?: (error: unknown, message: { data: Uint8Array }) => void } = {};
      const nc = {
        subscribe(subject: string, options: { callback: (error: unknown, message: { data: Uint8Array }) => void }) {
          published.subject = subject;
          published.callback = options.callback;
          return { unsubscribe: () => undefined };
        },
      };
      const publish = (body: string) => published.callback!(null, { data: Buffer.from(body) });
      return { nc: nc as unknown as NatsConnection, published, publish };
    }

    it('follows the rings the controller publishes and ignores older epochs and views without a valid ring', () => {
      const { nc, published, publish } = fakeConnection();
      const follower = new RingFollower(nc, subjects('t'), new PartitionMap(2)).follow();
      expect(published.subject).to.equal(subjects('t').control('routing'));
      expect(follower.partitions).to.deep.equal([0, 1]);
      expect(follower.ringEpoch).to.equal(-1);

      publish(JSON.stringify({ ring: { epoch: 2, partitions: [0, 1, 2] } }));
      expect(follower.ringEpoch).to.equal(2);
      expect(follower.partitions).to.deep.equal([0, 1, 2]);
      const keys = Array.from({ length: 50 }, (_, index) => `k${index}`);
      expect(keys.map((key) => follower.partitionOf(key))).to.deep.equal(keys.map((key) => new PartitionMap([0, 1, 2]).partitionOf(key)));

      publish(JSON.stringify({ ring: { epoch: 1, partitions: [0] } }));
      publish(JSON.stringify({ ring: { epoch: 3, partitions: [] } }));
      publish('not json');
      publish(JSON.stringify({ epoch: 9 }));
      expect(follower.ringEpoch).to.equal(2);
      expect(follower.partitions).to.deep.equal([0, 1, 2]);

      publish(JSON.stringify({ ring: { epoch: 3, partitions: [0, 2] } }));
      expect(follower.ringEpoch).to.equal(3);
      expect(follower.partitions).to.deep.equal([0, 2]);
      follower.close();
    });
  });
});

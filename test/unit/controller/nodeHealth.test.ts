import { expect } from 'chai';
import { FAILURE_DETECTOR_DEFAULTS, FailureDetector, validateFailureDetectorConfig } from '../../../actors/controller';

describe('controller/nodeHealth', () => {
  it('documents its defaults: heartbeat 500 ms, suspect after 1.5 s, down after 10 s', () => {
    expect(FAILURE_DETECTOR_DEFAULTS).to.deep.equal({ heartbeatIntervalMs: 500, suspectAfterMs: 1500, downAfterMs: 10000 });
  });

  it('turns suspect and down exactly at the boundaries', () => {
    const detector = new FailureDetector();
    detector.recordHeartbeat('n1', 1000);
    expect(detector.healthOf('n1', 1000)).to.equal('alive');
    expect(detector.healthOf('n1', 2499)).to.equal('alive');
    expect(detector.healthOf('n1', 2500)).to.equal('suspect');
    expect(detector.healthOf('n1', 10999)).to.equal('suspect');
    expect(detector.healthOf('n1', 11000)).to.equal('down');
  });

  it('a down node that heartbeats again is alive', () => {
    const detector = new FailureDetector();
    detector.recordHeartbeat('n1', 0);
    expect(detector.healthOf('n1', 20000)).to.equal('down');
    detector.recordHeartbeat('n1', 20000);
    expect(detector.healthOf('n1', 20000)).to.equal('alive');
  });

  it('honours a custom configuration', () => {
    const detector = new FailureDetector({ heartbeatIntervalMs: 10, suspectAfterMs: 30, downAfterMs: 100 });
    detector.recordHeartbeat('n1', 0);
    expect([29, 30, 99, 100].map((nowMs) => detector.healthOf('n1', nowMs))).to.deep.equal(['alive', 'suspect', 'suspect', 'down']);
  });

  it('ignores a heartbeat older than one already seen', () => {
    const detector = new FailureDetector();
    detector.recordHeartbeat('n1', 5000);
    detector.recordHeartbeat('n1', 100);
    expect(detector.healthOf('n1', 6000)).to.equal('alive');
  });

  it('an untracked node is suspect; trackNodes gives a fresh controller leader a full grace period', () => {
    const detector = new FailureDetector();
    expect(detector.healthOf('n9', 0)).to.equal('suspect');
    detector.trackNodes(['n9'], 50_000);
    expect(detector.healthOf('n9', 51_000)).to.equal('alive');
    expect(detector.healthOf('n9', 60_000)).to.equal('down');
    detector.recordHeartbeat('n8', 100);
    detector.trackNodes(['n8'], 50_000);
    expect(detector.healthOf('n8', 50_000), 'tracking does not refresh a node already heard from').to.equal('down');
  });

  it('evaluate reports transitions and bumps the revision only when something changed', () => {
    const detector = new FailureDetector();
    detector.recordHeartbeat('a', 0);
    detector.recordHeartbeat('b', 0);
    const first = detector.evaluate(100);
    expect(first.transitions).to.deep.equal([]);
    expect(first.revision).to.equal(0);
    detector.recordHeartbeat('b', 1600);
    const second = detector.evaluate(1600);
    expect(second.transitions).to.deep.equal([{ nodeId: 'a', from: 'alive', to: 'suspect' }]);
    expect([...second.health]).to.deep.equal([['a', 'suspect'], ['b', 'alive']]);
    expect(second.revision).to.equal(1);
    expect(detector.evaluate(1700).revision).to.equal(1);
    expect(detector.evaluate(10_000).transitions).to.deep.equal([
      { nodeId: 'a', from: 'suspect', to: 'down' },
      { nodeId: 'b', from: 'alive', to: 'suspect' },
    ]);
    detector.forget('a');
    expect(detector.revision).to.equal(3);
    expect(detector.healthOf('a', 10_000)).to.equal('suspect');
  });

  it('refuses configurations that could judge a node before it heartbeats, and bad times', () => {
    for (const config of [
      { heartbeatIntervalMs: 500, suspectAfterMs: 500, downAfterMs: 10000 },
      { heartbeatIntervalMs: 500, suspectAfterMs: 1500, downAfterMs: 1500 },
      { heartbeatIntervalMs: 0, suspectAfterMs: 1500, downAfterMs: 10000 },
      { heartbeatIntervalMs: 500, suspectAfterMs: Number.NaN, downAfterMs: 10000 },
    ]) {
      const result = validateFailureDetectorConfig(config);
      expect(result.ok, JSON.stringify(config)).to.equal(false);
      expect(() => new FailureDetector(config)).to.throw(RangeError);
    }
    expect(() => new FailureDetector().recordHeartbeat('n1', Number.NaN)).to.throw(RangeError);
  });
});

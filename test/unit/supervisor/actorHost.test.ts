import { expect } from 'chai';
import { join } from 'node:path';
import { ActorHost } from '../../../supervisor/actorHost';

const ENTRY = join(__dirname, '..', '..', 'support', 'workers', 'testActor.js');

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('supervisor/actorHost (real worker threads)', function () {
  this.timeout(30_000);
  let host: ActorHost | undefined;
  const logs: string[] = [];
  afterEach(async () => {
    await host?.stop();
    host = undefined;
    logs.length = 0;
  });

  it('restarts a worker that throws, and it answers again', async () => {
    host = new ActorHost({ name: 'test', entry: ENTRY, workerData: {}, log: (line) => logs.push(line) });
    host.start();
    expect(await host.call('ready')).to.deep.equal({ ok: true });
    await host.call('crash');
    await until(() => host!.restarts === 1 && host!.state === 'running', 'the restart');
    await until(() => logs.some((line) => /test crashed: Error: test actor crash/.test(line)), 'the crash to be logged');
    expect(await host.call('ready')).to.deep.equal({ ok: true });
  });

  it('terminates and restarts a worker whose event loop is blocked (liveness probe)', async () => {
    const wedged: string[] = [];
    host = new ActorHost({
      name: 'test', entry: ENTRY, workerData: {}, log: (line) => logs.push(line),
      watchdog: { intervalMs: 50, timeoutMs: 300, onWedged: (name) => wedged.push(name) },
    });
    host.start();
    await until(() => logs.length === 0 && host!.state === 'running', 'the start');
    expect(await host.call('ready')).to.deep.equal({ ok: true });
    await new Promise((resolve) => setTimeout(resolve, 120)); // let a probe see the healthy worker first
    await host.call('wedge');
    await until(() => host!.restarts === 1 && host!.state === 'running', 'the wedged worker to be restarted');
    expect(logs.some((line) => /test is wedged \(no answer to a liveness probe within 300 ms\)/.test(line))).to.equal(true);
    expect(await host.call('ready')).to.deep.equal({ ok: true });
    expect(wedged, 'termination ended it: no need to exit the process').to.deep.equal([]);
  });

  it('does not declare a worker wedged before it has answered once (starting can take long)', async () => {
    const stuck = join(__dirname, '..', '..', 'support', 'workers', 'stuckActor.js');
    host = new ActorHost({
      name: 'stuck', entry: stuck, workerData: {}, log: (line) => logs.push(line),
      watchdog: { intervalMs: 50, timeoutMs: 100, onWedged: () => undefined },
    });
    host.start();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(host.restarts).to.equal(0);
    expect(logs.filter((line) => /wedged/.test(line))).to.deep.equal([]);
  });
});

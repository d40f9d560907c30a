import { expect } from 'chai';
import * as sinon from 'sinon';
import { FaultError, FaultInjector, parseFaultCommand, passThroughFaults } from '../../../bus/faultInjection';

describe('bus/faultInjection (in process)', () => {
  let clock: sinon.SinonFakeTimers;
  let injector: FaultInjector;
  let delivered: string[];
  const send = (from: string, to: string, item: string) => injector.route(from, to, item, (x) => delivered.push(x));

  beforeEach(() => {
    clock = sinon.useFakeTimers();
    injector = new FaultInjector();
    delivered = [];
  });
  afterEach(() => {
    injector.close();
    clock.restore();
  });

  it('passes everything through with no rules', () => {
    send('a', 'b', '1');
    passThroughFaults.route('a', 'b', '2', (x) => delivered.push(x));
    expect(delivered).to.deep.equal(['1', '2']);
  });

  it('drop is one-directional', () => {
    injector.drop('a', 'b');
    send('a', 'b', 'dropped');
    send('b', 'a', 'kept');
    send('a', 'c', 'kept too');
    expect(delivered).to.deep.equal(['kept', 'kept too']);
    expect(injector.stats().dropped).to.equal(1);
  });

  it('cut drops both directions and heal restores', () => {
    injector.cut('a', 'b');
    send('a', 'b', 'x');
    send('b', 'a', 'y');
    injector.heal();
    send('a', 'b', 'z');
    expect(delivered).to.deep.equal(['z']);
  });

  it('isolate drops everything to and from the endpoint', () => {
    injector.isolate('p1/r3');
    send('p1/r3', 'p1/r1', 'out');
    send('p1/r2', 'p1/r3', 'in');
    send('p1/r1', 'p1/r2', 'others');
    expect(delivered).to.deep.equal(['others']);
  });

  it('delay holds messages for the given time, in order, and 0 removes it', () => {
    injector.delay('a', 'b', 50);
    send('a', 'b', '1');
    send('a', 'b', '2');
    send('b', 'a', 'undelayed');
    expect(delivered).to.deep.equal(['undelayed']);
    clock.tick(49);
    expect(delivered).to.deep.equal(['undelayed']);
    clock.tick(1);
    expect(delivered).to.deep.equal(['undelayed', '1', '2']);
    injector.delay('a', 'b', 0);
    send('a', 'b', '3');
    expect(delivered.at(-1)).to.equal('3');
  });

  it('heal lets messages already delayed arrive; close forgets them', () => {
    injector.delay('a', 'b', 10);
    send('a', 'b', 'in flight');
    injector.heal();
    clock.tick(10);
    expect(delivered).to.deep.equal(['in flight']);
    injector.delay('a', 'b', 10);
    send('a', 'b', 'forgotten');
    injector.close();
    clock.tick(10);
    expect(delivered).to.deep.equal(['in flight']);
  });

  it('refuses bad rules with FaultError', () => {
    expect(() => injector.drop('', 'b')).to.throw(FaultError);
    expect(() => injector.delay('a', 'b', -1)).to.throw(FaultError);
    expect(() => injector.delay('a', 'b', 1.5)).to.throw(FaultError);
    expect(() => injector.isolate(3 as unknown as string)).to.throw(FaultError);
  });

  describe('parseFaultCommand', () => {
    const encode = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
    const good = [
      { op: 'drop', from: 'a', to: 'b' },
      { op: 'delay', from: 'a', to: 'b', ms: 5 },
      { op: 'cut', a: 'a', b: 'b' },
      { op: 'isolate', endpoint: 'a' },
      { op: 'heal' },
    ];
    for (const command of good) {
      it(`accepts ${JSON.stringify(command)}`, () => {
        expect(parseFaultCommand(encode(command))).to.deep.equal(command);
        injector.apply(parseFaultCommand(encode(command)));
      });
    }
    const bad = ['not json', '[]', 'null', { op: 'explode' }, { op: 'constructor' }, { op: '__proto__' }, { op: 'drop', from: 'a' }, { op: 'heal', extra: 1 }];
    for (const command of bad) {
      it(`refuses ${JSON.stringify(command)}`, () => {
        expect(() => parseFaultCommand(encode(command))).to.throw(FaultError).with.property('code', 'BAD_COMMAND');
      });
    }
    it('refuses a well-shaped command with bad values when applied', () => {
      expect(() => injector.apply(parseFaultCommand(encode({ op: 'delay', from: 'a', to: 'b', ms: '5' })))).to.throw(FaultError);
    });
  });
});

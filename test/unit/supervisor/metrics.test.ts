import { expect } from 'chai';
import { defaultRegistry, MetricsError, Registry } from '../../../supervisor/metrics';
import { parsePrometheusText } from './prometheusText';

describe('supervisor/metrics', () => {
  it('renders counters, gauges and histograms in the text format', () => {
    const registry = new Registry();
    const requests = registry.counter('test_requests_total', 'Requests.\nSecond line \\ here', ['route', 'status']);
    requests.inc({ route: '/a', status: '200' });
    requests.inc({ route: '/a', status: '200' }, 2);
    requests.inc({ route: 'say "hi"\\\n', status: '500' });
    const inFlight = registry.gauge('test_in_flight', 'In flight.');
    inFlight.inc();
    inFlight.inc();
    inFlight.dec();
    const latency = registry.histogram('test_latency_milliseconds', 'Latency.', ['route'], [1, 10, 100]);
    for (const value of [0.5, 1, 5, 50, 500]) latency.observe(value, { route: '/a' });

    const text = registry.render();
    expect(text.endsWith('\n')).to.equal(true);
    expect(text).to.include('# HELP test_requests_total Requests.\\nSecond line \\\\ here\n# TYPE test_requests_total counter\n');
    expect(text).to.include('test_requests_total{route="/a",status="200"} 3\n');
    expect(text).to.include('test_requests_total{route="say \\"hi\\"\\\\\\n",status="500"} 1\n');
    expect(text).to.include('test_in_flight 1\n');
    expect(text).to.include(
      [
        'test_latency_milliseconds_bucket{route="/a",le="1"} 2',
        'test_latency_milliseconds_bucket{route="/a",le="10"} 3',
        'test_latency_milliseconds_bucket{route="/a",le="100"} 4',
        'test_latency_milliseconds_bucket{route="/a",le="+Inf"} 5',
        'test_latency_milliseconds_sum{route="/a"} 556.5',
        'test_latency_milliseconds_count{route="/a"} 5',
      ].join('\n'),
    );
    const samples = parsePrometheusText(text);
    expect(samples.find((sample) => sample.name === 'test_requests_total' && sample.labels.get('status') === '500')?.labels.get('route')).to.equal('say "hi"\\\n');
    expect(requests.value({ route: '/a', status: '200' })).to.equal(3);
    expect(inFlight.value()).to.equal(1);
  });

  it('returns the registered metric on a second registration, refuses a conflicting one', () => {
    const registry = new Registry();
    const first = registry.counter('c_total', 'C.', ['a']);
    expect(registry.counter('c_total', 'C.', ['a'])).to.equal(first);
    expect(() => registry.gauge('c_total', 'C.', ['a'])).to.throw(MetricsError, /already registered as a counter/);
    expect(() => registry.counter('c_total', 'C.', ['b'])).to.throw(MetricsError);
  });

  it('refuses bad names, labels, increments and buckets', () => {
    const registry = new Registry();
    expect(() => registry.counter('1bad', 'x')).to.throw(MetricsError, /bad metric name/);
    expect(() => registry.counter('ok_total', 'x', ['__reserved'])).to.throw(MetricsError, /bad label name/);
    expect(() => registry.counter('dup_total', 'x', ['a', 'a'])).to.throw(MetricsError, /duplicate/);
    expect(() => registry.histogram('h', 'x', ['le'])).to.throw(MetricsError, /"le"/);
    expect(() => registry.histogram('h2', 'x', [], [10, 5])).to.throw(MetricsError, /strictly increasing/);
    const counter = registry.counter('inc_total', 'x', ['a']);
    expect(() => counter.inc({ a: '1' }, -1)).to.throw(MetricsError, />= 0/);
    expect(() => counter.inc({})).to.throw(MetricsError, /labels/);
    expect(() => counter.inc({ a: '1', b: '2' })).to.throw(MetricsError, /labels/);
  });

  it('label values may be any string, including __proto__', () => {
    const registry = new Registry();
    const counter = registry.counter('p_total', 'x', ['key']);
    counter.inc({ key: '__proto__' });
    counter.inc({ key: 'constructor' });
    expect(registry.render()).to.include('p_total{key="__proto__"} 1\np_total{key="constructor"} 1\n');
  });

  it('bounds the series of a metric and counts what it dropped', () => {
    const registry = new Registry({ seriesMax: 2 });
    const counter = registry.counter('bounded_total', 'x', ['n']);
    for (let i = 0; i < 5; i++) counter.inc({ n: String(i) });
    counter.inc({ n: '0' });
    const text = registry.render();
    expect(text).to.include('bounded_total{n="0"} 2\nbounded_total{n="1"} 1\n');
    expect(text).to.not.include('n="2"');
    expect(text).to.include('cairn_metrics_series_dropped_total 3\n');
  });

  it('exports a process-wide default registry', () => {
    expect(defaultRegistry).to.be.instanceOf(Registry);
    expect(parsePrometheusText(defaultRegistry.render()).length).to.be.greaterThan(0);
  });
});

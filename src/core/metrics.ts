import http from 'node:http';
import client from 'prom-client';

/**
 * Tandem's one metrics module: prom-client behind a few helpers, so the rest of the code names a metric once and
 * sets it. Everything registers in one process-wide registry, served in Prometheus text format by
 * {@link serveMetrics} (and, later, by the HTTP API's `/metrics`). A mirror of the values gives a synchronous
 * {@link snapshot} for JSON output.
 *
 * Metric names: `tandem_<subsystem>_<what>[_total|_seconds|_ratio]`; labels are entity names, states and
 * outcomes — never keys, values, URLs or anything sensitive.
 */
export const registry = new client.Registry();

type Labels = Record<string, string>;
const mirror = new Map<string, Map<string, { labels: Labels; value: number }>>();
const keyOf = (labels: Labels) =>
  JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((k) => [k, labels[k]]),
  );
function remember(name: string, labels: Labels, value: (old: number) => number): void {
  const e = entry(name, labels);
  e.value = value(e.value);
}
/** The mirror entry of one labelled series (created at 0), kept by bound metrics to skip the lookup. */
function entry(name: string, labels: Labels): { labels: Labels; value: number } {
  let m = mirror.get(name);
  if (!m) mirror.set(name, (m = new Map()));
  const k = keyOf(labels);
  let e = m.get(k);
  if (!e) m.set(k, (e = { labels: { ...labels }, value: 0 }));
  return e;
}

/**
 * A gauge: `set(labels, value)`; `reset()` drops every series (for gauges rebuilt whole at each scrape, such as
 * an info metric whose label changes).
 */
export interface Gauge {
  set(labels: Labels, value: number): void;
  reset(): void;
}

/** A counter: `inc(labels, by = 1)`; `bind(labels)` gives one series to increment without a label lookup. */
export interface Counter {
  inc(labels?: Labels, by?: number): void;
  bind(labels: Labels): { inc(by?: number): void };
}

/**
 * A histogram: `observe(labels, value)` (seconds for durations, as Prometheus names them `*_seconds`);
 * `bind(labels)` gives one series to observe without a label lookup (for hot paths).
 */
export interface Histogram {
  observe(labels: Labels, value: number): void;
  bind(labels: Labels): { observe(value: number): void };
}

const made = new Map<string, Gauge | Counter | Histogram>();

/** The gauge `name` (created on first use with these label names). */
export function gauge(name: string, help: string, labelNames: string[] = []): Gauge {
  let g = made.get(name) as Gauge | undefined;
  if (!g) {
    const pc = new client.Gauge({ name, help, labelNames, registers: [registry] });
    g = {
      set: (labels, value) => {
        pc.set(labels, value);
        remember(name, labels, () => value);
      },
      reset: () => {
        pc.reset();
        mirror.delete(name);
      },
    };
    made.set(name, g);
  }
  return g;
}

/** The counter `name` (created on first use with these label names). */
export function counter(name: string, help: string, labelNames: string[] = []): Counter {
  let c = made.get(name) as Counter | undefined;
  if (!c) {
    const pc = new client.Counter({ name, help, labelNames, registers: [registry] });
    c = {
      inc: (labels = {}, by = 1) => {
        pc.inc(labels, by);
        remember(name, labels, (old) => old + by);
      },
      bind: (labels) => {
        const child = pc.labels(labels);
        const e = entry(name, labels);
        return {
          inc: (by = 1) => {
            child.inc(by);
            e.value += by;
          },
        };
      },
    };
    made.set(name, c);
  }
  return c;
}

/**
 * The histogram `name` (created on first use with these label names and bucket upper bounds; prom-client's default
 * buckets when none are given). The JSON {@link snapshot} mirrors its `_count` and `_sum`.
 */
export function histogram(name: string, help: string, labelNames: string[] = [], buckets?: number[]): Histogram {
  let h = made.get(name) as Histogram | undefined;
  if (!h) {
    const pc = new client.Histogram({ name, help, labelNames, registers: [registry], ...(buckets ? { buckets } : {}) });
    h = {
      observe: (labels, value) => {
        pc.observe(labels, value);
        remember(`${name}_count`, labels, (old) => old + 1);
        remember(`${name}_sum`, labels, (old) => old + value);
      },
      bind: (labels) => {
        const child = pc.labels(labels);
        const count = entry(`${name}_count`, labels);
        const sum = entry(`${name}_sum`, labels);
        return {
          observe: (value) => {
            child.observe(value);
            count.value++;
            sum.value += value;
          },
        };
      },
    };
    made.set(name, h);
  }
  return h;
}

/** Prometheus text exposition of every metric. */
export function metricsText(): Promise<string> {
  return registry.metrics();
}

/** `{ metric: [{ labels, value }] }` of every metric set so far, for JSON output. */
export function snapshot(): Record<string, { labels: Labels; value: number }[]> {
  return Object.fromEntries([...mirror].map(([name, m]) => [name, [...m.values()]]));
}

/**
 * Serves `GET /metrics` on 127.0.0.1:`port` (0 picks a free port) until `signal` aborts. Resolves with the port.
 * No token: it binds to loopback only and serves counters, never data. `beforeScrape` runs before each answer
 * (e.g. `refreshStatusMetrics` of src/runtime/metrics.ts, which fills the control-plane gauges); it must not throw.
 */
export async function serveMetrics(
  port: number,
  signal?: AbortSignal,
  o: { beforeScrape?: () => Promise<void> } = {},
): Promise<number> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    Promise.resolve(o.beforeScrape?.())
      .then(() => metricsText())
      .then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
  });
  await new Promise<void>((r, j) => server.once('error', j).listen(port, '127.0.0.1', () => r()));
  signal?.addEventListener('abort', () => server.close(), { once: true });
  return (server.address() as { port: number }).port;
}

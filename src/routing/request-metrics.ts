import { performance } from 'node:perf_hooks';
import { counter, histogram } from '../core/metrics.js';
import type { Origin } from './types.js';

/**
 * The caller's view of routed reads (docs/metrics.md): one sample per `Reader.read()` call, whatever happened
 * behind it (a shadow read, a fallback) — what the application paid. The per-store reads (detached shadow reads
 * included) are `tandem_routing_reads_total` (src/routing/stats.ts).
 *
 * - `tandem_routing_requests_total{entity,origin,outcome}` — routed reads by the store that answered the caller
 *   (`origin`: legacy or new) and how they ended (`outcome`: `ok`; `fallback`, new failed or timed out and legacy
 *   answered, so origin is legacy; `error`, the caller got the error);
 * - `tandem_routing_request_duration_seconds{entity,origin,outcome}` — their latency histogram, seconds.
 *
 * Labels are the entity name and the closed sets above: never a key or a value.
 */
export type RequestOutcome = 'ok' | 'fallback' | 'error';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const requestsTotal = () =>
  counter(
    'tandem_routing_requests_total',
    'Routed reads as the caller saw them, by entity, answering origin and outcome',
    ['entity', 'origin', 'outcome'],
  );
const requestSeconds = () =>
  histogram(
    'tandem_routing_request_duration_seconds',
    'Latency of routed reads as the caller saw them, by entity, answering origin and outcome, seconds',
    ['entity', 'origin', 'outcome'],
    BUCKETS,
  );

/** Records the requests of one entity's reader: `record(origin, outcome, t0)` with `t0` from `performance.now()`. */
export function requestRecorder(entity: string): (origin: Origin, outcome: RequestOutcome, t0: number) => void {
  const series = new Map<string, { count: { inc(): void }; seconds: { observe(v: number): void } }>();
  return (origin, outcome, t0) => {
    const seconds = (performance.now() - t0) / 1000;
    const k = `${origin}:${outcome}`;
    let s = series.get(k);
    if (!s) {
      const labels = { entity, origin, outcome };
      s = { count: requestsTotal().bind(labels), seconds: requestSeconds().bind(labels) };
      series.set(k, s);
    }
    s.count.inc();
    s.seconds.observe(seconds);
  };
}

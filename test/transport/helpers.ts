import { TcpProxy } from '../proxy.js';
import type { Change, Delivery, Transport } from '../../src/capture/transport/types.js';

export { portOpen } from '../servers.js';

/**
 * The machine's shared brokers. Tests only publish and consume here, on uniquely named queues and streams: a
 * test that stops or restarts a broker starts its own (test/servers.ts) or cuts a proxy it controls.
 */
export const URLS = {
  rabbitmq: 'amqp://guest:guest@127.0.0.1:5672',
  nats: 'nats://127.0.0.1:4222',
  redis: 'redis://127.0.0.1:6379',
} as const;

/** A name no other test run uses (letters, digits, `_`). */
export function uniqueName(tag: string): string {
  return `tt_${tag}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 7)}`;
}

/** `n` changes of entity `users` with ids `<prefix>-<i>`. */
export function makeChanges(n: number, prefix: string, entity = 'users'): Change[] {
  return Array.from({ length: n }, (_, i) => ({
    entity,
    key: JSON.stringify([String(i)]),
    keyValues: [i],
    id: `${prefix}-${i}`,
    at: Date.now(),
  }));
}

/** Polls `cond` every 20 ms until it is true; throws with `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface Recorder {
  /** Every delivery seen, in order. */
  deliveries: Delivery[];
  /** Batch sizes handed to the handler. */
  batches: number[];
  dead: { d: Delivery; reason: string }[];
  ids(): Set<string>;
  attemptsOf(id: string): number[];
  /** Aborts and waits for `consume` to resolve. */
  stop(): Promise<void>;
  done: Promise<void>;
}

/**
 * Starts `t.consume` with a handler that records every delivery, then runs `behave` (which may throw to reject
 * the batch, or hang).
 */
export function record(
  t: Transport,
  opts: {
    batchSize?: number;
    maxAttempts?: number;
    behave?: (batch: Delivery[], call: number) => Promise<void> | void;
  } = {},
): Recorder {
  const ac = new AbortController();
  const r: Recorder = {
    deliveries: [],
    batches: [],
    dead: [],
    ids: () => new Set(r.deliveries.map((d) => d.change.id)),
    attemptsOf: (id) => r.deliveries.filter((d) => d.change.id === id).map((d) => d.attempt),
    stop: async () => {
      ac.abort();
      await r.done;
    },
    done: Promise.resolve(),
  };
  let call = 0;
  r.done = t.consume(
    async (batch) => {
      r.batches.push(batch.length);
      r.deliveries.push(...batch);
      await opts.behave?.(batch, ++call);
    },
    {
      signal: ac.signal,
      batchSize: opts.batchSize,
      maxAttempts: opts.maxAttempts,
      onDeadLetter: (d, reason) => r.dead.push({ d, reason }),
    },
  );
  return r;
}

/**
 * A TCP proxy on a free local port to `targetPort`, which a test can take down (every connection cut, new ones
 * reset) and bring back on the same port: a broker outage without touching the shared broker. See {@link TcpProxy}.
 */
export async function tcpProxy(
  targetPort: number,
): Promise<{ port: number; down(): Promise<void>; up(): Promise<void>; close(): Promise<void> }> {
  const proxy = new TcpProxy(targetPort);
  const port = await proxy.start();
  return { port, down: () => proxy.cut(), up: () => proxy.restore(), close: () => proxy.close() };
}

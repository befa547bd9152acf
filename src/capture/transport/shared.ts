/**
 * What the three broker transports share: URL and option parsing, the wire encoding of a change, error mapping,
 * backoff, and the batch loop body that decides between ack, retry and dead-letter.
 */
import { backoffMs, type BackoffPolicy, sleep } from '../../core/async.js';
import { TandemError, isTandemError, redactUrl } from '../../core/errors.js';
import type { Change, Delivery, OpenTransportOptions, ResolvedTransportOptions, TransportLogger } from './types.js';

export type TransportKind = 'rabbitmq' | 'nats' | 'redis';

/** A broker URL, parsed. `raw` holds the password: never put it in a message; use `redacted`. */
export interface BrokerUrl {
  kind: TransportKind;
  raw: string;
  redacted: string;
  url: URL;
}

const SCHEMES: Record<string, TransportKind> = {
  amqp: 'rabbitmq',
  amqps: 'rabbitmq',
  nats: 'nats',
  tls: 'nats',
  redis: 'redis',
  rediss: 'redis',
};

/**
 * Parses a broker URL. Throws `TANDEM_ERR_URL_SCHEME` for an unknown scheme and `TANDEM_ERR_URL_INVALID` for a URL
 * that cannot be parsed or has no host.
 */
export function parseBrokerUrl(raw: string): BrokerUrl {
  if (typeof raw !== 'string' || raw.trim() === '') throw new TandemError('URL_INVALID', 'broker URL is empty');
  const redacted = redactUrl(raw);
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(raw);
  if (!m)
    throw new TandemError(
      'URL_INVALID',
      `broker URL "${redacted}" has no scheme (expected amqp://, nats://, redis://)`,
    );
  const scheme = m[1]!.toLowerCase();
  const kind = SCHEMES[scheme];
  if (!kind) {
    throw new TandemError(
      'URL_SCHEME',
      `broker URL "${redacted}" has unknown scheme "${scheme}:" (expected amqp://, amqps://, nats://, tls://, redis://, rediss://)`,
      { scheme },
    );
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TandemError('URL_INVALID', `broker URL "${redacted}" cannot be parsed`);
  }
  if (!url.hostname) throw new TandemError('URL_INVALID', `broker URL "${redacted}" has no host`);
  return { kind, raw, redacted, url };
}

const NAME_RE = /^[A-Za-z0-9_-]{1,200}$/;

/** Fills in the defaults of {@link OpenTransportOptions} and checks them; a bad `name` is `CONFIG_INVALID`. */
export function resolveOptions(o: OpenTransportOptions): ResolvedTransportOptions {
  if (!o || typeof o.name !== 'string' || !NAME_RE.test(o.name)) {
    throw new TandemError(
      'CONFIG_INVALID',
      `transport name ${JSON.stringify(o?.name)} is not valid: use 1-200 letters, digits, "_" or "-"`,
    );
  }
  const num = (key: keyof OpenTransportOptions, dflt: number, min: number): number => {
    const v = o[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
      throw new TandemError(
        'CONFIG_INVALID',
        `transport option ${key} must be a number ≥ ${min}, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  return {
    name: o.name,
    connectTimeoutMs: num('connectTimeoutMs', 3000, 1),
    publishTimeoutMs: num('publishTimeoutMs', 5000, 1),
    stuckAfterMs: num('stuckAfterMs', 30_000, 100),
    maxAttempts: num('maxAttempts', 10, 1),
    retryDelayMs: num('retryDelayMs', 1000, 0),
    maxRetryDelayMs: num('maxRetryDelayMs', 60_000, 0),
    blockMs: num('blockMs', 1000, 1),
    logger: o.logger,
  };
}

/** Checks that `c` is a well-formed change (publish refuses anything else with `TANDEM_ERR_INTERNAL`). */
export function assertChange(c: unknown, index: number): asserts c is Change {
  const bad = (why: string): never => {
    throw new TandemError('INTERNAL', `change #${index} cannot be published: ${why}`, { index });
  };
  if (typeof c !== 'object' || c === null) bad('it is not an object');
  const x = c as Record<string, unknown>;
  if (typeof x.entity !== 'string' || x.entity === '') bad('entity must be a non-empty string');
  if (typeof x.key !== 'string') bad('key must be a string');
  if (!Array.isArray(x.keyValues)) bad('keyValues must be an array');
  if (typeof x.id !== 'string' || x.id === '') bad('id must be a non-empty string');
  if (typeof x.at !== 'number' || !Number.isFinite(x.at)) bad('at must be a finite number (ms since epoch)');
}

/** The wire form of a change: its JSON, with only the five contract fields. */
export function encodeChange(c: Change, index = 0): string {
  assertChange(c, index);
  try {
    return JSON.stringify({ entity: c.entity, key: c.key, keyValues: c.keyValues, id: c.id, at: c.at });
  } catch (e) {
    throw new TandemError(
      'INTERNAL',
      `change #${index} cannot be published: keyValues are not JSON-safe (${errorText(e)})`,
      { index },
    );
  }
}

/** Parses the wire form back; a string explaining the problem when it is not a change. */
export function decodeChange(body: string): Change | string {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return `not JSON: ${JSON.stringify(body.slice(0, 80))}`;
  }
  try {
    assertChange(v, 0);
  } catch (e) {
    return (e as Error).message.replace(/^change #0 cannot be published: /, '');
  }
  return v;
}

/** The placeholder change reported for a malformed message (its broker id stands in for the change id). */
export function malformedChange(brokerId: string): Change {
  return { entity: '', key: '', keyValues: [], id: brokerId, at: 0 };
}

/** One line for an error, as it goes into a dead-letter reason or a log: `TANDEM_ERR_X: message` for ours. */
export function errorText(e: unknown): string {
  if (isTandemError(e)) return e.toLine();
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}

/** Truncates a reason so a huge error message cannot bloat a dead-letter queue. */
export function clip(s: string, max = 1000): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Removes `secret` (a password) from a text, in case a client library echoes it. */
export function scrub(text: string, secret: string | undefined): string {
  if (!secret) return text;
  let out = text.split(secret).join('***');
  try {
    const dec = decodeURIComponent(secret);
    if (dec) out = out.split(dec).join('***');
  } catch {
    /* not URI-encoded */
  }
  return out;
}

const AUTH_RE =
  /ACCESS[-_ ]REFUSED|WRONGPASS|NOAUTH|AUTHORIZATION[_ ]VIOLATION|Authorization Violation|authentication failed|invalid username-password|NOPERM|not authorized/i;

/** True when a broker client's error says the credentials were refused. */
export function isAuthError(e: unknown): boolean {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    if (cur instanceof Error && (AUTH_RE.test(cur.message) || /Authorization|Authentication/.test(cur.name)))
      return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Maps a failure to connect to `TANDEM_ERR_STORE_AUTH` (credentials refused) or `TANDEM_ERR_STORE_UNREACHABLE`
 * (anything else: refused, timed out, not speaking the protocol). The message carries the redacted URL only.
 */
export function connectError(e: unknown, u: BrokerUrl, what: string): TandemError {
  if (isTandemError(e)) return e;
  const reason = clip(scrub(errorText(e), u.url.password), 300);
  if (isAuthError(e)) {
    return new TandemError('STORE_AUTH', `${what} at ${u.redacted} refused the credentials`, {
      broker: u.kind,
      reason,
    });
  }
  return new TandemError('STORE_UNREACHABLE', `${what} at ${u.redacted} could not be reached: ${reason}`, {
    broker: u.kind,
    reason,
  });
}

/** A broker operation that failed after the connection was up: `STORE_UNREACHABLE` (transient; worth a retry). */
export function brokerDown(e: unknown, u: BrokerUrl, what: string, op: string): TandemError {
  if (isTandemError(e)) return e;
  const reason = clip(scrub(errorText(e), u.url.password), 300);
  return new TandemError('STORE_UNREACHABLE', `${what} at ${u.redacted}: ${op} failed: ${reason}`, {
    broker: u.kind,
    op,
    reason,
  });
}

/** Rejects with `onTimeout()` when `p` has not settled after `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** @deprecated @internal Re-exported for older imports: defined in src/core/async.ts. */
export { sleep } from '../../core/async.js';

/** Backoff of the consume loop itself while the broker is unreachable: 200 ms doubling to 5 s. */
export const RECONNECT_BACKOFF: BackoffPolicy = { baseMs: 200, capMs: 5000 };

/** The wait before reconnect number `failures + 1` of the consume loop ({@link RECONNECT_BACKOFF}). */
export function reconnectDelayMs(failures: number): number {
  return backoffMs(failures + 1, RECONNECT_BACKOFF);
}

/**
 * A small FIFO between a broker's push callbacks and the consume loop: `take` waits until at least one item is
 * there (or `waitMs` passes, or `signal` aborts), lingers up to `lingerMs` for a burst to fill the batch, then
 * returns up to `max` items.
 */
export class AsyncBuffer<T> {
  private items: T[] = [];
  private waiters = new Set<() => void>();

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    this.items.push(item);
    this.wake();
  }

  /** Wakes every waiter (after a push, or to make them re-check a stop condition). */
  wake(): void {
    const w = [...this.waiters];
    this.waiters.clear();
    for (const f of w) f();
  }

  /** Waits until woken, `ms` passes or `signal` aborts; leaves nothing registered behind. */
  private pause(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      signal.addEventListener('abort', done, { once: true });
      this.waiters.add(done);
    });
  }

  async take(
    max: number,
    waitMs: number,
    signal: AbortSignal,
    stopped: () => boolean = () => false,
    lingerMs = 5,
  ): Promise<T[]> {
    const deadline = Date.now() + waitMs;
    while (this.items.length === 0 && !signal.aborted && !stopped()) {
      const left = deadline - Date.now();
      if (left <= 0) return [];
      await this.pause(left, signal);
    }
    if (this.items.length > 0 && this.items.length < max && lingerMs > 0) {
      // Something is there: give the rest of a burst a moment to arrive, so batches fill up under load.
      const until = Date.now() + lingerMs;
      while (this.items.length < max && Date.now() < until && !signal.aborted && !stopped())
        await this.pause(until - Date.now(), signal);
    }
    const out = this.items.splice(0, max);
    if (out.length > 0) this.wake(); // space: let a waitForSpace re-check
    return out;
  }

  /** Waits until fewer than `cap` items are buffered (for pull-based sources that must not run ahead). */
  async waitForSpace(cap: number, signal: AbortSignal, stopped: () => boolean = () => false): Promise<void> {
    while (this.items.length >= cap && !signal.aborted && !stopped()) await this.pause(100, signal);
  }
}

/** One message as the batch logic sees it: the broker's own message, its attempt number, and the decoded change. */
export interface Received<M> {
  msg: M;
  attempt: number;
  /** Null when the message is not a change (malformed); `problem` says why. */
  change: Change | null;
  problem?: string;
  /** The broker's id for the message (used as the placeholder change id of a malformed message). */
  brokerId: string;
}

/** The broker-specific side of {@link processBatch}. */
export interface BatchOps<M> {
  /** Acks (removes) these messages for good. */
  ack(items: Received<M>[]): Promise<void>;
  /** Gives the message back, to be redelivered (with its attempt count raised) after about `delayMs`. */
  retry(item: Received<M>, delayMs: number): Promise<void>;
  /** Writes the message to the dead-letter queue (durably, confirmed) and then acks it. */
  deadLetter(item: Received<M>, change: Change, reason: string): Promise<void>;
  /** Tells the broker the messages are still being worked on (so they are not handed to another consumer). */
  touch?(items: Received<M>[]): Promise<void>;
}

/** The consume options and transport settings the batch logic needs. */
export interface BatchPolicy {
  maxAttempts: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
  onDeadLetter?: (d: Delivery, reason: string) => void;
  /** Interval of `touch` while the handler runs (0: never). */
  touchEveryMs: number;
  /** Resolves when the transport is closed under the handler's feet: then nothing is acked (the broker redelivers). */
  closed: Promise<void>;
  isClosed(): boolean;
  logger?: TransportLogger;
}

type HandlerOutcome = { ok: true } | { ok: false; error: unknown } | { closed: true };

/**
 * Runs the handler on one batch and settles every message of it:
 * - malformed messages, and messages already delivered more than `maxAttempts` times (their consumer died each
 *   time), are dead-lettered without calling the handler;
 * - when the handler resolves, all are acked;
 * - when it rejects, each message is retried with backoff, except those on their last attempt: then every message
 *   of the batch is run alone once more, so that only the ones that fail alone are dead-lettered.
 * Returns early, acking nothing, when the transport is closed while the handler runs.
 */
export async function processBatch<M>(
  items: Received<M>[],
  handler: (batch: Delivery[]) => Promise<void>,
  ops: BatchOps<M>,
  p: BatchPolicy,
): Promise<void> {
  const valid: Received<M>[] = [];
  for (const it of items) {
    if (!it.change) {
      await deadLetter(it, malformedChange(it.brokerId), `malformed message: ${it.problem ?? 'not a change'}`, ops, p);
    } else if (it.attempt > p.maxAttempts) {
      await deadLetter(
        it,
        it.change,
        `delivered ${it.attempt} times without an ack, over the limit of ${p.maxAttempts} (the consumers holding it stopped or crashed)`,
        ops,
        p,
      );
    } else {
      valid.push(it);
    }
  }
  if (valid.length === 0) return;

  // While any part of the batch is being handled, all of it is kept alive (touch), isolation runs included.
  const first = await runHandler(valid, handler, ops, p, valid);
  if ('closed' in first) return;
  if (first.ok) {
    await ops.ack(valid);
    return;
  }
  const last = valid.filter((it) => it.attempt >= p.maxAttempts);
  if (last.length === 0) {
    for (const it of valid)
      await ops.retry(it, backoffMs(it.attempt, { baseMs: p.retryDelayMs, capMs: p.maxRetryDelayMs, jitter: 'half' }));
    return;
  }
  if (valid.length === 1) {
    await deadLetter(valid[0]!, valid[0]!.change!, failedReason(valid[0]!, first.error), ops, p);
    return;
  }
  // Someone is on their last attempt: find out who really fails by running each alone.
  for (const it of valid) {
    const alone = await runHandler([it], handler, ops, p, valid);
    if ('closed' in alone) return;
    if (alone.ok) await ops.ack([it]);
    else if (it.attempt >= p.maxAttempts) await deadLetter(it, it.change!, failedReason(it, alone.error), ops, p);
    else
      await ops.retry(it, backoffMs(it.attempt, { baseMs: p.retryDelayMs, capMs: p.maxRetryDelayMs, jitter: 'half' }));
  }
}

function failedReason(it: Received<unknown>, error: unknown): string {
  return clip(`failed on all ${it.attempt} attempts; last error: ${errorText(error)}`);
}

async function deadLetter<M>(
  it: Received<M>,
  change: Change,
  reason: string,
  ops: BatchOps<M>,
  p: BatchPolicy,
): Promise<void> {
  await ops.deadLetter(it, change, reason);
  p.logger?.warn({ changeId: change.id, entity: change.entity, attempt: it.attempt, reason }, 'change dead-lettered');
  try {
    p.onDeadLetter?.({ change, attempt: it.attempt }, reason);
  } catch {
    /* a listener's failure must not undo a dead-letter */
  }
}

async function runHandler<M>(
  items: Received<M>[],
  handler: (batch: Delivery[]) => Promise<void>,
  ops: BatchOps<M>,
  p: BatchPolicy,
  keepAlive: Received<M>[],
): Promise<HandlerOutcome> {
  if (p.isClosed()) return { closed: true };
  const batch: Delivery[] = items.map((it) => ({ change: it.change!, attempt: it.attempt }));
  let timer: NodeJS.Timeout | undefined;
  if (ops.touch && p.touchEveryMs > 0) {
    timer = setInterval(() => {
      ops.touch!(keepAlive).catch(() => undefined);
    }, p.touchEveryMs);
  }
  try {
    const run: Promise<HandlerOutcome> = Promise.resolve()
      .then(() => handler(batch))
      .then(
        () => ({ ok: true }) as const,
        (error: unknown) => ({ ok: false, error }) as const,
      );
    const outcome = await Promise.race([run, p.closed.then(() => ({ closed: true }) as const)]);
    if (!('closed' in outcome) && p.isClosed()) return { closed: true };
    return outcome;
  } finally {
    if (timer) clearInterval(timer);
  }
}

/** A deferred promise: the `closed` signal of a transport. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A short random id (consumer names, tags). */
export function shortId(): string {
  return Math.random().toString(36).slice(2, 10);
}

/**
 * Runs consumer sessions one after the other until `signal` aborts or the transport closes: a session that throws
 * (its connection was lost) is started again after {@link reconnectDelayMs}, which resets once a session is up.
 * Used by the RabbitMQ and NATS consumers.
 */
export async function consumeWithReconnect(
  session: (onUp: () => void) => Promise<void>,
  o: {
    signal: AbortSignal;
    closed: () => boolean;
    logger?: { warn(obj: object, msg?: string): void };
    broker: string;
    message: string;
  },
): Promise<void> {
  let failures = 0;
  while (!o.signal.aborted && !o.closed()) {
    try {
      await session(() => {
        failures = 0;
      });
    } catch (e) {
      if (o.signal.aborted || o.closed()) break;
      const wait = reconnectDelayMs(failures++);
      o.logger?.warn({ broker: o.broker, err: errorText(e), retryInMs: wait }, o.message);
      await sleep(wait, o.signal);
    }
  }
}

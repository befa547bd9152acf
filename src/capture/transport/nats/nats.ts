/**
 * NATS JetStream transport (`@nats-io/transport-node` + `@nats-io/jetstream`).
 *
 * Created on open when missing:
 * - stream `<name>` (file storage, work-queue retention, subjects `<name>.>`): the changes, published on
 *   `<name>.change` with the change id as `Nats-Msg-Id`, so a re-publish within the stream's duplicate window
 *   (2 min) is dropped by the server;
 * - durable pull consumer `tandem_relay` on it: explicit acks, `ack_wait` = stuckAfterMs, no server-side
 *   `max_deliver` (the client enforces maxAttempts, so a change is never left behind undelivered: a change whose
 *   consumers keep dying comes back with a delivery count above the limit and is dead-lettered then);
 * - stream `<name>_dlq` (file storage, limits retention, subjects `<name>_dlq.>`): the dead-letter queue.
 *
 * A rejected change is `nak`ed with its backoff as delay; on its last attempt it is published to the dead-letter
 * stream (awaiting the JetStream ack) and then `term`inated. While the handler runs, `working()` keeps the
 * deliveries from being handed to another consumer.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { TandemError } from '../../../core/errors.js';
import {
  AsyncBuffer,
  type BatchOps,
  type BrokerUrl,
  type Received,
  brokerDown,
  clip,
  connectError,
  decodeChange,
  deferred,
  encodeChange,
  errorText,
  malformedChange,
  processBatch,
  withTimeout,
  consumeWithReconnect,
} from '../shared.js';
import type { Change, ConsumeOptions, DeadLetter, Delivery, ResolvedTransportOptions, Transport } from '../types.js';

const WHAT = 'NATS';
const DURABLE = 'tandem_relay';
const PUBLISH_CONCURRENCY = 256;
const nanos = (ms: number): number => Math.round(ms * 1_000_000);

/** Connects to NATS, makes sure the streams and the durable consumer exist, and returns the transport. */
export async function openNats(u: BrokerUrl, o: ResolvedTransportOptions): Promise<Transport> {
  const user = decodeURIComponent(u.url.username);
  const pass = decodeURIComponent(u.url.password);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: `${u.url.protocol}//${u.url.host}`,
      ...(user && pass ? { user, pass } : user ? { token: user } : {}),
      timeout: o.connectTimeoutMs,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      name: `tandem ${o.name}`,
    });
  } catch (e) {
    throw connectError(e, u, WHAT);
  }
  try {
    const jsm = await jetstreamManager(nc, { timeout: o.connectTimeoutMs });
    const t = new NatsTransport(u, o, nc, jsm, jetstream(nc, { timeout: o.publishTimeoutMs }));
    await t.init();
    return t;
  } catch (e) {
    await nc.close().catch(() => undefined);
    throw new TandemError(
      'STORE_QUERY',
      `NATS at ${u.redacted}: JetStream setup for ${o.name} failed: ${clip(errorText(e), 300)} (is JetStream enabled?)`,
      {
        broker: 'nats',
      },
    );
  }
}

interface DlqRecord {
  change: Change;
  reason: string;
  at: number;
  attempt: number;
  raw?: string;
}

class NatsTransport implements Transport {
  readonly kind = 'nats' as const;
  private readonly stream: string;
  private readonly subject: string;
  private readonly dlqStream: string;
  private readonly dlqSubject: string;
  private closed = false;
  private readonly closedD = deferred();
  /** Open pull requests, stopped by close(). */
  private readonly iters = new Set<ConsumerMessages>();
  private readonly loops = new Set<Promise<void>>();

  constructor(
    private readonly u: BrokerUrl,
    private readonly o: ResolvedTransportOptions,
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
  ) {
    this.stream = o.name;
    this.subject = `${o.name}.change`;
    this.dlqStream = `${o.name}_dlq`;
    this.dlqSubject = `${o.name}_dlq.dead`;
  }

  async init(): Promise<void> {
    await this.ensureStream(this.stream, RetentionPolicy.Workqueue);
    await this.ensureStream(this.dlqStream, RetentionPolicy.Limits);
    const want = { ack_wait: nanos(this.o.stuckAfterMs) };
    try {
      const ci = await this.jsm.consumers.info(this.stream, DURABLE);
      if (ci.config.ack_wait !== want.ack_wait) await this.jsm.consumers.update(this.stream, DURABLE, want);
    } catch (e) {
      if (!/not found/i.test(errorText(e))) throw e;
      await this.jsm.consumers.add(this.stream, {
        durable_name: DURABLE,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        max_deliver: -1,
        ...want,
      });
    }
  }

  private async ensureStream(name: string, retention: RetentionPolicy): Promise<void> {
    try {
      await this.jsm.streams.info(name);
    } catch (e) {
      if (!/not found/i.test(errorText(e))) throw e;
      await this.jsm.streams.add({ name, subjects: [`${name}.>`], storage: StorageType.File, retention });
    }
  }

  async publish(changes: Change[]): Promise<void> {
    if (changes.length === 0) return;
    const bodies = changes.map((c, i) => encodeChange(c, i));
    if (this.closed) throw new TandemError('STORE_UNREACHABLE', `NATS transport ${this.o.name} is closed`);
    try {
      for (let i = 0; i < changes.length; i += PUBLISH_CONCURRENCY) {
        const part = changes.slice(i, i + PUBLISH_CONCURRENCY);
        await Promise.all(
          part.map((c, j) =>
            this.js.publish(this.subject, bodies[i + j]!, { msgID: c.id, timeout: this.o.publishTimeoutMs }),
          ),
        );
      }
    } catch (e) {
      throw brokerDown(e, this.u, WHAT, `publishing ${changes.length} change(s) to ${this.stream}`);
    }
  }

  async consume(handler: (batch: Delivery[]) => Promise<void>, opts: ConsumeOptions): Promise<void> {
    const loop = this.consumeLoop(handler, opts);
    this.loops.add(loop);
    try {
      await loop;
    } finally {
      this.loops.delete(loop);
    }
  }

  private consumeLoop(handler: (batch: Delivery[]) => Promise<void>, opts: ConsumeOptions): Promise<void> {
    return consumeWithReconnect((onUp) => this.consumeSession(handler, opts, onUp), {
      signal: opts.signal,
      closed: () => this.closed,
      logger: this.o.logger,
      broker: 'nats',
      message: 'NATS consumer failed; starting it again',
    });
  }

  private async consumeSession(
    handler: (batch: Delivery[]) => Promise<void>,
    opts: ConsumeOptions,
    onUp: () => void,
  ): Promise<void> {
    const batchSize = Math.max(1, opts.batchSize ?? 100);
    const maxAttempts = opts.maxAttempts ?? this.o.maxAttempts;
    const consumer = await this.js.consumers.get(this.stream, DURABLE);
    onUp();
    // Every message delivered to this consumer and not yet acked/naked/termed: all of them are kept alive with
    // working() while a handler runs, so nothing this consumer holds times out into another consumer's hands.
    const held = new Set<JsMsg>();
    const buf = new AsyncBuffer<JsMsg>();
    let lost: unknown = null;
    let current: ConsumerMessages | null = null;
    const stopped = (): boolean => opts.signal.aborted || this.closed || lost !== null;
    const onAbort = (): void => current?.stop();
    opts.signal.addEventListener('abort', onAbort, { once: true });
    // One pull request (fetch) at a time, and a new one only once the buffer is empty: at most about two batches are
    // ever held, and everything the server delivered is in `held`.
    const pump = (async () => {
      try {
        while (!stopped()) {
          await buf.waitForSpace(1, opts.signal, stopped);
          if (stopped()) break;
          const it = await consumer.fetch({ max_messages: batchSize, expires: Math.max(1000, this.o.blockMs) });
          current = it;
          this.iters.add(it);
          try {
            for await (const m of it) {
              held.add(m);
              buf.push(m);
            }
          } finally {
            this.iters.delete(it);
            current = null;
          }
        }
      } catch (e) {
        lost ??= e;
      } finally {
        buf.wake();
      }
    })();
    const release = (m: JsMsg): void => {
      held.delete(m);
    };
    const ops: BatchOps<JsMsg> = {
      ack: async (items) => {
        for (const it of items) {
          it.msg.ack();
          release(it.msg);
        }
        await this.nc.flush();
      },
      retry: async (it, delayMs) => {
        it.msg.nak(delayMs);
        release(it.msg);
      },
      deadLetter: async (it, change, reason) => {
        const rec: DlqRecord = { change, reason, at: Date.now(), attempt: it.attempt };
        if (!it.change) rec.raw = clip(it.msg.string(), 4000);
        await this.js.publish(this.dlqSubject, JSON.stringify(rec), {
          msgID: `${this.stream}-${it.msg.seq}`,
          timeout: this.o.publishTimeoutMs,
        });
        it.msg.term();
        release(it.msg);
        await this.nc.flush();
      },
      touch: async () => {
        for (const m of held) m.working();
      },
    };
    const policy = {
      maxAttempts,
      retryDelayMs: this.o.retryDelayMs,
      maxRetryDelayMs: this.o.maxRetryDelayMs,
      onDeadLetter: opts.onDeadLetter,
      touchEveryMs: Math.max(50, Math.floor(this.o.stuckAfterMs / 3)),
      closed: this.closedD.promise,
      isClosed: () => this.closed,
      logger: this.o.logger,
    };
    try {
      for (;;) {
        if (opts.signal.aborted || this.closed) return;
        if (lost && buf.size === 0) throw lost;
        const msgs = await buf.take(batchSize, 1000, opts.signal, () => this.closed || lost !== null);
        if (msgs.length === 0) continue;
        const items: Received<JsMsg>[] = msgs.map((m) => {
          const decoded = decodeChange(m.string());
          const brokerId = `${this.stream}#${m.seq}`;
          const attempt = m.info.deliveryCount;
          return typeof decoded === 'string'
            ? { msg: m, attempt, change: null, problem: decoded, brokerId }
            : { msg: m, attempt, change: decoded, brokerId };
        });
        await processBatch(items, handler, ops, policy);
      }
    } finally {
      opts.signal.removeEventListener('abort', onAbort);
      lost ??= new Error('stopped');
      (current as ConsumerMessages | null)?.stop();
      await pump;
      // Deliveries fetched but not handled go back at once (not after ack_wait).
      for (const m of [...held]) {
        try {
          m.nak();
        } catch {
          /* connection gone: ack_wait brings it back */
        }
      }
      held.clear();
      await this.nc.flush().catch(() => undefined);
    }
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    if (limit <= 0) return [];
    try {
      const si = await this.jsm.streams.info(this.dlqStream);
      const out: DeadLetter[] = [];
      for (let seq = si.state.last_seq; seq >= si.state.first_seq && seq > 0 && out.length < limit; seq--) {
        const sm = await this.jsm.streams.getMessage(this.dlqStream, { seq }).catch(() => null);
        if (!sm) continue;
        try {
          const rec = JSON.parse(new TextDecoder().decode(sm.data)) as DlqRecord;
          out.push({
            change: rec.change ?? malformedChange(`${this.dlqStream}#${seq}`),
            reason: String(rec.reason),
            at: Number(rec.at) || sm.time.getTime(),
          });
        } catch {
          out.push({
            change: malformedChange(`${this.dlqStream}#${seq}`),
            reason: 'unreadable dead-letter record',
            at: sm.time.getTime(),
          });
        }
      }
      return out.sort((a, b) => b.at - a.at);
    } catch (e) {
      throw brokerDown(e, this.u, WHAT, `reading ${this.dlqStream}`);
    }
  }

  async pending(): Promise<number> {
    try {
      const ci = await this.jsm.consumers.info(this.stream, DURABLE);
      return ci.num_pending + ci.num_ack_pending;
    } catch (e) {
      throw brokerDown(e, this.u, WHAT, `reading consumer ${DURABLE} of ${this.stream}`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closedD.resolve();
    for (const it of this.iters) it.stop();
    await withTimeout(this.nc.close(), 5000, () => new Error('close timed out')).catch(() => undefined);
    await Promise.allSettled([...this.loops]);
  }
}

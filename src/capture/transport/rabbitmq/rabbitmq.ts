/**
 * RabbitMQ transport (amqplib).
 *
 * Topology, all durable, created on open when missing:
 * - quorum queue `<name>`: the changes. `x-delivery-limit` = maxAttempts and `x-dead-letter-exchange` =
 *   `<name>.dlx`, with the at-least-once dead-letter strategy, so a change whose consumers keep dying without an ack
 *   is moved to the dead-letter queue by the broker itself;
 * - fanout exchange `<name>.dlx` → quorum queue `<name>.dlq`: the dead-letter queue.
 *
 * Publishing goes through a confirm channel (persistent messages, `messageId` = change id, mandatory), and
 * resolves after the broker's confirms. Consuming uses manual acks with prefetch = batchSize; the attempt number
 * comes from the quorum queue's `x-delivery-count` header. A rejected change is held for its backoff and then
 * nacked with requeue; on its last attempt the consumer itself publishes it to `<name>.dlx` with the reason
 * (confirmed) and then acks it.
 */
import amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel, ConsumeMessage, GetMessage, Message } from 'amqplib';
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
  shortId,
  withTimeout,
  consumeWithReconnect,
} from '../shared.js';
import type { Change, ConsumeOptions, DeadLetter, Delivery, ResolvedTransportOptions, Transport } from '../types.js';

const WHAT = 'RabbitMQ';
/** Most dead-letter messages `deadLetters()` reads to find the newest ones. */
const DLQ_SCAN_CAP = 10_000;

/**
 * Connects to RabbitMQ, declares the topology and returns the transport. Throws `STORE_UNREACHABLE` / `STORE_AUTH`.
 */
export async function openRabbitmq(u: BrokerUrl, o: ResolvedTransportOptions): Promise<Transport> {
  const t = new RabbitTransport(u, o);
  await t.init();
  return t;
}

/** Reads the attempt number of a delivery: quorum queues count returns in `x-delivery-count`. */
function attemptOf(m: Message): number {
  const n = Number(m.properties.headers?.['x-delivery-count']);
  if (Number.isFinite(n) && n >= 0) return n + 1;
  return (m.fields as { redelivered?: boolean }).redelivered ? 2 : 1;
}

/** A timestamp out of an AMQP table value (amqplib may wrap it as `{ '!': 'timestamp', value }`), in ms. */
function tableTimeMs(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && 'value' in v && typeof (v as { value: unknown }).value === 'number') {
    return (v as { value: number }).value * 1000;
  }
  if (v instanceof Date) return v.getTime();
  return undefined;
}

class RabbitTransport implements Transport {
  readonly kind = 'rabbitmq' as const;
  private readonly queue: string;
  private readonly dlx: string;
  private readonly dlq: string;
  private conn: ChannelModel | null = null;
  private pubCh: ConfirmChannel | null = null;
  private pubOpening: Promise<ConfirmChannel> | null = null;
  private readonly consumerConns = new Set<ChannelModel>();
  private readonly loops = new Set<Promise<void>>();
  private closed = false;
  private readonly closedD = deferred();
  /** Deliveries this process holds unacked (for `pending`; AMQP does not count them in message_count). */
  private inFlight = 0;

  constructor(
    private readonly u: BrokerUrl,
    private readonly o: ResolvedTransportOptions,
  ) {
    this.queue = o.name;
    this.dlx = `${o.name}.dlx`;
    this.dlq = `${o.name}.dlq`;
  }

  async init(): Promise<void> {
    const conn = await this.connect('publisher');
    try {
      await this.declare(conn);
    } catch (e) {
      await conn.close().catch(() => undefined);
      throw e;
    }
    this.adoptPublisher(conn);
  }

  private async connect(role: string): Promise<ChannelModel> {
    let conn: ChannelModel;
    try {
      conn = await withTimeout(
        amqp.connect(this.u.raw, {
          timeout: this.o.connectTimeoutMs,
          clientProperties: { connection_name: `tandem ${this.o.name} ${role}` },
        }),
        this.o.connectTimeoutMs + 500,
        () => new Error(`no answer within ${this.o.connectTimeoutMs} ms`),
      );
    } catch (e) {
      if (/ConnectionOpenOk/.test(errorText(e))) {
        const vhost = decodeURIComponent(this.u.url.pathname.replace(/^\//, '')) || '/';
        throw new TandemError(
          'STORE_DATABASE_NOT_FOUND',
          `RabbitMQ at ${this.u.redacted} refused to open virtual host "${vhost}" (it does not exist, or the user may not use it)`,
          {
            broker: 'rabbitmq',
            vhost,
          },
        );
      }
      throw connectError(e, this.u, WHAT);
    }
    conn.on('error', (e: Error) =>
      this.o.logger?.warn({ broker: 'rabbitmq', role, err: errorText(e) }, 'RabbitMQ connection error'),
    );
    return conn;
  }

  /** Declares queue, dead-letter exchange and dead-letter queue (idempotent). */
  private async declare(conn: ChannelModel): Promise<void> {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    try {
      await ch.assertExchange(this.dlx, 'fanout', { durable: true });
      await ch.assertQueue(this.dlq, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      await ch.bindQueue(this.dlq, this.dlx, '');
      await ch.assertQueue(this.queue, {
        durable: true,
        arguments: {
          'x-queue-type': 'quorum',
          'x-delivery-limit': this.o.maxAttempts,
          'x-dead-letter-exchange': this.dlx,
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
        },
      });
      await ch.close();
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (code === 406) {
        // The queue exists with other arguments (another maxAttempts): use it as it is.
        this.o.logger?.warn(
          { broker: 'rabbitmq', queue: this.queue, err: errorText(e) },
          'queue exists with other arguments; using it as is',
        );
        const ch2 = await conn.createChannel();
        ch2.on('error', () => undefined);
        try {
          await ch2.checkQueue(this.queue);
          await ch2.close();
          return;
        } catch (e2) {
          throw new TandemError(
            'STORE_QUERY',
            `RabbitMQ at ${this.u.redacted}: queue ${this.queue} cannot be used: ${clip(errorText(e2), 300)}`,
          );
        }
      }
      throw new TandemError(
        'STORE_QUERY',
        `RabbitMQ at ${this.u.redacted}: declaring ${this.queue} failed: ${clip(errorText(e), 300)}`,
      );
    }
  }

  private adoptPublisher(conn: ChannelModel): void {
    this.conn = conn;
    conn.on('close', () => {
      if (this.conn === conn) {
        this.conn = null;
        this.pubCh = null;
      }
    });
  }

  /** The publisher's confirm channel, reconnecting first when the connection was lost. */
  private async publisher(): Promise<ConfirmChannel> {
    if (this.closed) throw new TandemError('STORE_UNREACHABLE', `RabbitMQ transport ${this.o.name} is closed`);
    if (this.pubCh) return this.pubCh;
    this.pubOpening ??= (async () => {
      try {
        if (!this.conn) this.adoptPublisher(await this.connect('publisher'));
        const conn = this.conn!;
        const ch = await conn.createConfirmChannel();
        ch.on('error', (e: Error) =>
          this.o.logger?.warn({ broker: 'rabbitmq', err: errorText(e) }, 'RabbitMQ channel error'),
        );
        ch.on('close', () => {
          if (this.pubCh === ch) this.pubCh = null;
        });
        this.pubCh = ch;
        return ch;
      } finally {
        this.pubOpening = null;
      }
    })();
    try {
      return await this.pubOpening;
    } catch (e) {
      throw connectError(e, this.u, WHAT);
    }
  }

  async publish(changes: Change[]): Promise<void> {
    if (changes.length === 0) return;
    const bodies = changes.map((c, i) => Buffer.from(encodeChange(c, i)));
    const ch = await this.publisher();
    const ids = new Set(changes.map((c) => c.id));
    const returned: string[] = [];
    const onReturn = (m: Message): void => {
      const id = m.properties.messageId as string | undefined;
      if (id && ids.has(id)) returned.push(id);
    };
    ch.on('return', onReturn);
    try {
      const work = (async () => {
        for (let i = 0; i < changes.length; i++) {
          const c = changes[i]!;
          const ok = ch.sendToQueue(this.queue, bodies[i]!, {
            persistent: true,
            mandatory: true,
            messageId: c.id,
            contentType: 'application/json',
            timestamp: Math.floor(c.at / 1000),
          });
          if (!ok) await new Promise<void>((resolve) => ch.once('drain', () => resolve()));
        }
        await ch.waitForConfirms();
      })();
      await withTimeout(
        work,
        this.o.publishTimeoutMs,
        () => new Error(`no confirm within ${this.o.publishTimeoutMs} ms`),
      );
    } catch (e) {
      // The channel may be half-dead: drop it so the next publish starts clean.
      if (this.pubCh === ch) this.pubCh = null;
      ch.close().catch(() => undefined);
      throw brokerDown(e, this.u, WHAT, `publishing ${changes.length} change(s) to ${this.queue}`);
    } finally {
      ch.off('return', onReturn);
    }
    if (returned.length > 0) {
      throw new TandemError(
        'STORE_QUERY',
        `RabbitMQ at ${this.u.redacted}: ${returned.length} change(s) were not routed: queue ${this.queue} is missing`,
        {
          broker: 'rabbitmq',
          unrouted: returned.length,
        },
      );
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
      broker: 'rabbitmq',
      message: 'RabbitMQ consumer lost its connection; reconnecting',
    });
  }

  /** One connection's worth of consuming; throws when the connection is lost. */
  private async consumeSession(
    handler: (batch: Delivery[]) => Promise<void>,
    opts: ConsumeOptions,
    onUp: () => void,
  ): Promise<void> {
    const batchSize = Math.max(1, opts.batchSize ?? 100);
    const maxAttempts = opts.maxAttempts ?? this.o.maxAttempts;
    const conn = await this.connect('consumer');
    this.consumerConns.add(conn);
    let lost: Error | null = null;
    const buf = new AsyncBuffer<ConsumeMessage>();
    const timers = new Set<NodeJS.Timeout>();
    let held = 0;
    let chRef: ConfirmChannel | null = null;
    const consumerTag = `tandem-${this.o.name}-${shortId()}`;
    conn.on('close', (e?: Error) => {
      lost ??= e ?? new Error('connection closed');
      buf.wake();
    });
    try {
      const ch = await conn.createConfirmChannel();
      chRef = ch;
      ch.on('error', (e: Error) => {
        lost ??= e;
        buf.wake();
      });
      ch.on('close', () => {
        lost ??= new Error('channel closed');
        buf.wake();
      });
      await ch.prefetch(batchSize);
      await ch.consume(
        this.queue,
        (m) => {
          if (m === null) {
            lost ??= new Error(`queue ${this.queue} was deleted or the consumer was cancelled`);
            buf.wake();
            return;
          }
          held++;
          this.inFlight++;
          buf.push(m);
        },
        { noAck: false, consumerTag },
      );
      onUp();
      const settle = (n: number): void => {
        held -= n;
        this.inFlight -= n;
      };
      const ops: BatchOps<ConsumeMessage> = {
        ack: async (items) => {
          for (const it of items) ch.ack(it.msg);
          settle(items.length);
        },
        retry: async (it, delayMs) => {
          const timer = setTimeout(() => {
            timers.delete(timer);
            if (lost) return;
            try {
              ch.nack(it.msg, false, true);
              settle(1);
            } catch {
              /* the channel is gone: the broker requeues it anyway */
            }
          }, delayMs);
          timers.add(timer);
        },
        deadLetter: async (it, change, reason) => {
          const body = it.change ? Buffer.from(JSON.stringify(change)) : it.msg.content;
          ch.publish(this.dlx, '', body, {
            persistent: true,
            messageId: change.id,
            contentType: 'application/json',
            headers: { 'x-tandem-reason': reason, 'x-tandem-dead-at': Date.now(), 'x-tandem-attempt': it.attempt },
          });
          await withTimeout(
            ch.waitForConfirms(),
            this.o.publishTimeoutMs,
            () => new Error('no confirm for the dead-letter publish'),
          );
          ch.ack(it.msg);
          settle(1);
        },
      };
      const policy = {
        maxAttempts,
        retryDelayMs: this.o.retryDelayMs,
        maxRetryDelayMs: this.o.maxRetryDelayMs,
        onDeadLetter: opts.onDeadLetter,
        touchEveryMs: 0,
        closed: this.closedD.promise,
        isClosed: () => this.closed,
        logger: this.o.logger,
      };
      for (;;) {
        if (opts.signal.aborted || this.closed) return;
        if (lost) throw lost;
        const msgs = await buf.take(batchSize, 1000, opts.signal, () => lost !== null || this.closed);
        if (msgs.length === 0) continue;
        const items: Received<ConsumeMessage>[] = msgs.map((m) => {
          const decoded = decodeChange(m.content.toString('utf8'));
          const brokerId = (m.properties.messageId as string | undefined) ?? `delivery-${m.fields.deliveryTag}`;
          return typeof decoded === 'string'
            ? { msg: m, attempt: attemptOf(m), change: null, problem: decoded, brokerId }
            : { msg: m, attempt: attemptOf(m), change: decoded, brokerId };
        });
        await processBatch(items, handler, ops, policy);
      }
    } finally {
      for (const t of timers) clearTimeout(t);
      this.inFlight -= held;
      this.consumerConns.delete(conn);
      // Close the channel before the connection: a bare connection close can drop acks still queued in the
      // broker. Unacked deliveries (buffered, held for backoff) go back to the queue.
      const ch = chRef as ConfirmChannel | null;
      if (ch && !lost && !this.closed) {
        // Graceful stop: cancel the consumer and make one more round trip before closing. Without it, a quorum
        // queue was seen to put back a few hundred messages acked just before the close (tested: 20,000 changes).
        await withTimeout(
          (async () => {
            await ch.cancel(consumerTag);
            await ch.checkQueue(this.queue);
            await ch.close();
          })(),
          5000,
          () => new Error('channel close timed out'),
        ).catch(() => undefined);
      }
      await conn.close().catch(() => undefined);
    }
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    if (limit <= 0) return [];
    const conn = this.conn ?? (await this.publisher(), this.conn!);
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    const out: DeadLetter[] = [];
    try {
      // AMQP cannot peek: get without ack, then close the channel, which puts every message back.
      for (let i = 0; i < DLQ_SCAN_CAP; i++) {
        const m: GetMessage | false = await ch.get(this.dlq, { noAck: false });
        if (!m) break;
        out.push(this.readDeadLetter(m));
      }
    } catch (e) {
      throw brokerDown(e, this.u, WHAT, `reading ${this.dlq}`);
    } finally {
      await ch.close().catch(() => undefined);
    }
    out.sort((a, b) => b.at - a.at);
    return out.slice(0, limit);
  }

  private readDeadLetter(m: Message): DeadLetter {
    const h = (m.properties.headers ?? {}) as Record<string, unknown>;
    const decoded = decodeChange(m.content.toString('utf8'));
    const change = typeof decoded === 'string' ? malformedChange(String(m.properties.messageId ?? '')) : decoded;
    const deaths = Array.isArray(h['x-death']) ? (h['x-death'] as Record<string, unknown>[]) : [];
    let reason = typeof h['x-tandem-reason'] === 'string' ? h['x-tandem-reason'] : undefined;
    if (!reason) {
      const r = String(h['x-first-death-reason'] ?? deaths[0]?.reason ?? 'unknown');
      reason =
        r === 'delivery_limit'
          ? `delivered more times than the queue's x-delivery-limit without an ack (the consumers holding it stopped or crashed)`
          : `dead-lettered by RabbitMQ: ${r}`;
    }
    const at =
      Number(h['x-tandem-dead-at']) ||
      tableTimeMs(deaths[0]?.time) ||
      (m.properties.timestamp ? Number(m.properties.timestamp) * 1000 : 0);
    return { change, reason, at };
  }

  async pending(): Promise<number> {
    const conn = this.conn ?? (await this.publisher(), this.conn!);
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    try {
      const q = await ch.checkQueue(this.queue);
      return q.messageCount + Math.max(0, this.inFlight);
    } catch (e) {
      throw brokerDown(e, this.u, WHAT, `reading the depth of ${this.queue}`);
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closedD.resolve();
    const conns = [...this.consumerConns, ...(this.conn ? [this.conn] : [])];
    this.conn = null;
    this.pubCh = null;
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await Promise.allSettled([...this.loops]);
  }
}

/**
 * The broker transport contract: how a change ("key K of entity E changed on the primary") travels from the
 * writer to the relay through RabbitMQ, NATS JetStream or Redis Streams.
 *
 * Brokers carry only the change, never row data: the relay re-reads the primary row for the key and applies it
 * through the guarded apply (version ledger), which makes duplicates and reordering harmless. Every transport is
 * therefore at-least-once, and none of them tries to be exactly-once.
 */

import { parseBrokerUrl, resolveOptions } from './shared.js';

/** A change: "key K of entity E changed on the primary". Brokers carry only this, never row data. */
export interface Change {
  /** The entity's name as in the config (`users`). */
  entity: string;
  /** The canonical key string, e.g. `["42"]`. */
  key: string;
  /** The raw key values (JSON-safe). */
  keyValues: unknown[];
  /** A unique change id, used for dedupe (NATS JetStream message id, RabbitMQ messageId, kept in the Redis entry). */
  id: string;
  /** Milliseconds since the epoch when the change was written. */
  at: number;
}

/** One delivery of a change to a consumer. */
export interface Delivery {
  change: Change;
  /** 1 for the first delivery, 2 for the first redelivery, and so on (counted by the broker). */
  attempt: number;
}

/** A change that was given up on, as kept in the transport's dead-letter queue. */
export interface DeadLetter {
  change: Change;
  /** Why: the handler's error (`TANDEM_ERR_X: …` for a TandemError), or the broker's own reason. */
  reason: string;
  /** Milliseconds since the epoch when it was dead-lettered. */
  at: number;
}

/** Options of {@link Transport.consume}. */
export interface ConsumeOptions {
  /** Stops consuming; `consume` resolves once the in-flight handler call has settled. */
  signal: AbortSignal;
  /** Most deliveries per handler call (default 100). RabbitMQ uses it as the channel prefetch. */
  batchSize?: number;
  /**
   * Deliveries of one change before it is dead-lettered (default: the transport's `maxAttempts`, 10).
   * A change whose last delivery fails is first retried alone, so one poison change never takes the good
   * changes of its batch down with it.
   */
  maxAttempts?: number;
  /** Hears of each change once it is safely in the dead-letter queue. Errors it throws are ignored. */
  onDeadLetter?: (d: Delivery, reason: string) => void;
}

/** One broker behind one interface. */
export interface Transport {
  readonly kind: 'rabbitmq' | 'nats' | 'redis';
  /** Publishes durably; resolves only when the broker has confirmed (publisher confirms / JetStream ack / XADD reply). */
  publish(changes: Change[]): Promise<void>;
  /**
   * Consumes at least once: calls handler with batches (≤ batchSize); acks each delivery only after handler
   * resolves; on rejection, redelivers later with backoff; after maxAttempts, dead-letters the change (to a DLQ the
   * transport owns: RabbitMQ dead-letter exchange+queue, NATS a `<name>_dlq` stream, Redis a `<name>:dlq` stream)
   * and calls onDeadLetter. Resolves when signal aborts (after in-flight handler settles), or when the transport is
   * closed. Lost broker connections are re-established by the loop itself.
   */
  consume(handler: (batch: Delivery[]) => Promise<void>, opts: ConsumeOptions): Promise<void>;
  /** Dead-lettered changes (for `tandem status`), newest first, at most `limit` (default 100). */
  deadLetters(limit?: number): Promise<DeadLetter[]>;
  /**
   * Count of changes published but not yet acked (lag), when the broker can tell. NATS and Redis count exactly;
   * RabbitMQ counts ready messages plus those this process holds (AMQP does not report other processes' unacked ones).
   */
  pending(): Promise<number>;
  /**
   * Closes the broker connections at once, as a crash would: a handler still running is not waited for and its
   * deliveries are not acked; they go back to the broker for another consumer (RabbitMQ at once, NATS after
   * `ack_wait`, Redis after `stuckAfterMs`). To stop gracefully, abort the consume signal and await `consume` first.
   */
  close(): Promise<void>;
}

/** The logger a transport reports reconnects and swallowed errors to (a pino logger fits). */
export interface TransportLogger {
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
}

/** Options of {@link openTransport}. Only `name` is required; the rest have production defaults. */
export interface OpenTransportOptions {
  /**
   * Stream/queue base name, e.g. `tandem_changes`: letters, digits, `_` and `-` (valid as a RabbitMQ queue,
   * a NATS stream and a Redis key alike).
   */
  name: string;
  /** Timeout of a connection attempt (default 3000 ms). */
  connectTimeoutMs?: number;
  /** How long `publish` waits for the broker's confirmation before failing with STORE_UNREACHABLE (default 5000 ms). */
  publishTimeoutMs?: number;
  /**
   * How long a delivered, unacked change may sit with a consumer that stopped answering before another consumer
   * takes it over: NATS `ack_wait`, Redis XAUTOCLAIM min-idle time (default 30000 ms). Healthy consumers extend it
   * while their handler runs. RabbitMQ needs none: it redelivers as soon as the consumer's connection is gone.
   */
  stuckAfterMs?: number;
  /** Default of {@link ConsumeOptions.maxAttempts}; RabbitMQ also uses it as the queue's `x-delivery-limit` (default 10). */
  maxAttempts?: number;
  /** Backoff before a rejected change is redelivered: `retryDelayMs × 2^(attempt−1)`, jittered (default 1000 ms). */
  retryDelayMs?: number;
  /** Cap of that backoff (default 60000 ms; Redis caps it at `stuckAfterMs` as well). */
  maxRetryDelayMs?: number;
  /** Redis: how long one XREADGROUP blocks; the longest `consume` takes to notice an abort (default 1000 ms). */
  blockMs?: number;
  logger?: TransportLogger;
}

/** Options with every default filled in; what the broker modules receive. */
export type ResolvedTransportOptions = Required<Omit<OpenTransportOptions, 'logger'>> & { logger?: TransportLogger };

/**
 * Opens the transport a broker URL names, creating what it needs there (queues, exchanges, streams, consumer
 * groups) if missing:
 * - `amqp://user:pass@host:5672[/vhost]` (also `amqps://`): RabbitMQ
 * - `nats://[user:pass@]host:4222` (also `tls://`): NATS JetStream
 * - `redis://[user:pass@]host:6379[/db]` (also `rediss://`): Redis Streams
 *
 * Throws TandemError `URL_SCHEME` for any other scheme, `URL_INVALID` for a URL that cannot be parsed,
 * `CONFIG_INVALID` for a bad `name`, `STORE_UNREACHABLE` when the broker does not answer within
 * `connectTimeoutMs`, and `STORE_AUTH` when it refuses the credentials. Messages carry the URL redacted.
 * The broker module (and its client library) is loaded only when its scheme is used.
 */
export async function openTransport(url: string, opts: OpenTransportOptions): Promise<Transport> {
  const parsed = parseBrokerUrl(url);
  const o = resolveOptions(opts);
  switch (parsed.kind) {
    case 'rabbitmq':
      return (await import('./rabbitmq/rabbitmq.js')).openRabbitmq(parsed, o);
    case 'nats':
      return (await import('./nats/nats.js')).openNats(parsed, o);
    case 'redis':
      return (await import('./redis/redis.js')).openRedis(parsed, o);
  }
}

/**
 * The broker transport contract: how a change ("key K of entity E changed on the primary") travels from the
 * writer to the relay through RabbitMQ, NATS JetStream or Redis Streams.
 *
 * Brokers carry only the change, never row data: the relay re-reads the primary row for the key and applies it
 * through the guarded apply (version ledger), which makes duplicates and reordering harmless. Every transport is
 * therefore at-least-once, and none of them tries to be exactly-once.
 */

import { parseBrokerUrl, resolveOptions } from './shared.js';

export type { Change, ConsumeOptions, DeadLetter, Delivery, Transport } from '../../core/change.js';
import type { Transport } from '../../core/change.js';

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
  /**
   * Default of {@link ConsumeOptions.maxAttempts}; RabbitMQ also uses it as the queue's `x-delivery-limit` (default
   * 10).
   */
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

/**
 * The broker transport contract: how a change ("key K of entity E changed on the primary") travels from the
 * writer to the relay through RabbitMQ, NATS JetStream or Redis Streams. The transports themselves are in
 * src/capture/transport/; this contract is in core because both sides use it (capture publishes, apply consumes).
 *
 * Brokers carry only the change, never row data: the relay re-reads the primary row for the key and applies it
 * through the guarded apply (version ledger), which makes duplicates and reordering harmless. Every transport is
 * therefore at-least-once, and none of them tries to be exactly-once.
 */

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
  /**
   * Publishes durably; resolves only when the broker has confirmed (publisher confirms / JetStream ack / XADD reply).
   */
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

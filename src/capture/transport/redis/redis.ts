/**
 * Redis Streams transport (`redis`, node-redis).
 *
 * - stream `<name>`: XADD one entry per change (fields `id` = change id, `change` = its JSON). Entries are XDELeted
 *   once acked, so the stream holds exactly the changes not yet done and XLEN is the lag.
 * - consumer group `<name>-relay`, created with MKSTREAM from id 0 (so entries added before the group existed, as
 *   after a Redis restart, are not skipped); each `consume` call is one consumer with a unique name, reading with
 *   XREADGROUP COUNT/BLOCK on its own connection.
 * - stuck entries (their consumer died) and entries waiting for a retry are taken over with XAUTOCLAIM once idle
 *   for `stuckAfterMs`; their delivery count (XPENDING) is the attempt number. A retry is scheduled by setting the
 *   entry's idle time with `XCLAIM … IDLE` so that it becomes claimable after its backoff, which survives a crash of
 *   the consumer. While the handler runs, `XCLAIM … JUSTID` keeps resetting the idle time of its entries.
 * - `<name>:dlq`: the dead-letter stream; an entry goes there and is acked in one MULTI/EXEC.
 *
 * Durability is Redis's own: XADD is acknowledged once in memory, so a production Redis needs `appendonly yes` (with
 * `appendfsync always` for no loss at all on a crash of Redis itself).
 *
 * Commands are not queued while the connection is down: `publish` fails at once with STORE_UNREACHABLE (a transient
 * error; see `withRetry`), and the clients reconnect by themselves.
 */
import { createClient } from 'redis';
import { hostname } from 'node:os';
import { TandemError } from '../../../core/errors.js';
import {
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
  reconnectDelayMs,
  shortId,
  sleep,
  withTimeout,
} from '../shared.js';
import type { Change, ConsumeOptions, DeadLetter, Delivery, ResolvedTransportOptions, Transport } from '../types.js';

const WHAT = 'Redis';
type Client = ReturnType<typeof newClient>;
type Fields = Record<string, string>;
interface Entry {
  id: string;
  fields: Fields;
}

/** Connects to Redis, creates the consumer group (and stream) when missing, and returns the transport. */
export async function openRedis(u: BrokerUrl, o: ResolvedTransportOptions): Promise<Transport> {
  const client = await connectClient(u, o, 'main');
  const t = new RedisTransport(u, o, client);
  try {
    await t.ensureGroup(client);
  } catch (e) {
    client.destroy();
    throw brokerDown(e, u, WHAT, `creating consumer group ${o.name}-relay`);
  }
  return t;
}

/**
 * A connected client. The first connection fails fast (STORE_UNREACHABLE / STORE_AUTH); once it has been up, the
 * client reconnects on its own with a capped backoff.
 */
async function connectClient(u: BrokerUrl, o: ResolvedTransportOptions, role: string): Promise<Client> {
  let everReady = false;
  let reported = false;
  const client = newClient(u, o, role, () => everReady);
  client.on('ready', () => {
    everReady = true;
    reported = false;
  });
  client.on('error', (e: Error) => {
    if (everReady && !reported) {
      reported = true;
      o.logger?.warn({ broker: 'redis', role, err: clip(errorText(e), 300) }, 'Redis connection lost; reconnecting');
    }
  });
  try {
    await withTimeout(
      client.connect(),
      o.connectTimeoutMs + 500,
      () => new Error(`no answer within ${o.connectTimeoutMs} ms`),
    );
  } catch (e) {
    client.destroy();
    throw connectError((e as { cause?: unknown }).cause ?? e, u, WHAT);
  }
  return client;
}

function newClient(u: BrokerUrl, o: ResolvedTransportOptions, role: string, everReady: () => boolean) {
  return createClient({
    url: u.raw,
    // The parsing below reads RESP2 shapes (node-redis 6 defaults to RESP3, where XREADGROUP answers a map).
    RESP: 2,
    disableOfflineQueue: true,
    name: `tandem-${o.name}-${role}`,
    socket: {
      connectTimeout: o.connectTimeoutMs,
      // Before the first success: give up at once (the caller reports it). After: reconnect for ever, capped at 2 s.
      reconnectStrategy: (retries: number, cause: Error) =>
        everReady() ? Math.min(2000, 100 * 2 ** Math.min(retries, 5)) : cause,
    },
  });
}

/** Parses a flat `[field, value, …]` array. */
function toFields(flat: unknown): Fields {
  const out: Fields = {};
  if (Array.isArray(flat)) for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

/** Parses `[[id, [field, value, …]], …]` (null entries, from XAUTOCLAIM, are skipped). */
function toEntries(raw: unknown): Entry[] {
  if (!Array.isArray(raw)) return [];
  const out: Entry[] = [];
  for (const e of raw) {
    if (Array.isArray(e) && e.length >= 2 && e[1] !== null) out.push({ id: String(e[0]), fields: toFields(e[1]) });
  }
  return out;
}

/** The per-stream entry lists of an XREADGROUP reply: `[[key, entries], …]` (RESP2) or a map key → entries (RESP3). */
function streamReplies(r: unknown): unknown[] {
  if (r === null || r === undefined) return [];
  if (Array.isArray(r)) return r.map((s) => (Array.isArray(s) ? s[1] : undefined));
  if (r instanceof Map) return [...r.values()];
  if (typeof r === 'object') return Object.values(r);
  return [];
}

const isNoGroup = (e: unknown): boolean => /NOGROUP/.test(errorText(e));

class RedisTransport implements Transport {
  readonly kind = 'redis' as const;
  private readonly key: string;
  private readonly dlqKey: string;
  private readonly group: string;
  private closed = false;
  private readonly closedD = deferred();
  private readonly consumerClients = new Set<Client>();
  private readonly loops = new Set<Promise<void>>();

  constructor(
    private readonly u: BrokerUrl,
    private readonly o: ResolvedTransportOptions,
    private readonly client: Client,
  ) {
    this.key = o.name;
    this.dlqKey = `${o.name}:dlq`;
    this.group = `${o.name}-relay`;
  }

  /** XGROUP CREATE … 0 MKSTREAM, ignoring BUSYGROUP (it exists). */
  async ensureGroup(c: Client): Promise<void> {
    try {
      await c.sendCommand(['XGROUP', 'CREATE', this.key, this.group, '0', 'MKSTREAM']);
    } catch (e) {
      if (!/BUSYGROUP/.test(errorText(e))) throw e;
    }
  }

  async publish(changes: Change[]): Promise<void> {
    if (changes.length === 0) return;
    const bodies = changes.map((c, i) => encodeChange(c, i));
    if (this.closed) throw new TandemError('STORE_UNREACHABLE', `Redis transport ${this.o.name} is closed`);
    try {
      // Sent in one tick, so node-redis pipelines them.
      await withTimeout(
        Promise.all(
          changes.map((c, i) => this.client.sendCommand(['XADD', this.key, '*', 'id', c.id, 'change', bodies[i]!])),
        ),
        this.o.publishTimeoutMs,
        () => new Error(`no reply within ${this.o.publishTimeoutMs} ms`),
      );
    } catch (e) {
      throw brokerDown(e, this.u, WHAT, `publishing ${changes.length} change(s) to ${this.key}`);
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

  private async consumeLoop(handler: (batch: Delivery[]) => Promise<void>, opts: ConsumeOptions): Promise<void> {
    const me = `${hostname()}-${process.pid}-${shortId()}`;
    let client: Client | null = null;
    let failures = 0;
    try {
      while (!opts.signal.aborted && !this.closed) {
        try {
          if (!client) {
            client = await connectClient(this.u, this.o, 'consumer');
            this.consumerClients.add(client);
            if (this.closed) break;
          }
          await this.consumeSession(client, me, handler, opts, () => {
            failures = 0;
          });
        } catch (e) {
          if (opts.signal.aborted || this.closed) break;
          if (isNoGroup(e) && client?.isReady) {
            // Redis lost the group (restarted without persistence): create it again, from the start of the stream.
            this.o.logger?.warn({ broker: 'redis', group: this.group }, 'consumer group missing; creating it again');
            await this.ensureGroup(client).catch(() => undefined);
            continue;
          }
          const wait = reconnectDelayMs(failures++);
          this.o.logger?.warn(
            { broker: 'redis', err: clip(errorText(e), 300), retryInMs: wait },
            'Redis consumer failed; retrying',
          );
          await sleep(wait, opts.signal);
        }
      }
    } finally {
      if (client) {
        this.consumerClients.delete(client);
        if (client.isOpen) await client.close().catch(() => client!.destroy());
      }
    }
  }

  private async consumeSession(
    c: Client,
    me: string,
    handler: (batch: Delivery[]) => Promise<void>,
    opts: ConsumeOptions,
    onUp: () => void,
  ): Promise<void> {
    const batchSize = Math.max(1, opts.batchSize ?? 100);
    const maxAttempts = opts.maxAttempts ?? this.o.maxAttempts;
    const stuck = this.o.stuckAfterMs;
    const claimEvery = Math.max(50, Math.min(1000, Math.floor(stuck / 4)));
    const blockMs = Math.max(1, Math.min(this.o.blockMs, claimEvery));
    let cursor = '0-0';
    let lastClaim = 0;
    const ops: BatchOps<Entry> = {
      ack: async (items) => {
        const ids = items.map((it) => it.msg.id);
        await c
          .multi()
          .addCommand(['XACK', this.key, this.group, ...ids])
          .addCommand(['XDEL', this.key, ...ids])
          .exec();
      },
      retry: async (it, delayMs) => {
        // Claimable again (by anyone, this consumer included) once idle for `stuck`: that is, after `delayMs`.
        const idle = Math.max(0, stuck - Math.min(delayMs, stuck));
        await c.sendCommand(['XCLAIM', this.key, this.group, me, '0', it.msg.id, 'IDLE', String(idle), 'JUSTID']);
      },
      deadLetter: async (it, change, reason) => {
        const f = [
          'id',
          change.id,
          'change',
          JSON.stringify(change),
          'reason',
          reason,
          'at',
          String(Date.now()),
          'attempt',
          String(it.attempt),
        ];
        if (!it.change) f.push('raw', clip(JSON.stringify(it.msg.fields), 4000));
        await c
          .multi()
          .addCommand(['XADD', this.dlqKey, '*', ...f])
          .addCommand(['XACK', this.key, this.group, it.msg.id])
          .addCommand(['XDEL', this.key, it.msg.id])
          .exec();
      },
      touch: async (items) => {
        await c.sendCommand(['XCLAIM', this.key, this.group, me, '0', ...items.map((it) => it.msg.id), 'JUSTID']);
      },
    };
    const policy = {
      maxAttempts,
      retryDelayMs: this.o.retryDelayMs,
      maxRetryDelayMs: Math.min(this.o.maxRetryDelayMs, stuck),
      onDeadLetter: opts.onDeadLetter,
      touchEveryMs: Math.max(50, Math.floor(stuck / 3)),
      closed: this.closedD.promise,
      isClosed: () => this.closed,
      logger: this.o.logger,
    };
    const received = (e: Entry, attempt: number): Received<Entry> => {
      const decoded = decodeChange(e.fields.change ?? '');
      return typeof decoded === 'string'
        ? { msg: e, attempt, change: null, problem: decoded, brokerId: e.id }
        : { msg: e, attempt, change: decoded, brokerId: e.id };
    };
    let up = false;
    for (;;) {
      if (opts.signal.aborted || this.closed) return;
      let items: Received<Entry>[] = [];
      if (Date.now() - lastClaim >= claimEvery) {
        lastClaim = Date.now();
        const r = (await c.sendCommand([
          'XAUTOCLAIM',
          this.key,
          this.group,
          me,
          String(stuck),
          cursor,
          'COUNT',
          String(batchSize),
        ])) as unknown[];
        cursor = String(r[0] ?? '0-0');
        if (cursor !== '0-0') lastClaim = 0; // more to scan: go on next round
        const deleted = Array.isArray(r[2]) ? (r[2] as unknown[]).map(String) : [];
        if (deleted.length > 0) await c.sendCommand(['XACK', this.key, this.group, ...deleted]);
        const claimed = toEntries(r[1]);
        if (claimed.length > 0) {
          const counts = await Promise.all(
            claimed.map(
              (e) => c.sendCommand(['XPENDING', this.key, this.group, e.id, e.id, '1']) as Promise<unknown[][]>,
            ),
          );
          items = claimed.map((e, i) => received(e, Number(counts[i]?.[0]?.[3] ?? 2) || 2));
        }
      }
      if (items.length === 0) {
        const r = (await c.sendCommand([
          'XREADGROUP',
          'GROUP',
          this.group,
          me,
          'COUNT',
          String(batchSize),
          'BLOCK',
          String(blockMs),
          'STREAMS',
          this.key,
          '>',
        ])) as unknown[] | null;
        if (!up) {
          up = true;
          onUp();
        }
        for (const entries of streamReplies(r)) items.push(...toEntries(entries).map((e) => received(e, 1)));
      }
      if (items.length === 0) continue;
      await processBatch(items, handler, ops, policy);
    }
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    if (limit <= 0) return [];
    let raw: unknown;
    try {
      raw = await this.client.sendCommand(['XREVRANGE', this.dlqKey, '+', '-', 'COUNT', String(limit)]);
    } catch (e) {
      throw brokerDown(e, this.u, WHAT, `reading ${this.dlqKey}`);
    }
    return toEntries(raw).map((e) => {
      let change: Change;
      try {
        change = JSON.parse(e.fields.change ?? '') as Change;
      } catch {
        change = malformedChange(e.fields.id ?? e.id);
      }
      return { change, reason: e.fields.reason ?? 'unknown', at: Number(e.fields.at) || Number(e.id.split('-')[0]) };
    });
  }

  async pending(): Promise<number> {
    try {
      return Number(await this.client.sendCommand(['XLEN', this.key]));
    } catch (e) {
      throw brokerDown(e, this.u, WHAT, `reading the length of ${this.key}`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closedD.resolve();
    // Consumers stop where they are: what they hold unacked is claimed by another consumer after stuckAfterMs.
    for (const c of this.consumerClients) c.destroy();
    this.consumerClients.clear();
    await Promise.allSettled([...this.loops]);
    if (this.client.isOpen) await this.client.close().catch(() => this.client.destroy());
  }
}

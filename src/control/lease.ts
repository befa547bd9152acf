import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { TandemError } from '../core/errors.js';
import type { Executor, Store } from '../stores/types.js';

/**
 * Leases: time-limited claims in the control plane with a fencing token (DESIGN.md "lease"). One row per scope
 * (`backfill:<entity>`; later, key ranges) in the `leases` table of the store whose state they guard — for a
 * backfill the target, next to the checkpoint, so the fence is checked inside the chunk's own transaction.
 *
 * - {@link acquireLease} takes a free or expired lease and bumps its fencing token (tokens of a scope only grow;
 *   the row is kept on release); a live lease of another holder is refused with `TANDEM_ERR_LEASE_HELD`.
 * - {@link fenceLease} renews the lease inside a transaction only if it still carries the holder's token, else
 *   throws `TANDEM_ERR_LEASE_LOST`; the row lock it takes serialises it with a takeover, so a holder whose lease
 *   was taken can never commit a checkpoint move after the takeover.
 * - {@link renewLease} (a timer, between chunks) and {@link releaseLease} (normal end, graceful stop).
 *
 * Time: every `*_ms` column is epoch milliseconds read from the **database's clock** (`store.sql.nowMs()`), never
 * the client's: holders on several hosts compare expiry on one clock, so a host whose clock runs ahead cannot
 * take over a live lease early. Safety does not depend on clocks at all — the token does — only liveness does.
 */

/** Who holds a lease: this process (`id` is unique per process run). */
export interface LeaseHolder {
  id: string;
  host: string;
  pid: number;
}

let self: LeaseHolder | undefined;

/** The holder identity of this process: host name, pid and a random id made once per process. */
export function processHolder(): LeaseHolder {
  self ??= { id: randomUUID(), host: hostname(), pid: process.pid };
  return self;
}

/** A lease this process holds: its scope, fencing token and time to live (ms). */
export interface Lease {
  scope: string;
  token: number;
  ttlMs: number;
  holder: LeaseHolder;
  /** Set when this lease was taken over from a dead holder before its lease expired: who it was, and why dead. */
  tookOver?: { host: string | null; pid: number | null; token: number; reason: string };
}

/**
 * Tells whether the holder of a live lease is dead: the reason (`process 4242 on this host is gone`), or null
 * when it may be alive. See `deadHolderCheck` (src/control/heartbeat.ts), which reads the holder's pid and its
 * heartbeat.
 */
export type DeadHolderCheck = (lease: LeaseInfo) => Promise<string | null>;

/** A lease row as stored, with the database's "now" (for status and error messages). */
export interface LeaseInfo {
  scope: string;
  token: number;
  holderId: string | null;
  host: string | null;
  pid: number | null;
  acquiredMs: number | null;
  renewedMs: number | null;
  expiresMs: number;
  /** The database clock when this was read (epoch ms). */
  nowMs: number;
  /** Held and not expired. */
  live: boolean;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function toInfo(r: Record<string, unknown>): LeaseInfo {
  const expiresMs = Number(r.expires_ms);
  const nowMs = Number(r.now_ms);
  return {
    scope: String(r.scope),
    token: Number(r.token),
    holderId: r.holder_id === null ? null : String(r.holder_id),
    host: r.host === null ? null : String(r.host),
    pid: num(r.pid),
    acquiredMs: num(r.acquired_ms),
    renewedMs: num(r.renewed_ms),
    expiresMs,
    nowMs,
    live: expiresMs > nowMs,
  };
}

const COLUMNS = 'scope, token, holder_id, host, pid, acquired_ms, renewed_ms, expires_ms';

async function readOne(db: Executor, store: Store, scope: string): Promise<LeaseInfo | null> {
  const now = store.sql.nowMs();
  const r = await db.query<Record<string, unknown>>(
    `SELECT ${COLUMNS}, ${now} AS now_ms FROM ${store.controlTable('leases')} WHERE scope = ${store.sql.param(1)}`,
    [scope],
  );
  return r[0] ? toInfo(r[0]) : null;
}

const iso = (ms: number | null) => (ms === null ? 'an unknown time' : new Date(ms).toISOString());

/**
 * Takes the lease on `scope` for `ttlMs` milliseconds: a scope never leased, released, or whose holder let it
 * expire is taken with a fencing token larger than any before it. Throws `TANDEM_ERR_LEASE_HELD` naming the
 * holder (host, pid, since) and when its lease expires, when another holder's lease is live. `what` words the
 * error (`entity users is being copied`).
 *
 * With `deadHolder`, a live lease whose holder that check calls dead is taken over at once, without waiting for
 * the lease to expire: the takeover is conditional on the token that was read (two takers: one wins), and it
 * bumps the token like any acquisition, so a holder wrongly called dead cannot move a checkpoint afterwards
 * ({@link fenceLease} refuses it). The returned lease then says whom it took over from (`tookOver`).
 */
export async function acquireLease(
  store: Store,
  scope: string,
  ttlMs: number,
  o: { holder?: LeaseHolder; what?: string; deadHolder?: DeadHolderCheck } = {},
): Promise<Lease> {
  const holder = o.holder ?? processHolder();
  const p = (i: number) => store.sql.param(i);
  const t = store.controlTable('leases');
  const now = store.sql.nowMs();
  const ttl = Math.max(1, Math.round(ttlMs));
  const r = await store.transaction(async (tx) => {
    // a free row (token 0, expired) first, so the conditional update below is the one place a lease is taken
    await tx.execute(store.sql.insertIgnore(t, ['scope', 'token', 'expires_ms'], ['scope']), [scope, 0, 0]);
    const n = await tx.execute(
      `UPDATE ${t} SET token = token + 1, holder_id = ${p(1)}, host = ${p(2)}, pid = ${p(3)}, acquired_ms = ${now}, renewed_ms = ${now}, expires_ms = ${now} + ${p(4)} WHERE scope = ${p(5)} AND expires_ms <= ${now}`,
      [holder.id, holder.host, holder.pid, ttl, scope],
    );
    return { taken: n >= 1, row: (await readOne(tx, store, scope))! };
  });
  if (r.taken) return { scope, token: r.row.token, ttlMs: ttl, holder };
  let h = r.row;
  const reason = o.deadHolder && h.holderId !== holder.id ? await o.deadHolder(h).catch(() => null) : null;
  if (reason) {
    const seen = h;
    const t2 = await store.transaction(async (tx) => {
      const n = await tx.execute(
        `UPDATE ${t} SET token = token + 1, holder_id = ${p(1)}, host = ${p(2)}, pid = ${p(3)}, acquired_ms = ${now}, ` +
          `renewed_ms = ${now}, expires_ms = ${now} + ${p(4)} WHERE scope = ${p(5)} AND token = ${p(6)}`,
        [holder.id, holder.host, holder.pid, ttl, scope, seen.token],
      );
      return { taken: n >= 1, row: (await readOne(tx, store, scope))! };
    });
    if (t2.taken) {
      const tookOver = { host: seen.host, pid: seen.pid, token: seen.token, reason };
      return { scope, token: t2.row.token, ttlMs: ttl, holder, tookOver };
    }
    h = t2.row;
  }
  const inS = Math.max(0, Math.ceil((h.expiresMs - h.nowMs) / 1000));
  throw new TandemError(
    'LEASE_HELD',
    `${o.what ?? `lease ${scope} is held`} by host ${h.host} pid ${h.pid} since ${iso(h.acquiredMs)}; wait for it or stop it; its lease expires at ${iso(h.expiresMs)} (in ${inS} s) unless renewed`,
    { scope, host: h.host, pid: h.pid, since: iso(h.acquiredMs), expiresAt: iso(h.expiresMs) },
  );
}

/**
 * Renews `lease` on `db` (a transaction, or the store itself) only while it still carries the holder's fencing
 * token. Returns false when the lease was taken over meanwhile (nothing changed).
 */
export async function renewLease(db: Executor, store: Store, lease: Lease): Promise<boolean> {
  const p = (i: number) => store.sql.param(i);
  const now = store.sql.nowMs();
  const n = await db.execute(
    `UPDATE ${store.controlTable('leases')} SET renewed_ms = ${now}, expires_ms = ${now} + ${p(1)} WHERE scope = ${p(2)} AND token = ${p(3)}`,
    [lease.ttlMs, lease.scope, lease.token],
  );
  return n >= 1;
}

/**
 * The fence: inside transaction `tx`, renews `lease` if it still carries the holder's token and holds its row
 * lock until `tx` ends (a takeover waits for it, then sees the renewed expiry and is refused). When the lease
 * was taken over, throws `TANDEM_ERR_LEASE_LOST` naming the new holder; the caller's transaction rolls back,
 * so nothing of it is written.
 */
export async function fenceLease(tx: Executor, store: Store, lease: Lease): Promise<void> {
  if (await renewLease(tx, store, lease)) return;
  const cur = await readOne(tx, store, lease.scope);
  const by =
    cur && cur.token > lease.token
      ? `by host ${cur.host} pid ${cur.pid} (fencing token ${cur.token} > ${lease.token}) at ${iso(cur.acquiredMs)}`
      : 'or released';
  throw new TandemError(
    'LEASE_LOST',
    `the lease ${lease.scope} of this process (host ${lease.holder.host} pid ${lease.holder.pid}) was taken over ${by} after it was not renewed within ${Math.round(lease.ttlMs / 1000)} s; this process stops without writing`,
    { scope: lease.scope, token: lease.token, currentToken: cur?.token ?? null },
  );
}

/** Gives `lease` up (expires it now) if this holder still has it; the token stays, so the next holder's is larger. */
export async function releaseLease(store: Store, lease: Lease): Promise<void> {
  const p = (i: number) => store.sql.param(i);
  await store.execute(
    `UPDATE ${store.controlTable('leases')} SET expires_ms = 0 WHERE scope = ${p(1)} AND token = ${p(2)}`,
    [lease.scope, lease.token],
  );
}

/** The lease rows of `store` whose scope starts with `prefix` (all when empty), with liveness on the database clock. */
export async function listLeases(store: Store, prefix = ''): Promise<LeaseInfo[]> {
  const now = store.sql.nowMs();
  const rows = await store.query<Record<string, unknown>>(
    `SELECT ${COLUMNS}, ${now} AS now_ms FROM ${store.controlTable('leases')} ORDER BY scope`,
  );
  return rows.map(toInfo).filter((l) => l.scope.startsWith(prefix));
}

/**
 * Holds a set of leases for the length of a run: renews them every `ttlMs / 3` (the timer never keeps the
 * process alive) and, once one is found taken over, reports it through `lost` (the next fenced write throws
 * `TANDEM_ERR_LEASE_LOST` anyway). Renewal failures of the store itself (down, busy) are retried at the next tick.
 */
export class LeaseKeeper {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /** Scopes found taken over by another holder. */
  readonly lost = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly leases: Lease[],
    private readonly onError?: (e: unknown) => void,
  ) {
    this.start();
  }

  private start(): void {
    if (this.timer || !this.leases.length) return;
    const every = Math.max(50, Math.floor(Math.min(...this.leases.map((l) => l.ttlMs)) / 3));
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      (async () => {
        for (const l of [...this.leases])
          if (!this.lost.has(l.scope) && !(await renewLease(this.store, this.store, l))) this.lost.add(l.scope);
      })()
        .catch((e) => this.onError?.(e))
        .finally(() => (this.busy = false));
    }, every);
    this.timer.unref();
  }

  /**
   * Renews `lease` too from now on (a lease taken after the keeper was made: a range a backfill worker took).
   * The timer's period is set by the first leases held (a third of their time to live).
   */
  add(lease: Lease): void {
    this.lost.delete(lease.scope);
    this.leases.push(lease);
    this.start();
  }

  /** The lease of `scope`, if held. */
  get(scope: string): Lease | undefined {
    return this.leases.find((l) => l.scope === scope);
  }

  /** Releases one lease now and stops renewing it (an error is ignored: the lease then just expires). */
  async releaseOne(lease: Lease): Promise<void> {
    const i = this.leases.indexOf(lease);
    if (i < 0) return;
    this.leases.splice(i, 1);
    await releaseLease(this.store, lease).catch(() => {});
  }

  /** Stops renewing and releases every lease still held (errors are ignored: an unreleased lease just expires). */
  async release(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const l of this.leases.splice(0)) await releaseLease(this.store, l).catch(() => {});
  }
}

/**
 * Takes every lease of `scopes` or none: on a refusal the ones already taken are released, and the error thrown.
 * `deadHolder`: see {@link acquireLease}.
 */
export async function acquireAll(
  store: Store,
  scopes: { scope: string; what?: string }[],
  ttlMs: number,
  onError?: (e: unknown) => void,
  deadHolder?: DeadHolderCheck,
): Promise<LeaseKeeper> {
  const got: Lease[] = [];
  try {
    for (const s of scopes) got.push(await acquireLease(store, s.scope, ttlMs, { what: s.what, deadHolder }));
  } catch (e) {
    for (const l of got) await releaseLease(store, l).catch(() => {});
    throw e;
  }
  return new LeaseKeeper(store, got, onError);
}

/** The lease scope of an entity's backfill: `backfill:<entity>`. */
export function backfillScope(entity: string): string {
  return `backfill:${entity}`;
}

import { z } from 'zod';
import { outboxLag } from '../apply/relay.js';
import { controlSchemaVersion, listCheckpoints, recentAudit, type Checkpoint } from '../control/control.js';
import { listProcesses, type ProcessInfo } from '../control/heartbeat.js';
import { backfillScope, listLeases, type LeaseInfo } from '../control/lease.js';
import { listRanges, rangeScope, type RangeRow } from '../control/ranges.js';
import { PHASES, readPhase } from '../control/phase.js';
import { readBackfillControl, type BackfillControl } from '../control/backfill-control.js';
import { readThrottleStates, THROTTLE_REASONS, type ThrottleState } from '../control/throttle-state.js';
import type { Store } from '../stores/types.js';
import { readLastVerify } from './last-verify.js';
import { readRoutingSnapshot } from '../routing/state.js';
import { shadowCountsFor } from '../routing/shadow-counts.js';
import type { Migration } from './migration.js';

/**
 * The status model: one typed object, one JSON schema (docs/status.md, generated from {@link StatusSchema}
 * and checked by test/runtime/status.test.ts), printed by `tandem status --json` and, aligned, by `tandem status`.
 */
const iso = z.string().describe('ISO-8601 UTC');
const count = z.number().int().nonnegative();

export const HolderSchema = z.object({
  host: z.string().nullable(),
  pid: z.number().int().nullable(),
  since: z.string().nullable().describe('when the lease was taken (ISO-8601 UTC)'),
  leaseExpiresAt: z.string().nullable().describe('when the lease expires unless renewed (ISO-8601 UTC)'),
  leaseLive: z.boolean(),
  process: z.string().nullable().describe("the holder's heartbeat: `alive`, `dead (last beat N s ago)`, or null"),
});

export const BACKFILL_STATES = ['pending', 'running', 'paused', 'done', 'failed'] as const;

export const RangeStatusSchema = z.object({
  range: z.number().int().positive().describe('1-based'),
  of: z.number().int().positive().describe('ranges in the plan'),
  state: z
    .enum(BACKFILL_STATES)
    .describe(
      'pending: no worker took it yet; running: a live worker holds it; paused: started, released by its worker (the next worker resumes it); done; failed: its worker died holding it (another takes it over)',
    ),
  copied: count.describe('rows copied in this range (its checkpoint)'),
  estimate: count.nullable().describe('rows planned for the range (counted when it was planned)'),
  holder: HolderSchema.nullable().describe("the range's lease holder; null when none took it or it is done"),
});

export const WorkerStatusSchema = z.object({
  host: z.string().nullable(),
  pid: z.number().int().nullable(),
  ranges: z.array(z.number().int().positive()).describe('the ranges it holds (live leases)'),
  process: z.string().nullable().describe('its heartbeat: `alive`, `dead (last beat N s ago)`, or null'),
});

export const BackfillStatusSchema = z.object({
  state: z
    .enum(BACKFILL_STATES)
    .describe(
      'pending: never started; running: a live process holds it; paused: stopped on purpose (resume by running again); done; failed: its process died holding it',
    ),
  copied: count,
  total: count.nullable(),
  rowsPerSecond: z.number().nonnegative().nullable().describe('average since the backfill started, while running'),
  etaSeconds: z.number().nonnegative().nullable(),
  holder: HolderSchema.nullable(),
  throttle: z
    .object({
      reason: z.enum(THROTTLE_REASONS as [ThrottleState['reason'], ...ThrottleState['reason'][]]),
      detail: z.string().describe('why, in words: `replica lag 7.2 s > 5 s on replica1`, `paused by operator`'),
      since: iso,
    })
    .nullable()
    .describe('why the running backfill waits right now (gh-ost throttle reasons); null when it runs at full speed'),
  control: z
    .object({
      paused: z.boolean().describe('the operator paused the backfill (`tandem ctl pause`)'),
      maxRowsPerSecond: z.number().positive().nullable().describe('tuned rate; null: the config or command line'),
      chunkSeconds: z.number().positive().nullable().describe('tuned chunk time; null: the config'),
    })
    .describe('what the operator set (`tandem ctl`, POST /api/backfill/*), for every entity'),
  ranges: z
    .array(RangeStatusSchema)
    .describe(
      'the entity\'s key ranges (docs/backfill.md "Parallel workers"): one (1 of 1) for an entity planned as one range; empty before it is planned',
    ),
  workers: z
    .array(WorkerStatusSchema)
    .describe('the workers holding ranges of the entity right now (a live lease), with their ranges'),
});

export const LastVerifySchema = z.object({
  mode: z.string(),
  at: iso,
  parity: z
    .number()
    .min(0)
    .max(100)
    .nullable()
    .describe('percent of compared rows that match; null for a tier that gives none (quick)'),
  differences: count,
});

export const EntityStatusSchema = z.object({
  name: z.string(),
  entity: z.string().describe('the same as name (kept for scripts written before name)'),
  status: z.string().describe('`not started`, `done`, `running`, `stopped` or `stalled (process gone)`'),
  copied: count,
  total: count.nullable(),
  percent: z.number().nullable(),
  updatedAt: z.string().nullable(),
  checkpoint: z.enum(['running', 'done']).nullable(),
  holder: HolderSchema.nullable(),
  backfill: BackfillStatusSchema,
  verify: LastVerifySchema.nullable().describe('the last verification of the entity, null when none ran'),
});

export const RelayStatusSchema = z.object({
  direction: z
    .enum(['forward', 'reverse'])
    .describe('forward: legacy → new; reverse: new → legacy (after write cutover)'),
  primary: z.enum(['legacy', 'new']),
  pending: count.nullable().describe("changes waiting in the live outbox (the primary's); null when it cannot be read"),
  lagSeconds: z.number().nonnegative().nullable().describe('age of the oldest waiting change'),
  deadLetters: count,
});

export const ProcessStatusSchema = z.object({
  id: z.string(),
  role: z.string(),
  scope: z.string().nullable(),
  host: z.string(),
  pid: z.number().int(),
  startedAt: iso,
  lastBeatAt: iso,
  lastBeatAgoMs: z.number().nonnegative(),
  intervalMs: z.number().nonnegative(),
  alive: z.boolean(),
  state: z.string(),
  info: z.record(z.string(), z.unknown()).nullable(),
});

export const RoutingStatusSchema = z.object({
  shadowPercent: z
    .number()
    .min(0)
    .max(100)
    .describe('share of keys whose new read is shadowed (state row routing.shadow_percent)'),
  canaryPercent: z
    .number()
    .min(0)
    .max(100)
    .describe('share of keys served by new in the canary phase (routing.canary_percent)'),
  killed: z.boolean().describe('the kill switch (tandem kill): every read to legacy'),
  guard: z.object({
    state: z
      .enum(['green', 'insufficient', 'tripped'])
      .describe("the guard's verdict (state row routing.guard); green when it never wrote one"),
    reason: z.string().nullable().describe('why, with figures; null when green'),
  }),
  shadow: z
    .object({
      compared: count,
      matched: count,
      mismatched: count,
      lagging: count,
      dropped: count,
      source: z
        .enum(['none', 'control-plane', 'unavailable'])
        .describe(
          'where the counts come from: none (no source wired, all zero), control-plane, or unavailable (its read failed, all zero)',
        ),
    })
    .describe('shadow comparisons of the fleet, by outcome'),
});

export const StatusSchema = z.object({
  phase: z.enum(PHASES),
  updatedAt: iso.describe('when this status was read'),
  target: z.string().describe('the new store (redacted URL)'),
  controlSchemaVersion: count,
  relay: RelayStatusSchema,
  outbox: z
    .object({ pending: count, oldestMs: z.number().nonnegative() })
    .nullable()
    .describe('the live outbox, in the older shape'),
  deadLetters: z.object({
    count,
    recent: z.array(
      z.object({
        origin: z.string(),
        entity: z.string(),
        key: z.string(),
        attempts: count,
        reason: z.string(),
        deadAt: z.string(),
      }),
    ),
  }),
  entities: z.array(EntityStatusSchema),
  processes: z.array(ProcessStatusSchema),
  audit: z.array(z.object({ at: z.string(), command: z.string(), actor: z.string(), outcome: z.string() })),
  routing: RoutingStatusSchema.describe(
    'the read path: routing state, guard verdict, shadow comparisons (docs/routing.md)',
  ),
});

/** The status of a migration (docs/status.md). */
export type MigrationStatus = z.infer<typeof StatusSchema>;
export type EntityStatus = z.infer<typeof EntityStatusSchema>;
export type BackfillHolder = z.infer<typeof HolderSchema>;
export type RangeStatus = z.infer<typeof RangeStatusSchema>;
export type BackfillState = (typeof BACKFILL_STATES)[number];

/** The JSON schema of {@link MigrationStatus} (the one in docs/status.md). */
export function statusJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(StatusSchema) as Record<string, unknown>;
}

/**
 * Whether an open checkpoint is being worked on: `running` when a heartbeat of the entity's scope is alive, or,
 * when no process beats for it (a library caller), while its lease lives; `stopped` when no process beats for it
 * and its holder released the lease; else `stalled (process gone)` (a dead heartbeat, an expired lease, none).
 */
export function backfillState(
  entity: string,
  processes: ProcessInfo[],
  leases: LeaseInfo[],
): { status: string; holder: BackfillHolder | null } {
  const scope = backfillScope(entity);
  const beats = processes.filter((p) => beatsFor(p, entity));
  const lease = leases.find((l) => l.scope === scope && l.host !== null && l.expiresMs > 0) ?? null;
  const beat = beats.find((b) => b.alive) ?? beats[beats.length - 1] ?? null;
  const live = beat ? beat.alive : !!lease?.live;
  // released by its holder (done, SIGINT, an error) with no process left: stopped on purpose, not vanished
  const released = !beat && !!leases.find((l) => l.scope === scope && l.host !== null && l.expiresMs === 0);
  const holder: BackfillHolder | null =
    lease || beat
      ? {
          host: lease?.host ?? beat?.host ?? null,
          pid: lease?.pid ?? beat?.pid ?? null,
          since: lease?.acquiredMs ? new Date(lease.acquiredMs).toISOString() : (beat?.startedAt ?? null),
          leaseExpiresAt: lease ? new Date(lease.expiresMs).toISOString() : null,
          leaseLive: !!lease?.live,
          process: beat?.state ?? null,
        }
      : null;
  return { status: live ? 'running' : released ? 'stopped' : 'stalled (process gone)', holder };
}

/** Whether a heartbeat's scope (`backfill:<entity>` or `backfill:<a>,<b>`: several entities at once) names `entity`. */
function beatsFor(p: ProcessInfo, entity: string): boolean {
  return !!p.scope?.startsWith('backfill:') && p.scope.slice('backfill:'.length).split(',').includes(entity);
}

/**
 * The state of one range of an entity planned in several (lease `backfill:<entity>/<range>`): running while its
 * lease's holder beats (or, without a heartbeat, while the lease lives), paused when the holder released it,
 * failed when the holder is gone with it.
 */
function rangeState(
  r: RangeRow,
  processes: ProcessInfo[],
  leases: LeaseInfo[],
): { state: BackfillState; holder: BackfillHolder | null } {
  if (r.status === 'done') return { state: 'done', holder: null };
  const lease = leases.find((l) => l.scope === rangeScope(r.entity, r.range) && l.host !== null) ?? null;
  if (r.status === 'pending' && !lease?.live) return { state: 'pending', holder: null };
  const beat =
    (lease && processes.find((p) => p.host === lease.host && p.pid === lease.pid && beatsFor(p, r.entity))) ?? null;
  const live = beat ? beat.alive : !!lease?.live;
  const holder: BackfillHolder | null = lease
    ? {
        host: lease.host,
        pid: lease.pid,
        since: lease.acquiredMs ? new Date(lease.acquiredMs).toISOString() : null,
        leaseExpiresAt: new Date(lease.expiresMs).toISOString(),
        leaseLive: lease.live,
        process: beat?.state ?? null,
      }
    : null;
  if (live) return { state: 'running', holder };
  return {
    state: lease && lease.expiresMs === 0 ? 'paused' : 'failed',
    holder: lease?.expiresMs === 0 ? null : holder,
  };
}

/** The workers holding ranges (live leases), grouped by host and pid, in order of their first range. */
function workersOf(ranges: RangeStatus[]): EntityStatus['backfill']['workers'] {
  const out: EntityStatus['backfill']['workers'] = [];
  for (const r of ranges) {
    const h = r.holder;
    if (!h?.leaseLive || r.state === 'done') continue;
    const w = out.find((x) => x.host === h.host && x.pid === h.pid);
    if (w) w.ranges.push(r.range);
    else out.push({ host: h.host, pid: h.pid, ranges: [r.range], process: h.process });
  }
  return out;
}

const STATE_OF: Record<string, BackfillState> = {
  'not started': 'pending',
  done: 'done',
  running: 'running',
  stopped: 'paused',
};

const NO_CONTROL: BackfillControl = { paused: false, maxRowsPerSecond: null, chunkSeconds: null };

const ms = (s: string | undefined | null) => {
  const t = s ? Date.parse(s) : Number.NaN;
  return Number.isFinite(t) ? t : null;
};

function entityStatus(
  name: string,
  c: Checkpoint | undefined,
  processes: ProcessInfo[],
  leases: LeaseInfo[],
  verify: EntityStatus['verify'],
  ctl: BackfillControl = NO_CONTROL,
  throttle: ThrottleState | null = null,
  planned: RangeRow[] = [],
): EntityStatus {
  const control = { ...ctl };
  if (!c) {
    const backfill = {
      state: 'pending' as const,
      copied: 0,
      total: null,
      rowsPerSecond: null,
      etaSeconds: null,
      holder: null,
      throttle: null,
      control,
      ranges: [],
      workers: [],
    };
    return {
      name,
      entity: name,
      status: 'not started',
      copied: 0,
      total: null,
      percent: null,
      updatedAt: null,
      checkpoint: null,
      holder: null,
      backfill,
      verify,
    };
  }
  const percent = c.status === 'done' ? 100 : c.rowsTotal ? Math.min(100, (c.rowsCopied / c.rowsTotal) * 100) : null;
  let { status, holder } =
    c.status === 'done' ? { status: 'done', holder: null } : backfillState(name, processes, leases);
  let ranges: RangeStatus[];
  if (planned.length) {
    // planned in ranges: the entity runs while any range runs; it stalled when none runs and a holder died
    ranges = planned.map((r) => {
      const { state, holder } = rangeState(r, processes, leases);
      return { range: r.range, of: r.of, state, copied: r.rowsCopied, estimate: r.rowsEstimate, holder };
    });
    if (c.status !== 'done') {
      const running = ranges.filter((r) => r.state === 'running');
      holder = running[0]?.holder ?? ranges.find((r) => r.state === 'failed')?.holder ?? null;
      status = running.length
        ? 'running'
        : ranges.some((r) => r.state === 'failed')
          ? 'stalled (process gone)'
          : ranges.some((r) => r.state === 'paused')
            ? 'stopped'
            : ranges.every((r) => r.state === 'pending' || r.state === 'done')
              ? 'stopped'
              : status;
    }
  } else {
    const one = STATE_OF[status] ?? 'failed';
    ranges = [
      {
        range: 1,
        of: 1,
        state: one,
        copied: c.rowsCopied,
        estimate: c.rowsTotal,
        holder: c.status === 'done' ? null : holder,
      },
    ];
  }
  const state = STATE_OF[status] ?? 'failed';
  // a rate while running: rows copied over the time since the backfill started (an estimate across resumes)
  const started = ms(c.startedAt),
    updated = ms(c.updatedAt);
  const rate =
    state === 'running' && started !== null && updated !== null && updated > started
      ? c.rowsCopied / ((updated - started) / 1000)
      : null;
  const left = c.rowsTotal !== null ? Math.max(0, c.rowsTotal - c.rowsCopied) : null;
  const backfill = {
    state,
    copied: c.rowsCopied,
    total: c.rowsTotal,
    rowsPerSecond: rate !== null ? Math.round(rate * 10) / 10 : null,
    etaSeconds: rate && left !== null ? Math.round(left / rate) : state === 'done' ? 0 : null,
    holder,
    // a row left by a process that died or stopped says nothing: only a running backfill is throttled
    throttle: state === 'running' ? throttle : null,
    control,
    ranges,
    workers: workersOf(ranges),
  };
  return {
    name,
    entity: name,
    status,
    copied: c.rowsCopied,
    total: c.rowsTotal,
    percent,
    updatedAt: c.updatedAt ?? null,
    checkpoint: c.status,
    holder,
    backfill,
    verify,
  };
}

async function safeVersion(s: Store): Promise<number> {
  return controlSchemaVersion(s).catch(() => 0);
}

/**
 * Reads the status model of `m`. Writes nothing. The relay figures come from the outbox that is live in the
 * current phase: the legacy store's before write cutover, the new store's after (the reverse relay's). `names`:
 * the entities listed, in this order (default `m.entityNames`; the HTTP API passes every entity of the config, as
 * `tandem status` lists them, whichever this process resolved).
 */
export async function readMigrationStatus(m: Migration, names: string[] = m.entityNames): Promise<MigrationStatus> {
  const { new: target, control } = m.stores;
  const version = await controlSchemaVersion(target);
  const controlVersion = control === target ? version : await controlSchemaVersion(control);
  const cps: Checkpoint[] = version ? await listCheckpoints(target) : [];
  const processes = controlVersion >= 5 ? await listProcesses(control) : [];
  const leases = version >= 5 ? await listLeases(target, 'backfill:').catch(() => []) : [];
  const ranges = version >= 9 ? await listRanges(target, target, null).catch(() => []) : [];
  const verify = controlVersion >= 2 ? await readLastVerify(control, names) : new Map();
  const ctl = controlVersion >= 2 ? await readBackfillControl(control).catch(() => NO_CONTROL) : NO_CONTROL;
  const throttles = controlVersion >= 2 ? await readThrottleStates(control, names).catch(() => new Map()) : new Map();
  const entities = names.map((name) =>
    entityStatus(
      name,
      cps.find((x) => x.entity === name),
      processes,
      leases,
      verify.get(name) ?? null,
      ctl,
      throttles.get(name) ?? null,
      ranges.filter((r) => r.entity === name),
    ),
  );
  const audit = controlVersion
    ? (await recentAudit(control, 10)).map((a) => ({
        at: String(a.at),
        command: a.command,
        actor: a.actor,
        outcome: a.outcome,
      }))
    : [];
  const phase = controlVersion >= 2 ? await readPhase(control) : 'prepare';
  const rs = controlVersion >= 2 ? await readRoutingSnapshot(control) : null;
  const routing: MigrationStatus['routing'] = {
    shadowPercent: rs?.shadowPercent ?? 0,
    canaryPercent: rs?.canaryPercent ?? 0,
    killed: rs?.killed ?? false,
    guard: { state: rs?.guard?.state ?? 'green', reason: rs?.guard?.reason ?? null },
    shadow: await shadowCountsFor(control, m.hooks.shadowCounts),
  };
  const roles = m.roles(phase);
  let outbox: MigrationStatus['outbox'] = null;
  if ((await safeVersion(roles.primary)) >= 2) outbox = await outboxLag(roles.primary).catch(() => null);
  const deadLetters: MigrationStatus['deadLetters'] = { count: 0, recent: [] };
  if (controlVersion >= 2) {
    const dl = control.controlTable('dead_letters');
    deadLetters.count = Number((await control.query<{ n: unknown }>(`SELECT count(*) AS n FROM ${dl}`))[0]?.n ?? 0);
    deadLetters.recent = (
      await control.query<Record<string, unknown>>(
        `SELECT origin, entity, entity_key, attempts, reason, dead_at FROM ${dl} ORDER BY id DESC LIMIT 10`,
      )
    ).map((r) => ({
      origin: String(r.origin),
      entity: String(r.entity),
      key: String(r.entity_key),
      attempts: Number(r.attempts),
      reason: String(r.reason),
      deadAt: String(r.dead_at),
    }));
  }
  return {
    phase,
    updatedAt: new Date().toISOString(),
    target: target.url,
    controlSchemaVersion: version,
    relay: {
      direction: roles.direction,
      primary: roles.primaryName,
      pending: outbox ? outbox.pending : null,
      lagSeconds: outbox ? Math.round(outbox.oldestMs) / 1000 : null,
      deadLetters: deadLetters.count,
    },
    outbox,
    deadLetters,
    entities,
    processes,
    audit,
    routing,
  };
}

/**
 * `tandem plan` (docs/cutover.md "Plan"): the audit and risk map of a migration before anything is touched — an
 * inventory of both stores from introspection, risks tiered High / Medium / Low with their mitigation, durations
 * from rates measured in the control plane (or a short read probe), the declared `slo` checked against the
 * predicted write pause, RPO and rollback RTO, and a runbook of every step. Reads only: it writes nothing to any
 * store (the probe is one keyset page of one legacy table). Row values never reach the plan: only names, counts,
 * sizes, rates and times.
 */
import { controlSchemaVersion, listCheckpoints } from '../control/control.js';
import { readPhase } from '../control/phase.js';
import type { ResolvedEntity } from '../core/mapping.js';
import { outboxLag } from '../outbox/outbox.js';
import type { Migration } from '../runtime/migration.js';
import type { SchemaInfo, Store, TableInfo, TableStats } from '../stores/types.js';
import { dwellSecondsOf, storedMs } from './gates.js';
import { readRehearsal } from './rehearsal-record.js';
import type { RehearsalRecord } from './types.js';
import {
  isTandemTrigger,
  sequenceWarningLines,
  sequenceWarnings,
  triggerWarningLines,
  type SequenceWarning,
  type TriggerWarning,
} from './warnings.js';

/** A risk's tier. */
export type RiskTier = 'High' | 'Medium' | 'Low';

/** One table of the inventory. */
export interface PlanTable {
  side: 'legacy' | 'new';
  table: string;
  /** Entities whose source (legacy) or target (new) the table is; empty: not part of the migration. */
  entities: string[];
  /** Estimated rows (statistics) or counted. */
  rows: number;
  rowsEstimated: boolean;
  /** Table and index bytes, when the engine tells. */
  bytes: number | null;
  /** Columns of the usable key: the primary key, else a unique key over NOT NULL columns; empty when none. */
  key: string[];
  keyKind: 'primary' | 'unique' | 'none';
  foreignKeys: { name: string; columns: string[]; refTable: string }[];
  triggers: string[];
  /** Numbered columns (sequence, identity, AUTO_INCREMENT, rowid), from a dry run of the sequence advance. */
  sequences: { column: string; kind: string; sequence: string | null }[];
  columns: number;
}

/** A column whose values may not survive the trip as they are. */
export interface TypeRisk {
  entity: string;
  /** `legacy.table.column → new.table.column`, or the legacy column alone. */
  column: string;
  tier: RiskTier;
  why: string;
}

/** A column on one side that the mapping does not carry. */
export interface UnmappedColumns {
  entity: string;
  side: 'legacy' | 'new';
  table: string;
  columns: string[];
}

/** One risk with its mitigation. */
export interface PlanRisk {
  tier: RiskTier;
  risk: string;
  mitigation: string;
}

/** The rate the durations are computed from. */
export interface PlanRate {
  /** Rows per second. */
  rowsPerSecond: number;
  /** `checkpoints` (rows copied over started..updated of the backfill checkpoints), `probe` (a read), `none`. */
  source: 'checkpoints' | 'probe' | 'none';
  basis: string;
}

/** One objective of the declared `slo` against its prediction. */
export interface SloCheck {
  objective: 'availability' | 'rpoSeconds' | 'rtoSeconds' | 'maxWritePauseMs';
  /** The declared objective; null when not declared (not checked). */
  declared: number | null;
  predicted: number;
  unit: '%' | 's' | 'ms';
  /** True when met, false when not, null when not declared. */
  ok: boolean | null;
  basis: string;
}

/** One step of the runbook. */
export interface PlanStep {
  step: string;
  /** The exact command(s), one per line. */
  command: string;
  /** The gate(s) the step must pass, as `tandem phase advance` names them; `none`. */
  gate: string;
  /** How to undo it. */
  rollback: string;
  /** Expected duration, seconds; null when it cannot be told. */
  durationSeconds: number | null;
  /** Printed form of the duration (`~4 min`, `dwell 60 s`). */
  duration: string;
  /** Who runs it: blank in the runbook (`Owner: ____`). */
  owner: string;
}

/** What `tandem plan --json` prints. */
export interface MigrationPlan {
  /** ISO-8601 UTC. */
  generatedAt: string;
  phase: string;
  legacy: string;
  new: string;
  tables: PlanTable[];
  tablesWithoutKey: string[];
  typesAtRisk: TypeRisk[];
  unmappedColumns: UnmappedColumns[];
  risks: PlanRisk[];
  rate: PlanRate;
  predictions: {
    /** Seconds the remaining backfill takes at the rate. */
    backfillSeconds: number | null;
    /** Rows the backfill has left to copy. */
    backfillRowsLeft: number;
    /** Changes waiting in the forward outbox now (drained under the cutover's fence). */
    forwardBacklog: number;
    /** Changes waiting in the reverse outbox now (drained by a rollback from new_primary). */
    reverseBacklog: number;
    writePauseMs: number;
    rpoSeconds: number;
    rtoSeconds: number;
    availabilityPercent: number;
  };
  rehearsal: RehearsalRecord | null;
  slo: SloCheck[];
  /** True when every declared objective is met. */
  meetsSlo: boolean;
  /** One line per objective that is not met. */
  sloFailures: string[];
  steps: PlanStep[];
  /** The new store's tables the entities write that have user triggers (src/cutover/warnings.ts). */
  targetTriggers: TriggerWarning[];
  /** Counters of the side written to now that are behind the copied keys (fix: tandem backfill --sync-sequences). */
  sequences: SequenceWarning[];
  /** `apply.userTriggers` of the config. */
  userTriggers: 'fire' | 'replica';
}

/** Options of {@link buildPlan}. */
export interface PlanOptions {
  /** Rows of the read probe when no rate is measured (default 2000). */
  probeRows?: number;
  /** Wall clock, ms (tests). */
  now?: number;
}

/** Fixed cost of a cutover's steps besides the drain (fence, sequence advance, flip, release), ms. */
export const CUTOVER_FIXED_MS = 250;
/** Fixed cost of a rollback's steps besides the reverse drain (fence, legacy sequences, flip, release), seconds. */
export const ROLLBACK_FIXED_SECONDS = 1;
/** Switches the availability figure assumes over its 30-day month: a cutover and a rollback. */
const SWITCHES_PER_MONTH = 2;
const MONTH_MS = 30 * 86_400_000;

/** A duration as the runbook prints it. */
export function formatDuration(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return 'unknown';
  if (s < 1) return `~${Math.max(1, Math.round(s * 1000))} ms`;
  if (s < 90) return `~${Math.ceil(s)} s`;
  if (s < 5400) return `~${Math.ceil(s / 60)} min`;
  return `~${Number((s / 3600).toFixed(1))} h`;
}

const fmtBytes = (b: number | null) =>
  b === null
    ? '?'
    : b < 1024
      ? `${b} B`
      : b < 1048576
        ? `${(b / 1024).toFixed(1)} KiB`
        : `${(b / 1048576).toFixed(1)} MiB`;

/** The usable key of a table: its primary key, else a unique key over NOT NULL columns. */
function usableKey(t: TableInfo): { key: string[]; kind: PlanTable['keyKind'] } {
  if (t.primaryKey.length) return { key: t.primaryKey, kind: 'primary' };
  const nn = (c: string) => t.columns.find((x) => x.name === c)?.nullable === false;
  const u = t.uniqueKeys.find((k) => k.every(nn));
  return u ? { key: u, kind: 'unique' } : { key: [], kind: 'none' };
}

/** Tandem's own tables where a store has no schema for them (`tandem_` prefix). */
const isControlTable = (name: string) => name.startsWith('tandem_');

async function inventory(
  store: Store,
  side: 'legacy' | 'new',
  schema: SchemaInfo,
  owners: Map<string, string[]>,
): Promise<PlanTable[]> {
  const names = [...schema.tables.keys()].filter((n) => !isControlTable(n)).sort();
  let stats: TableStats[] = [];
  if (store.tableStats) stats = await store.tableStats(names);
  else
    for (const n of names) {
      const c = store.sql.count(n);
      const r = await store.query<{ n: unknown }>(c.sql, c.params);
      stats.push({
        table: n,
        rows: Number(Object.values(r[0] ?? {})[0] ?? 0),
        estimated: false,
        bytes: null,
        triggers: [],
      });
    }
  let seqs: Awaited<ReturnType<NonNullable<Store['advanceSequences']>>> = [];
  if (store.advanceSequences) seqs = await store.advanceSequences(names, { dryRun: true }).catch(() => []);
  return names.map((n) => {
    const t = schema.tables.get(n)!;
    const s = stats.find((x) => x.table === n);
    const k = usableKey(t);
    return {
      side,
      table: n,
      entities: owners.get(n) ?? [],
      rows: s?.rows ?? 0,
      rowsEstimated: s?.estimated ?? false,
      bytes: s?.bytes ?? null,
      key: k.key,
      keyKind: k.kind,
      foreignKeys: t.foreignKeys.map((f) => ({ name: f.name, columns: f.columns, refTable: f.refTable })),
      triggers: s?.triggers ?? [],
      sequences: seqs
        .filter((q) => q.table === n && q.kind !== 'none' && q.column)
        .map((q) => ({ column: q.column!, kind: q.kind, sequence: q.sequence })),
      columns: t.columns.length,
    };
  });
}

/** The source column a target column is copied from (rename or cast), or null (constant, transform). */
function sourceOf(spec: unknown): string | null {
  if (typeof spec === 'string') return spec;
  if (spec && typeof spec === 'object' && 'from' in spec) return String((spec as { from: string }).from);
  return null;
}

/** Columns whose values may change on the way (source → target pairs of the declarative mapping). */
function typeRisks(e: ResolvedEntity): TypeRisk[] {
  const out: TypeRisk[] = [];
  const src = (name: string) => e.source.columns.find((c) => c.name.toLowerCase() === name.toLowerCase());
  for (const c of e.source.columns) {
    if (c.category === 'other')
      out.push({
        entity: e.name,
        column: `${e.source.name}.${c.name}`,
        tier: 'High',
        why: `type ${c.dataType} has no canonical encoding: verify compares it as raw text`,
      });
    if (c.category === 'integer' && c.unsigned && c.intBytes === 8)
      out.push({
        entity: e.name,
        column: `${e.source.name}.${c.name}`,
        tier: 'Medium',
        why: 'unsigned 64-bit integers above 2^63-1 do not fit a signed bigint',
      });
  }
  for (const t of e.targets) {
    for (const [col, spec] of Object.entries(t.config.columns)) {
      const from = sourceOf(spec);
      const s = from ? src(from) : undefined;
      const d = t.table.columns.find((c) => c.name === col);
      if (!s || !d) continue;
      const pair = `${e.source.name}.${s.name} → ${t.table.name}.${d.name}`;
      const add = (tier: RiskTier, why: string) => out.push({ entity: e.name, column: pair, tier, why });
      if (s.category === 'float' || d.category === 'float')
        add(
          s.floatBytes === 4 || d.floatBytes === 4 ? 'Medium' : 'Low',
          `floating point (${s.dataType} → ${d.dataType}): compared to ${s.floatBytes === 4 || d.floatBytes === 4 ? 6 : 15} significant digits`,
        );
      if (s.category === 'timestamp' && d.category === 'timestamptz')
        add('Medium', `${s.dataType} has no time zone, ${d.dataType} has: values are read as UTC`);
      if (s.category === 'timestamptz' && d.category === 'timestamp')
        add('Medium', `${s.dataType} → ${d.dataType} drops the time zone (stored as UTC)`);
      if (s.maxLength !== undefined && d.maxLength !== undefined && s.maxLength > d.maxLength)
        add('High', `${s.dataType} → ${d.dataType}: longer values do not fit (backfill refuses them)`);
      if (s.maxLength === undefined && d.maxLength !== undefined && s.category === 'text')
        add('Medium', `${s.dataType} (unbounded) → ${d.dataType}: longer values do not fit`);
      if (s.category === 'decimal' && d.category === 'decimal' && (s.scale ?? 0) > (d.scale ?? 0))
        add('High', `${s.dataType} → ${d.dataType} rounds away ${(s.scale ?? 0) - (d.scale ?? 0)} decimal digit(s)`);
      if (s.category === 'integer' && d.category === 'integer' && (s.intBytes ?? 8) > (d.intBytes ?? 8))
        add('High', `${s.dataType} → ${d.dataType}: a narrower integer`);
      if (s.scale !== undefined && d.scale !== undefined && s.category.startsWith('timestamp') && s.scale > d.scale)
        add('Medium', `${s.dataType} → ${d.dataType} truncates fractional seconds`);
      if (s.category !== d.category && !(s.category.startsWith('timestamp') && d.category.startsWith('timestamp')))
        add('Low', `${s.category} → ${d.category}: converted by the mapping`);
    }
  }
  return out;
}

/** Legacy columns the mapping does not read, and new columns it does not write, per entity. */
function unmapped(e: ResolvedEntity): UnmappedColumns[] {
  const used = new Set<string>();
  for (const t of e.targets)
    for (const spec of Object.values(t.config.columns)) {
      const f = sourceOf(spec);
      if (f) used.add(f.toLowerCase());
    }
  for (const k of e.key) used.add(k.toLowerCase());
  if (e.version) used.add(e.version.name.toLowerCase());
  const out: UnmappedColumns[] = [];
  // a transform may read any column: only a fully declarative mapping tells what is left behind
  if (e.declarative) {
    const left = e.source.columns.map((c) => c.name).filter((c) => !used.has(c.toLowerCase()));
    if (left.length) out.push({ entity: e.name, side: 'legacy', table: e.source.name, columns: left });
  }
  for (const t of e.targets) {
    const written = new Set(t.columns.map((c) => c.name));
    const left = t.table.columns.filter((c) => !written.has(c.name) && !c.generated).map((c) => c.name);
    if (left.length) out.push({ entity: e.name, side: 'new', table: t.table.name, columns: left });
  }
  return out;
}

/** Rows per second from the backfill checkpoints (rows copied over started..updated), or null. */
async function measuredRate(m: Migration): Promise<PlanRate | null> {
  if (!(await controlSchemaVersion(m.stores.new).catch(() => 0))) return null;
  const cps = await listCheckpoints(m.stores.new).catch(() => []);
  let rows = 0,
    secs = 0;
  for (const c of cps) {
    const a = storedMs(c.startedAt),
      b = storedMs(c.updatedAt);
    if (a === null || b === null || b <= a || c.rowsCopied <= 0) continue;
    rows += c.rowsCopied;
    secs += (b - a) / 1000;
  }
  if (!rows || secs <= 0) return null;
  return {
    rowsPerSecond: rows / secs,
    source: 'checkpoints',
    basis: `${rows} rows copied in ${secs.toFixed(1)} s by the backfill (checkpoints)`,
  };
}

/** A read probe: one keyset page of the largest legacy table of the entities, timed. */
async function probeRate(m: Migration, tables: PlanTable[], limit: number): Promise<PlanRate> {
  const e = [...m.entities].sort(
    (a, b) =>
      (tables.find((t) => t.side === 'legacy' && t.table === b.source.name)?.rows ?? 0) -
      (tables.find((t) => t.side === 'legacy' && t.table === a.source.name)?.rows ?? 0),
  )[0];
  if (!e) return { rowsPerSecond: 0, source: 'none', basis: 'no entity to probe' };
  const st = m.stores.legacy.sql.keyset({
    table: e.source.name,
    columns: e.readColumns,
    key: e.key,
    after: null,
    limit,
    keyCategories: e.keyColumns.map((c) => c.category),
  });
  const t0 = performance.now();
  const rows = await m.stores.legacy.query(st.sql, st.params);
  const s = Math.max(0.001, (performance.now() - t0) / 1000);
  if (!rows.length) return { rowsPerSecond: 0, source: 'none', basis: `the probe of ${e.source.name} read no row` };
  // the backfill reads and writes every row: assumed at half the read rate
  return {
    rowsPerSecond: rows.length / s / 2,
    source: 'probe',
    basis: `read probe: ${rows.length} rows of ${e.source.name} in ${(s * 1000).toFixed(0)} ms; backfill assumed at half the read rate`,
  };
}

async function backlog(store: Store): Promise<number> {
  if (!(await controlSchemaVersion(store).catch(() => 0))) return 0;
  return (await outboxLag(store).catch(() => ({ pending: 0 }))).pending;
}

/**
 * Builds the plan of `m` (opened with its entities): introspects both stores, reads the control plane's
 * checkpoints, outboxes and rehearsal record, probes one page of legacy when no rate was measured, and checks
 * the config's `slo`. Reads only. Throws what the stores throw (unreachable, catalog unreadable).
 *
 * Predictions: write pause = min(`cutover.fenceMs`, forward backlog / drain rate + {@link CUTOVER_FIXED_MS}),
 * and at least the last rehearsal's measured maximum; RPO = 0 with the transactional outbox, `gates.maxLagSeconds`
 * with a broker between the primary and the relay (a change published after commit can be lost with the broker's
 * queue up to the lag the gates allow); rollback RTO = reverse backlog / drain rate + {@link ROLLBACK_FIXED_SECONDS},
 * and at least the last rehearsal's measured RTO; availability = 100 × (1 − 2 × pause / 30 days). The drain rate is
 * the backfill's rate (the relay applies a row the way the backfill does).
 */
export async function buildPlan(m: Migration, o: PlanOptions = {}): Promise<MigrationPlan> {
  const { legacy, new: next, control } = m.stores;
  const [ls, ns] = await Promise.all([legacy.introspect(), next.introspect()]);
  const srcOwners = new Map<string, string[]>();
  const tgtOwners = new Map<string, string[]>();
  for (const e of m.entities) {
    srcOwners.set(e.source.name, [...(srcOwners.get(e.source.name) ?? []), e.name]);
    for (const t of e.targets) tgtOwners.set(t.table.name, [...(tgtOwners.get(t.table.name) ?? []), e.name]);
  }
  const tables = [
    ...(await inventory(legacy, 'legacy', ls, srcOwners)),
    ...(await inventory(next, 'new', ns, tgtOwners)),
  ];
  const typesAtRisk = m.entities.flatMap(typeRisks);
  const unmappedColumns = m.entities.flatMap(unmapped);
  const tablesWithoutKey = tables.filter((t) => t.keyKind === 'none').map((t) => `${t.side}.${t.table}`);

  const rate = (await measuredRate(m)) ?? (await probeRate(m, tables, o.probeRows ?? 2000));
  const cps = await listCheckpoints(next).catch(() => []);
  let rowsLeft = 0;
  for (const e of m.entities) {
    const c = cps.find((x) => x.entity === e.name);
    if (c?.status === 'done') continue;
    const total = tables.find((t) => t.side === 'legacy' && t.table === e.source.name)?.rows ?? 0;
    rowsLeft += Math.max(0, (c?.rowsTotal ?? total) - (c?.rowsCopied ?? 0));
  }
  const perSec = rate.rowsPerSecond;
  const backfillSeconds = rowsLeft === 0 ? 0 : perSec > 0 ? rowsLeft / perSec : null;
  const forwardBacklog = await backlog(legacy);
  const reverseBacklog = await backlog(next);
  const rehearsal = await readRehearsal(control).catch(() => null);
  const fenceMs = m.config.cutover.fenceMs;
  const drainMs = perSec > 0 ? (forwardBacklog / perSec) * 1000 : forwardBacklog ? Number.POSITIVE_INFINITY : 0;
  const writePauseMs = Math.round(
    Math.max(Math.min(fenceMs, drainMs + CUTOVER_FIXED_MS), rehearsal?.passed ? rehearsal.cutover.maxMs : 0),
  );
  const broker = !!m.config.transport;
  const rpoSeconds = broker ? m.config.gates.maxLagSeconds : 0;
  const reverseS = perSec > 0 ? reverseBacklog / perSec : reverseBacklog ? Number.POSITIVE_INFINITY : 0;
  const rtoSeconds =
    Math.round(Math.max(reverseS + ROLLBACK_FIXED_SECONDS, rehearsal?.passed ? rehearsal.rollbackRtoSeconds : 0) * 10) /
    10;
  const availabilityPercent = 100 * (1 - (SWITCHES_PER_MONTH * writePauseMs) / MONTH_MS);

  const slo = m.config.slo;
  const check = (
    objective: SloCheck['objective'],
    declared: number | undefined,
    predicted: number,
    unit: SloCheck['unit'],
    basis: string,
    higherIsBetter = false,
  ): SloCheck => ({
    objective,
    declared: declared ?? null,
    predicted,
    unit,
    ok: declared === undefined ? null : higherIsBetter ? predicted >= declared : predicted <= declared,
    basis,
  });
  const sloChecks: SloCheck[] = [
    check(
      'maxWritePauseMs',
      slo.maxWritePauseMs,
      writePauseMs,
      'ms',
      `min(fenceMs ${fenceMs}, forward backlog ${forwardBacklog} / ${perSec.toFixed(0)} rows/s + ${CUTOVER_FIXED_MS} ms fixed)${rehearsal?.passed ? `, at least the rehearsal's max ${rehearsal.cutover.maxMs} ms` : ''}`,
    ),
    check(
      'rpoSeconds',
      slo.rpoSeconds,
      rpoSeconds,
      's',
      broker
        ? `a broker sits between the primary and the relay (${m.config.transport!.url.split(':')[0]}): bounded by the lag the gates allow (maxLagSeconds)`
        : 'transactional outbox: every change commits with its write',
    ),
    check(
      'rtoSeconds',
      slo.rtoSeconds,
      rtoSeconds,
      's',
      `reverse backlog ${reverseBacklog} / ${perSec.toFixed(0)} rows/s + ${ROLLBACK_FIXED_SECONDS} s fixed${rehearsal?.passed ? `, at least the rehearsal's ${rehearsal.rollbackRtoSeconds} s` : ''}`,
    ),
    check(
      'availability',
      slo.availability,
      Number(availabilityPercent.toFixed(6)),
      '%',
      `${SWITCHES_PER_MONTH} write pauses of ${writePauseMs} ms in a 30-day month`,
      true,
    ),
  ];
  const sloFailures = sloChecks
    .filter((c) => c.ok === false)
    .map(
      (c) =>
        `${c.objective}: predicted ${c.predicted} ${c.unit} ${c.objective === 'availability' ? '<' : '>'} declared ${c.declared} ${c.unit} (${c.basis})`,
    );

  const risks = planRisks(m, tables, typesAtRisk, unmappedColumns, rehearsal, broker, sloFailures, writePauseMs);
  const dwell = dwellSecondsOf(m);
  const totalRows = tables.filter((t) => t.side === 'legacy' && t.entities.length).reduce((n, t) => n + t.rows, 0);
  const readS = perSec > 0 ? totalRows / (perSec * 2) : null;
  const steps = runbook(backfillSeconds, readS, dwell, writePauseMs, rtoSeconds);
  const phase = await readPhase(control).catch(() => 'prepare' as const);
  const targetTriggers: TriggerWarning[] = tables
    .filter((t) => t.side === 'new' && t.entities.length && t.triggers.some((n) => !isTandemTrigger(n)))
    .map((t) => ({
      side: 'new',
      table: t.table,
      entities: t.entities,
      triggers: t.triggers.filter((n) => !isTandemTrigger(n)),
    }));
  const sequences = await sequenceWarnings(m, phase).catch(() => []);
  return {
    generatedAt: new Date(o.now ?? Date.now()).toISOString(),
    phase,
    legacy: legacy.url,
    new: next.url,
    tables,
    tablesWithoutKey,
    typesAtRisk,
    unmappedColumns,
    risks,
    rate,
    predictions: {
      backfillSeconds: backfillSeconds === null ? null : Math.round(backfillSeconds * 10) / 10,
      backfillRowsLeft: rowsLeft,
      forwardBacklog,
      reverseBacklog,
      writePauseMs,
      rpoSeconds,
      rtoSeconds,
      availabilityPercent: Number(availabilityPercent.toFixed(6)),
    },
    rehearsal,
    slo: sloChecks,
    meetsSlo: sloFailures.length === 0,
    sloFailures,
    steps,
    targetTriggers,
    sequences,
    userTriggers: m.config.apply.userTriggers,
  };
}

function planRisks(
  m: Migration,
  tables: PlanTable[],
  types: TypeRisk[],
  unmappedCols: UnmappedColumns[],
  rehearsal: RehearsalRecord | null,
  broker: boolean,
  sloFailures: string[],
  pauseMs: number,
): PlanRisk[] {
  const out: PlanRisk[] = [];
  for (const f of sloFailures)
    out.push({
      tier: 'High',
      risk: `the plan cannot meet the declared SLO: ${f}`,
      mitigation:
        'drain the outbox before the cutover, raise the relay rate, lower fenceMs, or agree a looser objective',
    });
  for (const t of tables.filter((x) => x.keyKind === 'none'))
    out.push(
      t.entities.length
        ? {
            tier: 'High',
            risk: `${t.side}.${t.table} has no usable key (no primary key, no unique key over NOT NULL columns)`,
            mitigation:
              'add a primary key (or a unique NOT NULL key) before the backfill: keyset scans, apply and verify need one',
          }
        : {
            tier: 'Low',
            risk: `${t.side}.${t.table} has no usable key`,
            mitigation: 'not part of the migration; give it a key if it ever is',
          },
    );
  for (const r of types)
    out.push({
      tier: r.tier,
      risk: `${r.column}: ${r.why}`,
      mitigation: 'check the mapping (cast or transform) and run tandem verify --mode full on the column',
    });
  for (const u of unmappedCols)
    out.push(
      u.side === 'legacy'
        ? {
            tier: 'Medium',
            risk: `legacy ${u.table}: column(s) ${u.columns.join(', ')} are not mapped (left behind)`,
            mitigation: 'map them, or accept that only the archive keeps them after decommission',
          }
        : {
            tier: 'Low',
            risk: `new ${u.table}: column(s) ${u.columns.join(', ')} are not written by the mapping`,
            mitigation: 'give them defaults or nullability; the application fills them after cutover',
          },
    );
  for (const e of m.entities)
    if (!e.version)
      out.push({
        tier: 'Medium',
        risk: `${e.name}: no version column (last writer wins between backfill and relay)`,
        mitigation: 'tandem prepare adds a version counter and trigger',
      });
  for (const t of tables.filter((x) => x.side === 'legacy' && !x.entities.length))
    out.push({
      tier: 'Medium',
      risk: `legacy table ${t.table} (${t.rows} rows) is not part of any entity: not migrated, not archived`,
      mitigation: 'add an entity for it, or back it up on its own before decommission',
    });
  for (const t of tables.filter((x) => x.entities.length && x.triggers.some((n) => !n.startsWith('tandem_'))))
    out.push({
      tier: 'Medium',
      risk: `${t.side}.${t.table} has trigger(s) ${t.triggers.filter((n) => !n.startsWith('tandem_')).join(', ')}: they fire on ${t.side === 'new' ? 'every backfilled and relayed row' : 'the reverse relay’s writes after cutover'}`,
      mitigation:
        t.side === 'new'
          ? 'Tandem writes only rows whose values differ, so re-applying fires nothing; a trigger that changes a mapped column makes verify differ: set apply: { userTriggers: \'replica\' } (PostgreSQL) or disable it while Tandem writes (docs/mapping.md "Target triggers")'
          : 'check they are idempotent, or disable them while Tandem writes',
    });
  for (const t of tables.filter((x) => x.side === 'new' && x.entities.length && x.sequences.length))
    out.push({
      tier: 'Low',
      risk: `new.${t.table}: ${t.sequences.map((s) => `${s.column} (${s.kind})`).join(', ')} numbered by the store`,
      mitigation:
        'tandem cutover advances them past the copied keys behind its fence (tandem sequences advance --dry-run shows it)',
    });
  for (const t of tables.filter((x) => x.side === 'new' && x.entities.length))
    for (const f of t.foreignKeys)
      if (!tables.some((x) => x.side === 'new' && x.table === f.refTable && x.entities.length))
        out.push({
          tier: 'Medium',
          risk: `new.${t.table} references ${f.refTable}, which no entity fills`,
          mitigation: `fill ${f.refTable} before the backfill, or migrate it as an entity`,
        });
  const caps: [keyof Store, string][] = [
    ['advanceSequences', 'advance sequences at cutover'],
    ['setReadOnly', 'make legacy read-only'],
  ];
  for (const [k, what] of caps) {
    if (!m.stores.new[k])
      out.push({
        tier: 'High',
        risk: `the new store's adapter cannot ${what}`,
        mitigation: 'implement it in the adapter',
      });
    if (!m.stores.legacy[k])
      out.push({
        tier: 'High',
        risk: `the legacy store's adapter cannot ${what}`,
        mitigation: 'implement it in the adapter',
      });
  }
  if (broker)
    out.push({
      tier: 'Medium',
      risk: 'a broker sits between the primary and the relay: RPO is bounded by the lag, not 0',
      mitigation: 'keep the relay lag gate tight; prefer the transactional outbox for the cutover',
    });
  if (!rehearsal)
    out.push({
      tier: 'Medium',
      risk: 'no rehearsal yet: the write pause and RTO are predictions, not measurements',
      mitigation: 'tandem rehearse on staging (the cutover gate asks for it)',
    });
  else if (!rehearsal.passed)
    out.push({
      tier: 'High',
      risk: `the last rehearsal failed: ${rehearsal.reason ?? 'no reason given'}`,
      mitigation: 'fix the cause and rehearse again before the cutover',
    });
  if (pauseMs >= m.config.cutover.fenceMs)
    out.push({
      tier: 'High',
      risk: `the predicted drain under the fence reaches fenceMs (${m.config.cutover.fenceMs} ms): writes would fail with TANDEM_ERR_WRITE_FENCED`,
      mitigation: 'cut over when the forward outbox is near empty (relay_lag gate), or raise fenceMs',
    });
  out.push({
    tier: 'Low',
    risk: 'after legacy_read_only a rollback is refused (forward-fix only)',
    mitigation: 'stay in new_primary until the new side has run its peak; reconcile new → legacy before any way back',
  });
  const order: Record<RiskTier, number> = { High: 0, Medium: 1, Low: 2 };
  return out.sort((a, b) => order[a.tier] - order[b.tier]);
}

function runbook(
  backfillS: number | null,
  verifyS: number | null,
  dwell: number,
  pauseMs: number,
  rtoS: number,
): PlanStep[] {
  const step = (
    s: string,
    command: string,
    gate: string,
    rollback: string,
    d: number | null,
    duration = formatDuration(d),
  ): PlanStep => ({
    step: s,
    command,
    gate,
    rollback,
    durationSeconds: d === null ? null : Math.round(d * 10) / 10,
    duration,
    owner: '',
  });
  const canary = (n: number, gate: string, extra = '') =>
    step(
      `canary ${n} %`,
      `${extra}tandem canary ${n}`,
      gate,
      'tandem canary 0 (or tandem kill: every read to legacy at once)',
      dwell,
      `dwell ${dwell} s (guard green)`,
    );
  return [
    step('prepare', 'tandem prepare --dry-run\ntandem prepare', 'none', 'tandem prepare --undo', 5),
    step(
      'dual_write',
      'tandem phase set dual_write\n(deploy the application with the dual writer; start tandem run)',
      'none',
      'tandem phase set prepare --force (stop the relay; legacy stays primary)',
      60,
    ),
    step(
      'backfill',
      'tandem backfill',
      'none',
      'nothing to undo on legacy (the new tables can be emptied and the backfill restarted with --restart)',
      backfillS,
    ),
    step(
      'verify',
      'tandem verify --mode checksum',
      'none (repair: tandem repair)',
      'nothing to undo (verify reads only)',
      verifyS,
    ),
    step(
      'shadow',
      'tandem phase advance --to shadow\ntandem shadow 10',
      'backfill, relay_lag, dead_letters',
      'tandem rollback (reads stay on legacy)',
      300,
      '≥ 5 min of shadow comparisons',
    ),
    canary(1, 'parity, shadow_mismatch (tandem phase advance --to canary)', 'tandem phase advance --to canary\n'),
    canary(10, 'guard green'),
    canary(50, 'guard green'),
    canary(100, 'guard green'),
    step(
      'rehearse',
      'tandem rehearse --config staging.config.ts',
      'none (on staging stores)',
      'nothing to undo (staging)',
      120,
    ),
    step(
      'cutover',
      'tandem cutover',
      'backfill, relay_lag, dead_letters, parity, shadow_mismatch, guard, rehearsal',
      `tandem rollback (predicted RTO ${rtoS} s)`,
      pauseMs / 1000,
      `write pause ~${pauseMs} ms`,
    ),
    step(
      'legacy read-only',
      'tandem phase advance --to legacy_read_only',
      'phase, reverse_lag, reverse_dead_letters',
      'forward-fix only: reconcile new → legacy first (a rollback is refused from here)',
      5,
    ),
    step(
      'archive',
      'tandem archive --out /backups/legacy\ntandem archive verify /backups/legacy',
      'none',
      'nothing to undo (delete the folder)',
      verifyS,
    ),
    step(
      'decommission',
      'tandem phase advance --to decommissioned',
      'phase, archive',
      'none: restore legacy from the verified archive',
      5,
    ),
  ];
}

/** The plan as a markdown runbook. */
export function planMarkdown(p: MigrationPlan): string {
  const L: string[] = [];
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, '<br>');
  L.push('# Migration runbook', '');
  L.push(`Generated ${p.generatedAt} by tandem plan. Phase now: \`${p.phase}\`.`, '');
  L.push(`- legacy: \`${p.legacy}\``, `- new: \`${p.new}\``, '');
  L.push('## Service-level objectives', '');
  L.push('| objective | declared | predicted | result | basis |', '|---|---|---|---|---|');
  for (const c of p.slo)
    L.push(
      `| ${c.objective} | ${c.declared === null ? 'not declared' : `${c.declared} ${c.unit}`} | ${c.predicted} ${c.unit} | ${c.ok === null ? '—' : c.ok ? 'meets' : '**FAILS**'} | ${esc(c.basis)} |`,
    );
  L.push(
    '',
    p.meetsSlo
      ? 'The plan meets every declared objective.'
      : `**The plan cannot meet the declared SLO:** ${p.sloFailures.join('; ')}`,
    '',
  );
  L.push('## Inventory', '');
  L.push(
    '| side | table | entities | rows | bytes | key | foreign keys | triggers | sequences |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const t of p.tables)
    L.push(
      `| ${t.side} | ${t.table} | ${t.entities.join(', ') || '—'} | ${t.rowsEstimated ? '~' : ''}${t.rows} | ${fmtBytes(t.bytes)} | ${t.key.length ? `${t.key.join(', ')} (${t.keyKind})` : '**none**'} | ${t.foreignKeys.map((f) => `${f.columns.join(', ')} → ${f.refTable}`).join('; ') || '—'} | ${t.triggers.join(', ') || '—'} | ${t.sequences.map((s) => `${s.column} (${s.kind})`).join(', ') || '—'} |`,
    );
  L.push('');
  L.push(`Tables without a usable key: ${p.tablesWithoutKey.join(', ') || 'none'}.`, '');
  L.push('### Types at risk', '');
  if (!p.typesAtRisk.length) L.push('None found.', '');
  else for (const r of p.typesAtRisk) L.push(`- **${r.tier}** \`${r.column}\`: ${r.why}`);
  L.push('', '### Unmapped columns', '');
  if (!p.unmappedColumns.length) L.push('None.', '');
  else for (const u of p.unmappedColumns) L.push(`- ${u.side} \`${u.table}\` (${u.entity}): ${u.columns.join(', ')}`);
  L.push('', '### Target triggers', '');
  if (!p.targetTriggers.length) L.push('None.', '');
  else for (const l of triggerWarningLines(p.targetTriggers, p.userTriggers)) L.push(`- ${esc(l)}`);
  L.push('', '### Sequences behind the copied keys', '');
  if (!p.sequences.length) L.push('None.', '');
  else for (const l of sequenceWarningLines(p.sequences)) L.push(`- ${esc(l)}`);
  L.push('', '## Risks', '');
  for (const tier of ['High', 'Medium', 'Low'] as const) {
    const rs = p.risks.filter((r) => r.tier === tier);
    L.push(`### ${tier}`, '');
    if (!rs.length) L.push('None.');
    for (const r of rs) L.push(`- ${r.risk}`, `  - Mitigation: ${r.mitigation}`);
    L.push('');
  }
  L.push('## Durations', '');
  L.push(`Rate: ${p.rate.rowsPerSecond.toFixed(0)} rows/s (${p.rate.source}: ${p.rate.basis}).`);
  L.push(
    `Backfill left: ${p.predictions.backfillRowsLeft} rows, ${formatDuration(p.predictions.backfillSeconds)}. Forward backlog ${p.predictions.forwardBacklog}, reverse backlog ${p.predictions.reverseBacklog}.`,
    '',
  );
  L.push('## Steps', '');
  p.steps.forEach((s, i) => {
    L.push(`### ${i + 1}. ${s.step}`, '');
    L.push('```', s.command, '```', '');
    L.push(`- Gate: ${s.gate}`, `- Rollback: ${s.rollback}`, `- Expected duration: ${s.duration}`, `- Owner: ____`, '');
  });
  return `${L.join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}

/** The plan's summary lines for the terminal. */
export function planSummary(p: MigrationPlan): string[] {
  const out = [
    `plan: ${p.tables.filter((t) => t.side === 'legacy').length} legacy and ${p.tables.filter((t) => t.side === 'new').length} new table(s); ${p.risks.filter((r) => r.tier === 'High').length} High, ${p.risks.filter((r) => r.tier === 'Medium').length} Medium, ${p.risks.filter((r) => r.tier === 'Low').length} Low risk(s)`,
    `rate ${p.rate.rowsPerSecond.toFixed(0)} rows/s (${p.rate.source}); backfill left ${formatDuration(p.predictions.backfillSeconds)}; write pause ~${p.predictions.writePauseMs} ms; RPO ${p.predictions.rpoSeconds} s; rollback RTO ${p.predictions.rtoSeconds} s`,
  ];
  for (const c of p.slo)
    if (c.ok !== null)
      out.push(
        `  ${c.ok ? 'meets' : 'FAILS'}  ${c.objective} ${c.predicted} ${c.unit} (declared ${c.declared} ${c.unit})`,
      );
  out.push(...triggerWarningLines(p.targetTriggers, p.userTriggers), ...sequenceWarningLines(p.sequences));
  out.push(
    p.meetsSlo
      ? 'the plan meets the declared SLO'
      : `the plan cannot meet the declared SLO: ${p.sloFailures.map((f) => f.split(':')[0]).join(', ')}`,
  );
  return out;
}

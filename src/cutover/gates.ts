/**
 * The gates of phase changes (docs/cutover.md "Gates"): what `tandem phase advance` and `tandem cutover` check
 * before the phase moves forward. Each gate reads one figure from the control plane (or the primary's outbox),
 * compares it with its threshold (config `gates`) and says why it fails. Every gate reads only; no figure or
 * reason ever holds a row value (only counts, rates, ages, table and entity names).
 *
 * Gates per destination phase, cumulative along the road:
 *
 * | to | gates |
 * |---|---|
 * | `shadow` | `backfill`, `relay_lag`, `dead_letters` |
 * | `canary` | + `parity`, `shadow_mismatch` |
 * | `new_primary` | + `guard`, `rehearsal` |
 * | `legacy_read_only` | `phase` (new_primary), `reverse_lag`, `reverse_dead_letters` |
 * | `decommissioned` | `phase` (legacy_read_only), `archive` |
 *
 * `prepare` and `dual_write` have none; a move backwards (a rollback) is not gated here.
 */
import { controlSchemaVersion, listCheckpoints } from '../control/control.js';
import { PHASES, type Phase, readPhase } from '../control/phase.js';
import { canonicalTimestamp } from '../core/canonical.js';
import { errorLine } from '../core/errors.js';
import { outboxLag } from '../outbox/outbox.js';
import { judgeWindows } from '../routing/guard.js';
import { readFleetWindows, readShadowCounts } from '../routing/stats.js';
import { ROUTING_STATE_ROWS } from '../routing/types.js';
import { readRoutingSnapshot } from '../routing/state.js';
import { readLastVerify } from '../runtime/last-verify.js';
import type { Migration } from '../runtime/migration.js';
import type { Store } from '../stores/types.js';
import { readArchiveRecord } from './archive.js';
import { readRehearsal } from './rehearsal-record.js';
import type { GateResult } from './types.js';

/** Options of {@link checkGates}. */
export interface CheckGatesOptions {
  /** Wall clock for age checks (tests), ms since the epoch. Default `Date.now()`. */
  now?: number;
}

/** The stable names of the gates, in the order they are checked. */
export const GATE_NAMES = [
  'backfill',
  'relay_lag',
  'dead_letters',
  'parity',
  'shadow_mismatch',
  'guard',
  'rehearsal',
  'phase',
  'reverse_lag',
  'reverse_dead_letters',
  'archive',
] as const;

/** The names of the gates of moving to `to` (see the table above), in the order {@link checkGates} returns them. */
export function gatesOf(to: Phase): string[] {
  switch (to) {
    case 'shadow':
      return ['backfill', 'relay_lag', 'dead_letters'];
    case 'canary':
      return [...gatesOf('shadow'), 'parity', 'shadow_mismatch'];
    case 'new_primary':
      return [...gatesOf('canary'), 'guard', 'rehearsal'];
    case 'legacy_read_only':
      return ['phase', 'reverse_lag', 'reverse_dead_letters'];
    case 'decommissioned':
      return ['phase', 'archive'];
    default:
      return [];
  }
}

const fmtPct = (x: number) => `${Number(x.toFixed(3))} %`;
const fmtSec = (x: number) => `${Number(x.toFixed(1))} s`;
const fmtRate = (x: number) => `${Number((x * 100).toPrecision(3))} %`;
const plural = (n: number, w: string) => `${n} ${n === 1 ? w : w.endsWith('y') ? `${w.slice(0, -1)}ies` : `${w}s`}`;

/** A stored timestamp (a driver's Date, or text in any dialect's shape, UTC) as epoch ms; null when unreadable. */
export function storedMs(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return Number.isFinite(v.getTime()) ? v.getTime() : null;
  const direct = Date.parse(String(v));
  try {
    const c = canonicalTimestamp(v);
    const t = Date.parse(`${c.slice(0, 23)}Z`);
    if (Number.isFinite(t)) return t;
  } catch {
    /* not a timestamp text */
  }
  return Number.isFinite(direct) ? direct : null;
}

/** A gate whose figure could not be read: it fails, saying why. */
function unreadable(gate: string, threshold: string, e: unknown): GateResult {
  return { gate, figure: '?', threshold, pass: false, reason: `cannot be read: ${errorLine(e)}` };
}

async function deadLetterCount(control: Store): Promise<number> {
  const r = await control.query<{ n: unknown }>(`SELECT count(*) AS n FROM ${control.controlTable('dead_letters')}`);
  return Number(r[0]?.n ?? 0);
}

async function backfillGate(m: Migration): Promise<GateResult> {
  const min = m.config.gates.backfillPercent;
  const threshold = `≥ ${fmtPct(min)}`;
  try {
    const cps = await listCheckpoints(m.stores.new);
    const per = m.entityNames.map((name) => {
      const c = cps.find((x) => x.entity === name);
      if (!c) return { name, pct: 0, done: false, note: 'not started' };
      if (c.status === 'done') return { name, pct: 100, done: true, note: 'done' };
      const pct = c.rowsTotal ? Math.min(100, (c.rowsCopied / c.rowsTotal) * 100) : 0;
      return { name, pct, done: false, note: `${c.rowsCopied} of ${c.rowsTotal ?? '?'} rows` };
    });
    // 100 % means a finished scan, not a copied count that reached an estimated total
    const ok = (p: (typeof per)[number]) => p.done || (min < 100 && p.pct >= min);
    const low = per.reduce((a, p) => Math.min(a, p.pct), 100);
    const bad = per.filter((p) => !ok(p));
    return {
      gate: 'backfill',
      figure: fmtPct(low),
      threshold,
      pass: bad.length === 0,
      reason: bad.length
        ? `backfill not complete: ${bad.map((p) => `${p.name} ${fmtPct(p.pct)} (${p.note})`).join(', ')}; run tandem backfill`
        : `${plural(per.length, 'entity')} copied (checkpoints done)`,
    };
  } catch (e) {
    return unreadable('backfill', threshold, e);
  }
}

async function lagGate(gate: string, store: Store, max: number, what: string): Promise<GateResult> {
  const threshold = `< ${fmtSec(max)}`;
  try {
    if (!(await controlSchemaVersion(store)))
      return {
        gate,
        figure: '?',
        threshold,
        pass: false,
        reason: `no outbox in ${store.url}: changes are not captured there yet (dual writes, tandem run)`,
      };
    const { pending, oldestMs } = await outboxLag(store);
    const s = oldestMs / 1000;
    return {
      gate,
      figure: fmtSec(s),
      threshold,
      pass: s < max,
      reason:
        s < max
          ? `${plural(pending, 'change')} waiting in the ${what} outbox`
          : `the oldest of ${plural(pending, 'change')} in the ${what} outbox waits for ${fmtSec(s)}; is the relay running (tandem run)?`,
    };
  } catch (e) {
    return unreadable(gate, threshold, e);
  }
}

async function deadLettersGate(gate: string, control: Store, max: number): Promise<GateResult> {
  const threshold = `≤ ${max}`;
  try {
    const n = await deadLetterCount(control);
    return {
      gate,
      figure: String(n),
      threshold,
      pass: n <= max,
      reason:
        n <= max
          ? `${plural(n, 'dead letter')}`
          : `${plural(n, 'dead letter')} not delivered: repair them (tandem repair) or see tandem status`,
    };
  } catch (e) {
    return unreadable(gate, threshold, e);
  }
}

async function parityGate(m: Migration, now: number): Promise<GateResult> {
  const g = m.config.gates;
  const threshold = `≥ ${fmtPct(g.minParityPercent)}, full/checksum < ${g.verifyMaxAgeHours} h old`;
  try {
    const last = await readLastVerify(m.stores.control, m.entityNames);
    const problems: string[] = [];
    let low = 100;
    for (const name of m.entityNames) {
      const v = last.get(name);
      if (!v) {
        problems.push(`${name}: never verified`);
        low = 0;
        continue;
      }
      const at = storedMs(v.at);
      const ageH = at === null ? Number.POSITIVE_INFINITY : (now - at) / 3_600_000;
      if (v.mode !== 'full' && v.mode !== 'checksum') {
        problems.push(
          `${name}: the last verification is ${v.mode}, and a ${v.mode} verification is not proof (it does not compare every row); run tandem verify --mode checksum`,
        );
        low = Math.min(low, v.parity ?? 0);
        continue;
      }
      if (v.parity === null) {
        problems.push(`${name}: the ${v.mode} verification gave no parity`);
        low = 0;
        continue;
      }
      low = Math.min(low, v.parity);
      if (ageH >= g.verifyMaxAgeHours)
        problems.push(`${name}: the ${v.mode} verification is ${Number(ageH.toFixed(1))} h old`);
      if (v.parity < g.minParityPercent)
        problems.push(`${name}: parity ${fmtPct(v.parity)} (${plural(v.differences, 'difference')})`);
    }
    return {
      gate: 'parity',
      figure: fmtPct(low),
      threshold,
      pass: problems.length === 0,
      reason: problems.length
        ? problems.join('; ')
        : `lowest parity of ${plural(m.entityNames.length, 'entity')}, each by a full or checksum verification`,
    };
  } catch (e) {
    return unreadable('parity', threshold, e);
  }
}

async function mismatchGate(m: Migration): Promise<GateResult> {
  const g = m.config.gates;
  const threshold = `< ${fmtRate(g.maxMismatchRate)} over ≥ ${g.minSamples}`;
  try {
    const c = await readShadowCounts(m.stores.control);
    const rate = c.compared ? c.mismatched / c.compared : 0;
    const enough = c.compared >= g.minSamples;
    const pass = enough && rate < g.maxMismatchRate;
    return {
      gate: 'shadow_mismatch',
      figure: `${fmtRate(rate)} of ${c.compared}`,
      threshold,
      pass,
      reason: !enough
        ? `too few samples: ${c.compared} shadow comparisons in the last 5 minutes < minSamples ${g.minSamples} (raise tandem shadow N, or wait)`
        : pass
          ? `${c.mismatched} mismatched of ${c.compared} compared (last 5 minutes)`
          : `${c.mismatched} mismatched of ${c.compared} compared (last 5 minutes): see tandem status, repair, verify`,
    };
  } catch (e) {
    return unreadable('shadow_mismatch', threshold, e);
  }
}

/** Seconds the canary must have stayed at 100 % with the guard green before write cutover. */
export function dwellSecondsOf(m: Migration): number {
  return m.config.gates.dwellSeconds ?? m.config.guard.windowSeconds;
}

async function guardGate(m: Migration, now: number): Promise<GateResult> {
  const control = m.stores.control;
  const dwell = dwellSecondsOf(m);
  const threshold = `green, canary 100 % for ≥ ${dwell} s`;
  try {
    const snap = await readRoutingSnapshot(control);
    const r = await control.query<{ updated_at: unknown }>(
      `SELECT updated_at FROM ${control.controlTable('state')} WHERE name = ${control.sql.param(1)}`,
      [ROUTING_STATE_ROWS.canaryPercent],
    );
    const since = storedMs(r[0]?.updated_at);
    const heldS = since === null ? 0 : Math.max(0, (now - since) / 1000);
    const fail = (figure: string, reason: string): GateResult => ({
      gate: 'guard',
      figure,
      threshold,
      pass: false,
      reason,
    });
    if (snap.killed) return fail('killed', 'the kill switch is on (tandem unkill)');
    if (snap.guard?.state === 'tripped')
      return fail('tripped', `the guard tripped: ${snap.guard.reason ?? 'no reason given'}`);
    if (snap.canaryPercent < 100)
      return fail(
        `canary ${snap.canaryPercent} %`,
        `the last canary step is 100 %; the canary is at ${snap.canaryPercent} % (tandem canary 100)`,
      );
    if (heldS < dwell)
      return fail(
        `${fmtSec(heldS)} at 100 %`,
        `the canary has been at 100 % for ${fmtSec(heldS)}, less than the dwell of ${dwell} s`,
      );
    // the guard's own judgement of the fleet's reads of new over the dwell (read only: no verdict is written)
    const windows = await readFleetWindows(control, { windowSeconds: dwell });
    const j = judgeWindows(windows, m.config.guard);
    if (j.state !== 'green')
      return fail(j.state, `${j.state === 'tripped' ? 'breach' : 'no verdict'} over the last ${dwell} s: ${j.reason}`);
    const reads = j.figures.reduce((n, f) => n + f.reads, 0);
    return {
      gate: 'guard',
      figure: 'green',
      threshold,
      pass: true,
      reason: `green over ${reads} reads of new in the last ${dwell} s; canary 100 % for ${fmtSec(heldS)}`,
    };
  } catch (e) {
    return unreadable('guard', threshold, e);
  }
}

async function rehearsalGate(m: Migration, now: number): Promise<GateResult> {
  const maxDays = m.config.gates.rehearsalMaxAgeDays;
  const threshold = `passed, < ${maxDays} d old`;
  try {
    const r = await readRehearsal(m.stores.control);
    if (!r)
      return {
        gate: 'rehearsal',
        figure: 'none',
        threshold,
        pass: false,
        reason: 'no rehearsal ran: run tandem rehearse on staging',
      };
    const at = storedMs(r.at);
    const days = at === null ? Number.POSITIVE_INFINITY : (now - at) / 86_400_000;
    const figure = `${r.passed ? 'passed' : 'failed'}, ${Number.isFinite(days) ? Number(days.toFixed(1)) : '?'} d old`;
    if (!r.passed)
      return {
        gate: 'rehearsal',
        figure,
        threshold,
        pass: false,
        reason: `the last rehearsal failed: ${r.reason ?? 'no reason given'}`,
      };
    if (days >= maxDays)
      return {
        gate: 'rehearsal',
        figure,
        threshold,
        pass: false,
        reason: `the last passing rehearsal (${r.at}) is older than ${maxDays} days: rehearse again`,
      };
    return {
      gate: 'rehearsal',
      figure,
      threshold,
      pass: true,
      reason: `${r.lostWrites} lost of ${r.committedWrites} writes; rollback RTO ${r.rollbackRtoSeconds} s; cutover pause max ${r.cutover.maxMs} ms`,
    };
  } catch (e) {
    return unreadable('rehearsal', threshold, e);
  }
}

function phaseGate(current: Phase, must: Phase): GateResult {
  const pass = current === must;
  return {
    gate: 'phase',
    figure: current,
    threshold: `= ${must}`,
    pass,
    reason: pass ? `the phase is ${must}` : `the phase is ${current}; this step follows ${must}`,
  };
}

async function archiveGate(m: Migration): Promise<GateResult> {
  const threshold = 'verified, live tables compared';
  try {
    const a = await readArchiveRecord(m.stores.control);
    if (!a)
      return {
        gate: 'archive',
        figure: 'none',
        threshold,
        pass: false,
        reason:
          'TANDEM_ERR_ARCHIVE_UNVERIFIED: no verified archive (tandem archive --out DIR, then tandem archive verify DIR)',
      };
    const tables = new Set(a.tables);
    const missing = m.entities.length
      ? [...new Set(m.entities.map((e) => e.source.name))].filter((t) => !tables.has(t))
      : [];
    const figure = `${plural(a.tables.length, 'table')}, ${a.verifiedAt}`;
    if (!a.live)
      return {
        gate: 'archive',
        figure,
        threshold,
        pass: false,
        reason: `the archive ${a.dir} was verified without the live tables (--no-live); verify it again with the legacy store reachable`,
      };
    if (missing.length)
      return {
        gate: 'archive',
        figure,
        threshold,
        pass: false,
        reason: `the archive ${a.dir} does not hold ${missing.join(', ')}`,
      };
    return {
      gate: 'archive',
      figure,
      threshold,
      pass: true,
      reason: `${a.dir} (manifest sha256 ${a.manifestChecksum.slice(0, 16)}…) verified`,
    };
  } catch (e) {
    return unreadable('archive', threshold, e);
  }
}

/**
 * The gates of moving `m` to phase `to`, each with its figure, threshold and verdict (config `gates`; see the
 * table at the top of this module). Reads only: the checkpoints (new store), the outbox of the primary of the
 * phase the gate is about (legacy's for `shadow`/`canary`/`new_primary`, new's for `legacy_read_only`), dead
 * letters, the last verifications, the fleet's shadow counts and read windows, the routing state, the rehearsal
 * record and the archive record (control store). A figure that cannot be read fails its gate with the reason;
 * it never throws for that. Returns `[]` for `prepare`, `dual_write` and for a phase behind the current one.
 */
export async function checkGates(m: Migration, to: Phase, o: CheckGatesOptions = {}): Promise<GateResult[]> {
  const now = o.now ?? Date.now();
  const names = gatesOf(to);
  if (!names.length) return [];
  const control = m.stores.control;
  const current = await readPhase(control).catch(() => 'prepare' as Phase);
  if (PHASES.indexOf(to) < PHASES.indexOf(current)) return [];
  const g = m.config.gates;
  const out: GateResult[] = [];
  for (const name of names) {
    switch (name) {
      case 'backfill':
        out.push(await backfillGate(m));
        break;
      case 'relay_lag':
        out.push(await lagGate('relay_lag', m.stores.legacy, g.maxLagSeconds, 'forward (legacy)'));
        break;
      case 'dead_letters':
        out.push(await deadLettersGate('dead_letters', control, g.maxDeadLetters));
        break;
      case 'parity':
        out.push(await parityGate(m, now));
        break;
      case 'shadow_mismatch':
        out.push(await mismatchGate(m));
        break;
      case 'guard':
        out.push(await guardGate(m, now));
        break;
      case 'rehearsal':
        out.push(await rehearsalGate(m, now));
        break;
      case 'phase':
        out.push(phaseGate(current, to === 'legacy_read_only' ? 'new_primary' : 'legacy_read_only'));
        break;
      case 'reverse_lag':
        out.push(await lagGate('reverse_lag', m.stores.new, g.maxLagSeconds, 'reverse (new)'));
        break;
      case 'reverse_dead_letters':
        // the dead-letter table does not tell directions apart: every dead letter blocks retiring legacy
        out.push(await deadLettersGate('reverse_dead_letters', control, 0));
        break;
      case 'archive':
        out.push(await archiveGate(m));
        break;
    }
  }
  return out;
}

/** The failing gates of a list. */
export function failingGates(gates: GateResult[]): GateResult[] {
  return gates.filter((x) => !x.pass);
}

/** The gates as an aligned table (columns gate, figure, threshold, pass/fail, reason), one string per line. */
export function gateTable(gates: GateResult[]): string[] {
  const head = ['gate', 'figure', 'threshold', 'result', 'reason'];
  const rows = gates.map((x) => [x.gate, x.figure, x.threshold, x.pass ? 'pass' : 'FAIL', x.reason]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

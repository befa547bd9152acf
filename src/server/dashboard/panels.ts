/**
 * The dashboard's live panels (`GET /ui/live`), rendered on the server from one read of everything: the phase and
 * the road ahead with the next phase's gates; per entity a progress bar with rows/s, ETA and throttle reason; the
 * relay's lag and dead letters; parity and verification freshness; routing shares and the guard's windows as SVG
 * charts with their thresholds; the recent mismatches with their differing columns; the audit log. A panel whose
 * figures cannot be read shows why, and the others still render. Nothing here prints a row value, a secret or a
 * token: keys go through `shownKeyOf`, texts are the ones the status model and the audit log already redacted.
 */
import { readBackfillControl, type BackfillControl } from '../../control/backfill-control.js';
import { nextPhase, PHASES, type Phase } from '../../control/phase.js';
import { errorLine } from '../../core/errors.js';
import { checkGates, gatesOf } from '../../cutover/gates.js';
import type { GateResult } from '../../cutover/types.js';
import { judgeWindows, type GuardJudgement } from '../../routing/guard.js';
import { readFleetWindows } from '../../routing/stats.js';
import type { Migration } from '../../runtime/migration.js';
import { type EntityStatus, type MigrationStatus, readMigrationStatus } from '../../runtime/status.js';
import { shareBar, sparkline } from './charts.js';
import {
  type GuardSeries,
  readGuardSeries,
  recentAuditEntries,
  recentMismatches,
  type ShownMismatch,
  shownKeyOf,
} from './data.js';
import { type Html, html, type Part } from './html.js';

/** A read that may fail: its value, or the error line of why it could not be read. */
export type Maybe<T> = { ok: true; value: T } | { ok: false; error: string };

async function attempt<T>(f: () => Promise<T>): Promise<Maybe<T>> {
  try {
    return { ok: true, value: await f() };
  } catch (e) {
    return { ok: false, error: errorLine(e) };
  }
}

/** Everything the live panels show, read once per refresh. */
export interface LiveData {
  status: Maybe<MigrationStatus>;
  /** The phase the gates are about (the next one), and the gates. */
  gates: Maybe<{ to: Phase | null; results: GateResult[] }>;
  control: Maybe<BackfillControl>;
  series: Maybe<GuardSeries>;
  judgement: Maybe<GuardJudgement>;
  mismatches: Maybe<ShownMismatch[]>;
  audit: Maybe<Awaited<ReturnType<typeof recentAuditEntries>>>;
}

/** The span of the guard's charts, seconds: ten guard windows, between one and fifteen minutes (the retention). */
export function chartSpanSeconds(m: Migration): number {
  return Math.min(900, Math.max(60, m.config.guard.windowSeconds * 10));
}

/** Reads what the panels show. Never throws: a part that fails carries its error line. */
export async function readLive(m: Migration): Promise<LiveData> {
  const status = await attempt(() => readMigrationStatus(m));
  const phase = status.ok ? status.value.phase : null;
  const to = phase ? nextPhase(phase) : null;
  return {
    status,
    gates: await attempt(async () => ({ to, results: to ? await checkGates(m, to) : [] })),
    control: await attempt(() => readBackfillControl(m.stores.control)),
    series: await attempt(() => readGuardSeries(m, chartSpanSeconds(m))),
    judgement: await attempt(async () =>
      judgeWindows(await readFleetWindows(m.stores.control, { windowSeconds: m.config.guard.windowSeconds }), {
        ...m.config.guard,
      }),
    ),
    mismatches: await attempt(() => recentMismatches(m, 10)),
    audit: await attempt(() => recentAuditEntries(m, 15)),
  };
}

// ---- formatting -------------------------------------------------------------------------------------------------

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (x: number, digits = 2) => `${Number(x.toFixed(digits))} %`;
const ratePct = (x: number | null) => (x === null ? '–' : `${Number((x * 100).toPrecision(3))} %`);
const msText = (x: number | null) => (x === null ? '–' : `${x >= 100 ? Math.round(x) : Number(x.toPrecision(3))} ms`);

/** `1 h 02 min`, `3 min 05 s`, `42 s`. */
export function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

const ago = (iso: string | null | undefined, now = Date.now()) => {
  const t = iso ? Date.parse(iso) : Number.NaN;
  return Number.isFinite(t) ? `${duration((now - t) / 1000)} ago` : '–';
};

/** A stored timestamp (ISO text or a dialect's `YYYY-MM-DD hh:mm:ss`, UTC) as ISO, or null. */
function isoOf(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return Number.isFinite(v.getTime()) ? v.toISOString() : null;
  let s = String(v).trim().replace(' ', 'T');
  if (/[+-]\d\d$/.test(s)) s += ':00';
  else if (!/(?:[zZ]|[+-]\d\d:?\d\d)$/.test(s)) s += 'Z';
  const t = Date.parse(s);
  return Number.isFinite(t) ? new Date(t).toISOString() : null;
}

const panelError = (what: string, error: string) =>
  html`<p class="panel-error small">${what} cannot be read: ${error}</p>`;

const card = (id: string, title: string, body: Html | Html[], wide = false) =>
  html`<section class="card${wide ? ' wide' : ''}" id="${id}"><h2>${title}</h2>${body}</section>`;

/** A table cell: its content, or `[content, class, data-field]`. */
type Cell = Part | [Part, string, string?];

/** One row: its cells and the attributes of its `<tr>` (e.g. `data-gate`). */
interface Row {
  attrs?: Record<string, string>;
  cells: Cell[];
}

/**
 * A table whose cells carry their column's name (`data-label`): on a phone each row stacks into label: value
 * lines (the CSS of assets.ts). A head ending in `#` is a number column (right-aligned).
 */
export function dataTable(cls: string, heads: string[], rows: readonly Row[]): Html {
  const cols = heads.map((h) => ({ label: h.replace(/#$/, ''), num: h.endsWith('#') }));
  const tr = (r: Row) => {
    const attrs = Object.entries(r.attrs ?? {}).map(([k, v]) => html` ${k}="${v}"`);
    const tds = r.cells.map((c, i) => {
      const [v, extra, field] =
        Array.isArray(c) && c.length >= 2 && typeof c[1] === 'string'
          ? (c as [Part, string, string?])
          : [c as Part, '', undefined];
      const klass = [cols[i]?.num ? 'num' : '', extra].filter(Boolean).join(' ');
      return html`<td data-label="${cols[i]?.label ?? ''}"${klass ? html` class="${klass}"` : ''}${field ? html` data-field="${field}"` : ''}>${v}</td>`;
    });
    return html`<tr${attrs}>${tds}</tr>`;
  };
  return html`<div class="scroll"><table class="stack ${cls}"><thead><tr>${cols.map((c) => html`<th${c.num ? html` class="num"` : ''}>${c.label}</th>`)}</tr></thead><tbody>${rows.map(tr)}</tbody></table></div>`;
}

// ---- panels -----------------------------------------------------------------------------------------------------

/** A gate table (gate, figure, threshold, verdict, reason). */
export function gateTable(results: readonly GateResult[]): Html {
  if (!results.length) return html`<p class="muted small">No gates on this step.</p>`;
  return dataTable(
    'gates',
    ['gate', 'figure', 'threshold', 'verdict', 'reason'],
    results.map((g) => ({
      attrs: { 'data-gate': g.gate },
      cells: [g.gate, g.figure, g.threshold, [g.pass ? 'pass' : 'FAIL', g.pass ? 'pass' : 'fail'], [g.reason, 'small']],
    })),
  );
}

function roadPanel(d: LiveData): Html {
  if (!d.status.ok) return card('road', 'Phase', panelError('the status', d.status.error), true);
  const s = d.status.value;
  const at = PHASES.indexOf(s.phase);
  const road = html`<ol class="road" aria-label="the road">${PHASES.map((p, i) => {
    const cls = i < at ? 'done' : i === at ? 'current' : i === at + 1 ? 'next' : 'ahead';
    const gates = i > at ? gatesOf(p) : [];
    return html`<li class="${cls}" data-phase="${p}" title="${gates.length ? `gates: ${gates.join(', ')}` : 'no gates'}">${p}</li>`;
  })}</ol>`;
  const killed = s.routing.killed
    ? html`<p class="banner" id="killed-banner">Kill switch on: every read goes to legacy (unkill to route again).</p>`
    : null;
  let gates: Html;
  if (!d.gates.ok) gates = panelError('the gates', d.gates.error);
  else if (!d.gates.value.to) gates = html`<p class="muted small">The last phase: nothing ahead.</p>`;
  else {
    const g = d.gates.value;
    const failing = g.results.filter((r) => !r.pass).length;
    gates = html`<h3 class="small">Gates of <b>${g.to}</b>: ${
      g.results.length
        ? failing
          ? html`<span class="fail">${failing} of ${g.results.length} failing</span>`
          : html`<span class="pass">all ${g.results.length} pass</span>`
        : 'none'
    }</h3>${gateTable(g.results)}`;
  }
  return card(
    'road',
    'Phase and the road ahead',
    html`${killed}<p>Phase <span class="pill" id="phase">${s.phase}</span> <span class="muted small">writes to ${s.relay.primary}; relay ${s.relay.direction}</span></p>${road}${gates}`,
    true,
  );
}

function entityRow(e: EntityStatus): Html {
  const b = e.backfill;
  const total = b.total ?? 0;
  const max = b.state === 'done' ? Math.max(1, b.copied, total) : Math.max(1, total, b.copied);
  const value = b.state === 'done' ? max : b.copied;
  const percent = b.state === 'done' ? 100 : total ? Math.min(100, (b.copied / total) * 100) : null;
  const t = b.throttle;
  // held (paused, flag file, replica lag, throttle query): the average rate and its ETA say nothing until it goes on
  const held = t !== null && t !== undefined && t.reason !== 'rate';
  const stateCls =
    b.state === 'done' ? 'green' : b.state === 'failed' ? 'tripped' : b.state === 'paused' ? 'paused' : '';
  return html`<div class="entity" data-entity="${e.name}">
<div class="top"><span class="name">${e.name}</span><span class="pill ${stateCls}" data-field="state">${b.state}</span>${
    t
      ? html`<span class="warn small" data-field="throttle">throttled: ${t.reason}${t.detail ? html` — ${t.detail}` : ''} <span class="muted">(${ago(t.since)})</span></span>`
      : html`<span class="muted small" data-field="throttle">not throttled</span>`
  }</div>
<progress max="${max}" value="${value}" data-copied="${b.copied}" aria-label="${e.name} backfill">${percent === null ? '' : pct(percent, 1)}</progress>
<div class="figs"><span><b data-field="copied">${int(b.copied)}</b> of <b>${b.total === null ? '?' : int(b.total)}</b> rows${percent === null ? '' : html` (<b data-field="percent">${pct(percent, 1)}</b>)`}</span><span><b data-field="rate">${b.rowsPerSecond === null ? '–' : int(b.rowsPerSecond)}</b> rows/s</span><span>ETA <b data-field="eta">${held ? 'held' : duration(b.etaSeconds)}</b></span>${
    b.holder?.host ? html`<span>by ${b.holder.host}${b.holder.pid ? `:${b.holder.pid}` : ''}</span>` : null
  }</div>
</div>`;
}

function controlLine(c: BackfillControl | null): Html {
  if (!c) return html``;
  return html`<p class="small muted" id="backfill-control">Operator control: ${
    c.paused ? html`<span class="pill paused">paused</span>` : html`<span class="pill">running</span>`
  } · rate limit ${c.maxRowsPerSecond === null ? 'not tuned' : `${int(c.maxRowsPerSecond)} rows/s`} · chunk ${
    c.chunkSeconds === null ? 'not tuned' : `${c.chunkSeconds} s`
  }</p>`;
}

function backfillPanel(d: LiveData): Html {
  if (!d.status.ok) return card('backfill', 'Backfill', panelError('the status', d.status.error));
  const s = d.status.value;
  const control = s.entities[0]?.backfill.control ?? (d.control.ok ? d.control.value : null);
  return card(
    'backfill',
    'Backfill',
    html`${controlLine(control)}${s.entities.length ? s.entities.map(entityRow) : html`<p class="muted">No entities.</p>`}`,
  );
}

function relayPanel(d: LiveData, m: Migration): Html {
  if (!d.status.ok) return card('relay', 'Relay', panelError('the status', d.status.error));
  const s = d.status.value;
  const r = s.relay;
  const lagBad = r.lagSeconds !== null && r.lagSeconds >= m.config.gates.maxLagSeconds;
  const dead = s.deadLetters.recent;
  return card(
    'relay',
    'Relay',
    html`<div class="figs"><span>direction <b>${r.direction}</b> (primary ${r.primary})</span><span>pending <b data-field="pending">${r.pending === null ? '?' : int(r.pending)}</b></span><span>lag <b class="${lagBad ? 'fail' : ''}" data-field="lag">${r.lagSeconds === null ? '?' : `${r.lagSeconds} s`}</b> <span class="muted">(gate &lt; ${m.config.gates.maxLagSeconds} s)</span></span><span>dead letters <b class="${r.deadLetters > m.config.gates.maxDeadLetters ? 'fail' : ''}" data-field="dead-letters">${int(r.deadLetters)}</b></span></div>${
      dead.length
        ? dataTable(
            'dead-letters',
            ['entity', 'key', 'attempts#', 'reason', 'dead since'],
            dead.map((x) => ({
              cells: [
                x.entity,
                html`<code>${shownKeyOf(m, x.entity, x.key)}</code>`,
                x.attempts,
                [x.reason, 'small'],
                [ago(isoOf(x.deadAt)), 'small'],
              ],
            })),
          )
        : html`<p class="muted small">No dead letters.</p>`
    }`,
  );
}

function verifyPanel(d: LiveData, m: Migration): Html {
  if (!d.status.ok) return card('verify', 'Parity and verification', panelError('the status', d.status.error));
  const g = m.config.gates;
  const now = Date.now();
  const rows: Row[] = d.status.value.entities.map((e) => {
    const v = e.verify;
    if (!v) return { attrs: { 'data-entity': e.name }, cells: [e.name, '–', 'never verified', '', ['no', 'fail']] };
    const at = isoOf(v.at);
    const ageH = at ? (now - Date.parse(at)) / 3_600_000 : Number.POSITIVE_INFINITY;
    const proof = v.mode === 'full' || v.mode === 'checksum';
    const fresh = proof && ageH < g.verifyMaxAgeHours;
    const parityOk = v.parity !== null && v.parity >= g.minParityPercent;
    return {
      attrs: { 'data-entity': e.name },
      cells: [
        e.name,
        [v.parity === null ? '–' : pct(v.parity, 3), parityOk ? 'pass' : 'fail', 'parity'],
        `${v.mode}, ${int(v.differences)} differences`,
        [ago(at, now), 'small'],
        [fresh ? 'yes' : proof ? 'stale' : 'not proof', fresh ? 'pass' : 'fail'],
      ],
    };
  });
  return card(
    'verify',
    'Parity and verification',
    html`${dataTable('verify', ['entity', 'parity#', 'last verification', 'when', 'fresh'], rows)}<p class="muted small">Gate: parity ≥ ${pct(g.minParityPercent, 3)} by a full or checksum verification less than ${g.verifyMaxAgeHours} h old.</p>`,
  );
}

function guardPanel(d: LiveData, m: Migration): Html {
  if (!d.status.ok) return card('routing', 'Routing and guard', panelError('the status', d.status.error), true);
  const r = d.status.value.routing;
  const t = m.config.guard;
  const shares = shareBar(
    [
      { label: 'canary (served by new)', percent: r.canaryPercent, cls: 'canary' },
      { label: 'shadow (new read and compared)', percent: r.shadowPercent, cls: 'shadow' },
    ],
    `routing: canary ${r.canaryPercent} %, shadow ${r.shadowPercent} %`,
  );
  const head = html`<div class="figs"><span>canary <b data-field="canary">${r.canaryPercent} %</b></span><span>shadow <b data-field="shadow">${r.shadowPercent} %</b></span><span>kill switch <b data-field="killed" class="${r.killed ? 'fail' : ''}">${r.killed ? 'on' : 'off'}</b></span><span>guard <span class="pill ${r.guard.state}" data-field="guard">${r.guard.state}</span></span><span>shadow comparisons <b>${int(r.shadow.compared)}</b>, mismatched <b>${int(r.shadow.mismatched)}</b></span></div>${shares}${
    r.guard.reason
      ? html`<p class="small ${r.guard.state === 'tripped' ? 'fail' : 'muted'}" id="guard-reason">${r.guard.reason}</p>`
      : null
  }`;
  let charts: Html;
  if (!d.series.ok) charts = panelError("the guard's windows", d.series.error);
  else {
    const s = d.series.value;
    const span = duration(s.spanSeconds);
    const chart = (title: string, values: (number | null)[], threshold: number | null, now: string, minTop: number) =>
      html`<div class="chart"><h3>${title} <span class="muted">now ${now}</span></h3>${sparkline(values, {
        label: `${title}, last ${span}${threshold === null ? '' : `, threshold ${threshold}`}`,
        threshold,
        minTop,
      })}</div>`;
    charts = html`${(['new', 'legacy'] as const).map((origin) => {
      const pts = s.byOrigin[origin];
      const tot = s.total[origin];
      const judged = origin === 'new';
      return html`<h3 class="small">Reads of <b>${origin}</b>: ${int(tot.reads)} in the last ${span}${
        judged
          ? html` <span class="muted">(judged by the guard)</span>`
          : html` <span class="muted">(for comparison; not judged)</span>`
      }</h3><div class="charts" data-origin="${origin}">${chart(
        `error rate (${origin})`,
        pts.map((p) => (p.errorRate === null ? null : p.errorRate * 100)),
        judged ? t.maxErrorRate * 100 : null,
        ratePct(tot.errorRate),
        1,
      )}${chart(
        `p99 latency ms (${origin})`,
        pts.map((p) => p.p99Ms),
        judged ? t.maxP99Ms : null,
        msText(tot.p99Ms),
        1,
      )}${chart(
        `mismatch rate (${origin})`,
        pts.map((p) => (p.mismatchRate === null ? null : p.mismatchRate * 100)),
        judged ? t.maxMismatchRate * 100 : null,
        ratePct(tot.mismatchRate),
        0.5,
      )}</div>`;
    })}<p class="muted small">Thresholds (dashed): error rate ${ratePct(t.maxErrorRate)}, p99 ${msText(t.maxP99Ms)}, mismatch rate ${ratePct(t.maxMismatchRate)} (95 % Wilson lower bound); at least ${int(t.minSamples)} reads in ${t.windowSeconds} s for a verdict.</p>`;
  }
  let verdicts: Html = html``;
  if (d.judgement.ok && d.judgement.value.figures.length)
    verdicts = dataTable(
      'guard-figures',
      [`entity (new, last ${t.windowSeconds} s)`, 'reads#', 'error rate#', 'p99#', 'mismatch ≥#', 'enough'],
      d.judgement.value.figures.map((f) => ({
        cells: [
          f.entity,
          int(f.reads),
          [ratePct(f.errorRate), f.sufficient && f.errorRate > t.maxErrorRate ? 'fail' : ''],
          [msText(f.p99Ms), f.sufficient && f.p99Ms !== null && f.p99Ms > t.maxP99Ms ? 'fail' : ''],
          ratePct(f.mismatchLowerBound),
          f.sufficient ? 'yes' : 'no',
        ],
      })),
    );
  return card('routing', 'Routing and guard', html`${head}${charts}${verdicts}`, true);
}

function mismatchPanel(d: LiveData): Html {
  if (!d.mismatches.ok)
    return card('mismatches', 'Recent mismatches', panelError('the mismatches', d.mismatches.error));
  const list = d.mismatches.value;
  return card(
    'mismatches',
    'Recent mismatches',
    list.length
      ? html`${dataTable(
          'mismatches',
          ['entity', 'key', 'kind', 'columns differing', 'state', 'found by', 'last seen'],
          list.map((x) => ({
            cells: [
              x.entity,
              html`<code>${x.key}</code>`,
              x.kind,
              [x.columns.length ? x.columns.join(', ') : '–', 'small'],
              x.state,
              x.origin,
              [Number.isFinite(x.lastSeenMs) ? ago(new Date(x.lastSeenMs).toISOString()) : '–', 'small'],
            ],
          })),
        )}<p class="muted small">Column names only: values are never shown.</p>`
      : html`<p class="muted small">No mismatches recorded.</p>`,
  );
}

function auditPanel(d: LiveData): Html {
  if (!d.audit.ok) return card('audit', 'Audit log', panelError('the audit log', d.audit.error), true);
  const list = d.audit.value;
  return card(
    'audit',
    'Audit log',
    list.length
      ? dataTable(
          'audit',
          ['when (UTC)', 'who', 'command', 'outcome', 'detail'],
          list.map((a) => ({
            cells: [
              [isoOf(a.at)?.replace('T', ' ').slice(0, 19) ?? String(a.at), 'small'],
              a.actor,
              a.command,
              [a.outcome, a.outcome === 'ok' ? 'pass' : a.outcome === 'error' || a.outcome === 'tripped' ? 'fail' : ''],
              [a.detail ?? '', 'small'],
            ],
          })),
        )
      : html`<p class="muted small">Nothing audited yet.</p>`,
    true,
  );
}

/** The live region: every panel, in reading order. */
export function livePanels(d: LiveData, m: Migration): Html {
  const updated = d.status.ok ? d.status.value.updatedAt : new Date().toISOString();
  return html`<div class="grid">${roadPanel(d)}${backfillPanel(d)}${relayPanel(d, m)}${verifyPanel(d, m)}${mismatchPanel(d)}${guardPanel(d, m)}${auditPanel(d)}</div><p class="muted small" id="updated">Updated ${updated.replace('T', ' ').slice(0, 19)} UTC · every 2 s</p>`;
}

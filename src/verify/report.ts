import type { EntityChecksumResult } from './checksum.js';
import type { CycleReport } from './continuous.js';
import { floorPercent, partialLine } from './headline.js';
import type { EntityQuickResult } from './quick.js';
import type { VerifyReport } from './run.js';
import type { EntitySampleResult } from './sample.js';
import type { EntityVerifyResult, VerifyResult } from './verify.js';

/** Parity as text with three decimals, never rounding a shortfall up to 100. */
export function formatParity(p: number): string {
  const t = (Math.floor(p * 1000) / 1000).toFixed(3);
  return `${t}%`;
}

/**
 * The parity cell of an entity: its parity when it was compared to the end; `… so far` when a budget or a
 * signal stopped it (a figure, not a conclusion); `not compared` when it never started.
 */
function parityCell(e: { parity: number; sourceRows: number; complete?: boolean }): string {
  if (e.complete !== false) return formatParity(e.parity);
  return e.sourceRows === 0 ? 'not compared' : `${formatParity(e.parity)} so far`;
}

/**
 * The closing line of a full verification without a headline of its own: "match" only when it ran to the end
 * (`complete` not false) and found nothing.
 */
function fullClosing(r: VerifyResult & { complete?: boolean }): string {
  if (r.complete === false) {
    const compared = r.entities.reduce((s, e) => s + e.sourceRows, 0);
    return partialLine(
      compared,
      null,
      r.entities.reduce((s, e) => s + e.missing + e.extra + e.different, 0),
    );
  }
  return r.ok ? 'parity: 100% — source and target match' : 'parity: differences found';
}

/**
 * The human report of a verification: a table per entity (source rows, target rows, missing, extra,
 * different, parity, seconds), then the first differing keys with the columns that differ, then the headline
 * (`r.headline`, or: "match" only for a complete run without differences, `partial: …` for a stopped one).
 */
export function formatVerifyReport(r: VerifyResult & { complete?: boolean; headline?: string }): string {
  const head = ['entity', 'source rows', 'target rows', 'missing', 'extra', 'different', 'parity', 'time'];
  const rows = r.entities.map((e) =>
    [
      e.entity,
      e.sourceRows,
      e.targetRows,
      e.missing,
      e.extra,
      e.different,
      parityCell(e as EntityVerifyResult & { complete?: boolean }),
      `${e.seconds.toFixed(1)}s`,
    ].map((v) => (typeof v === 'number' ? v.toLocaleString('en-US') : v)),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map((row) => line(row.map(String)))];
  out.push(...skippedLines(r.entities));
  if (r.differences.length) {
    out.push('', `first ${r.differences.length} differing key${r.differences.length > 1 ? 's' : ''}:`);
    for (const d of r.differences) {
      if (d.kind !== 'different')
        out.push(
          `  ${d.entity} ${d.key}: ${d.kind === 'missing' ? 'missing in target' : 'extra in target (not in source)'}`,
        );
      else {
        out.push(`  ${d.entity} ${d.key}: ${d.columns.map((c) => `${c.table}.${c.column}`).join(', ')}`);
        for (const c of d.columns)
          out.push(
            `      ${c.table}.${c.column}: source=${JSON.stringify(c.source)} target=${JSON.stringify(c.target)}`,
          );
      }
    }
  }
  out.push('', r.headline ?? fullClosing(r));
  return out.join('\n');
}

const num = (v: number) => v.toLocaleString('en-US');

/** A right-aligned text table (first column left-aligned). */
function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map((row) => line(row))];
}

function differenceLines(differences: VerifyReport['differences']): string[] {
  if (!differences.length) return [];
  const out = ['', `first ${differences.length} differing key${differences.length > 1 ? 's' : ''}:`];
  for (const d of differences) {
    if (d.kind !== 'different')
      out.push(
        `  ${d.entity} ${d.key}: ${d.kind === 'missing' ? 'missing in target' : 'extra in target (not in source)'}`,
      );
    else {
      out.push(`  ${d.entity} ${d.key}: ${d.columns.map((c) => `${c.table}.${c.column}`).join(', ')}`);
      for (const c of d.columns)
        out.push(`      ${c.table}.${c.column}: source=${JSON.stringify(c.source)} target=${JSON.stringify(c.target)}`);
    }
  }
  return out;
}

/** What follows the headline: why the run proves less than parity, with the exit bits. */
function caveats(r: VerifyReport): string[] {
  const out: string[] = [];
  if (!r.complete) out.push('stopped early by a budget (--max-differences, --max-seconds) or SIGINT: exit code bit 4');
  if (!r.exhaustive)
    out.push(
      `not every row compared (--mode ${r.mode}): exit code bit 8; --mode full or --mode checksum compares every row`,
    );
  return out;
}

/**
 * The human report of any tier. `full` keeps the foundation's table exactly; `checksum` prints a
 * pt-table-checksum-like table per entity (rows, segments, differing segments, missing, extra, different,
 * parity, time, where each side ran); `sample` the sample sizes and the estimated parity; `quick` the
 * aggregates that differ. Then the first differing keys with their columns.
 */
export function formatReport(r: VerifyReport): string {
  // the default mode keeps the foundation's table whichever exhaustive mode it ran (scripts read it), then
  // says which mode ran and why
  if (r.mode === 'full' || (r.mode === 'checksum' && r.modeChosen === 'default')) {
    const text = formatVerifyReport({
      entities: r.entities as EntityVerifyResult[],
      differences: r.differences,
      ok: r.ok,
      complete: r.complete,
      headline: r.headline,
    });
    return [text, ...caveats(r), ...modeLines(r)].join('\n');
  }
  const out: string[] = [];
  if (r.mode === 'checksum') {
    const rows = (r.entities as EntityChecksumResult[]).map((e) => [
      e.entity,
      num(e.sourceRows),
      num(e.targetRows),
      num(e.segments),
      num(e.differingSegments),
      num(e.missing),
      num(e.extra),
      num(e.different),
      parityCell(e),
      `${e.seconds.toFixed(1)}s`,
      `${e.pushdown.source}/${[...new Set(Object.values(e.pushdown.targets))].join('+')}${e.complete ? '' : ' partial'}`,
    ]);
    out.push(
      ...table(
        [
          'entity',
          'source rows',
          'target rows',
          'segments',
          'diff segments',
          'missing',
          'extra',
          'different',
          'parity',
          'time',
          'source/target',
        ],
        rows,
      ),
    );
    const notes = (r.entities as EntityChecksumResult[]).flatMap((e) => [
      ...e.notes.map((n) => `  ${e.entity}: ${n}`),
      ...(e.transient
        ? [
            `  ${e.entity}: ${e.transient} range(s) differed by checksum but matched row by row (changed while verifying)`,
          ]
        : []),
    ]);
    if (notes.length) out.push('', 'notes:', ...notes);
    out.push(...skippedLines(r.entities as EntityChecksumResult[]));
  } else if (r.mode === 'sample') {
    const rows = (r.entities as EntitySampleResult[]).map((e) => [
      e.entity,
      num(e.sourceRows),
      num(e.sampled),
      num(e.sampledTarget),
      num(e.missing),
      num(e.extra),
      num(e.different),
      formatParity(e.parity),
      `≥ ${floorPercent(e.parityLowerBound)} %`,
      `${e.seconds.toFixed(1)}s`,
    ]);
    out.push(
      ...table(
        [
          'entity',
          'source rows',
          'sampled',
          'target sampled',
          'missing',
          'extra',
          'different',
          'sample parity',
          'parity (95% conf.)',
          'time',
        ],
        rows,
      ),
    );
  } else {
    const rows = (r.entities as EntityQuickResult[]).map((e) => [
      e.entity,
      num(e.sourceRows),
      num(e.targetRows),
      num(e.aggregates),
      num(e.differing.length),
      `${e.seconds.toFixed(1)}s`,
    ]);
    out.push(...table(['entity', 'source rows', 'target rows', 'aggregates', 'differing', 'time'], rows));
    if (r.aggregates.length) {
      out.push('', 'differing aggregates:');
      for (const a of r.aggregates)
        out.push(
          `  ${a.entity} ${a.table}.${a.column} ${a.aggregate}: source=${JSON.stringify(a.source)} target=${JSON.stringify(a.target)}`,
        );
    }
    const skipped = (r.entities as EntityQuickResult[]).filter((e) => e.skipped.length);
    if (skipped.length)
      out.push('', 'not aggregated:', ...skipped.map((e) => `  ${e.entity}: ${e.skipped.join(', ')}`));
  }
  out.push(...differenceLines(r.differences), '', r.headline, ...caveats(r));
  return out.join('\n');
}

/**
 * What the default mode adds to the report: the mode it ran and why (`mode: checksum (the default: …)`), and for
 * checksum the notes on what was streamed. Nothing when `--mode` named the mode.
 */
function modeLines(r: VerifyReport): string[] {
  if (r.modeChosen !== 'default') return [];
  const notes =
    r.mode === 'checksum'
      ? (r.entities as EntityChecksumResult[]).flatMap((e) => e.notes.map((n) => `  ${e.entity}: ${n}`))
      : [];
  return [`mode: ${r.mode} (${r.modeReason ?? 'the default'})`, ...(notes.length ? ['notes:', ...notes] : [])];
}

/**
 * One line per continuous cycle: parity per entity (only for an entity the pass compared to its last key; a
 * stopped one says `partial: compared N rows, K differences so far`), recent keys rechecked, mismatches by
 * state; a partial pass ends with its headline.
 */
export function formatCycle(c: CycleReport): string {
  const parts = c.pass.entities.map((e) => {
    const m = c.mismatches[e.entity];
    const recent = c.recent[e.entity];
    const state =
      e.mode === 'quick'
        ? 'parity -'
        : e.mode === 'sample'
          ? `sample parity ≥ ${floorPercent(e.parityLowerBound)} % (95 % confidence)`
          : e.complete
            ? `parity ${formatParity(e.parity)}`
            : `partial: compared ${num(e.sourceRows)} rows, ${num(e.missing + e.extra + e.different)} differences so far`;
    const o = c.origins?.[e.entity];
    // who found the open ones, when shadow reads found some
    const by = o?.shadow ? ` (open: verify ${o.verify}, shadow ${o.shadow})` : '';
    return `${e.entity} ${state}${recent?.checked ? `, recent ${recent.checked} rechecked (${recent.differing} differ)` : ''}, mismatches pending ${m?.pending ?? 0} confirmed ${m?.confirmed ?? 0} repaired ${m?.repaired ?? 0} resolved ${m?.resolved ?? 0}${by}`;
  });
  return `cycle ${c.cycle} ${c.startedAt} ${c.seconds.toFixed(1)}s${c.pass.complete ? '' : ' (partial)'}: ${parts.join('; ')}${c.pass.complete ? '' : ` — ${c.pass.headline}`}`;
}

/**
 * One line per entity whose mapping left source rows out (a transform returned SKIP): `users: skipped=3 …`.
 * Those rows are neither compared nor missing; rows an entity's `where` leaves out are not read, so not counted.
 */
export function skippedLines(entities: readonly { entity: string; skipped?: number }[]): string[] {
  return entities
    .filter((e) => (e.skipped ?? 0) > 0)
    .map(
      (e) =>
        `${e.entity}: skipped=${e.skipped} (source rows the mapping leaves out with SKIP; not compared, not missing)`,
    );
}

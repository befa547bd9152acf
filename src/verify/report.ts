import type { VerifyResult } from './verify.js';

/** Parity as text with three decimals, never rounding a shortfall up to 100. */
export function formatParity(p: number): string {
  const t = (Math.floor(p * 1000) / 1000).toFixed(3);
  return `${t}%`;
}

/**
 * The human report of a verification: a table per entity (source rows, target rows, missing, extra,
 * different, parity, seconds), then the first differing keys with the columns that differ.
 */
export function formatVerifyReport(r: VerifyResult): string {
  const head = ['entity', 'source rows', 'target rows', 'missing', 'extra', 'different', 'parity', 'time'];
  const rows = r.entities.map((e) => [e.entity, e.sourceRows, e.targetRows, e.missing, e.extra, e.different, formatParity(e.parity), `${e.seconds.toFixed(1)}s`].map((v) => (typeof v === 'number' ? v.toLocaleString('en-US') : v)));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map((row) => line(row.map(String)))];
  if (r.differences.length) {
    out.push('', `first ${r.differences.length} differing key${r.differences.length > 1 ? 's' : ''}:`);
    for (const d of r.differences) {
      if (d.kind !== 'different') out.push(`  ${d.entity} ${d.key}: ${d.kind === 'missing' ? 'missing in target' : 'extra in target (not in source)'}`);
      else {
        out.push(`  ${d.entity} ${d.key}: ${d.columns.map((c) => `${c.table}.${c.column}`).join(', ')}`);
        for (const c of d.columns) out.push(`      ${c.table}.${c.column}: source=${JSON.stringify(c.source)} target=${JSON.stringify(c.target)}`);
      }
    }
  }
  out.push('', r.ok ? 'parity: 100% — source and target match' : 'parity: differences found');
  return out.join('\n');
}

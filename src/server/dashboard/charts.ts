/**
 * Small SVG charts drawn on the server (no chart library, no script): a sparkline of a series with its threshold
 * as a dashed line, and a horizontal bar of shares. Sizes are in SVG user units; the CSS scales the SVG to its
 * box. Only numbers and escaped labels enter the markup.
 */
import { type Html, html, raw } from './html.js';

/** Options of {@link sparkline}. */
export interface SparklineOptions {
  /** Accessible name of the chart (`error rate of new, last 10 min`). */
  label: string;
  /** Drawn as a dashed line; values above it are marked. */
  threshold?: number | null;
  /** Lower limit of the top of the y axis (so a flat, small series does not fill the chart). */
  minTop?: number;
  width?: number;
  height?: number;
}

const n2 = (x: number) => (Math.round(x * 100) / 100).toString();

/**
 * A sparkline of `values` (oldest first; `null` is a gap: no data in that bucket). The y axis runs from 0 to the
 * largest of the values, 1.2 × the threshold and `minTop`. A point above the threshold is drawn as a red dot.
 */
export function sparkline(values: readonly (number | null)[], o: SparklineOptions): Html {
  const w = o.width ?? 300;
  const h = o.height ?? 60;
  const pad = 3;
  const finite = values.filter((v): v is number => v !== null && Number.isFinite(v));
  const top = Math.max(o.minTop ?? 0, o.threshold ? o.threshold * 1.2 : 0, ...finite) || 1;
  const x = (i: number) => pad + (values.length <= 1 ? 0 : (i * (w - 2 * pad)) / (values.length - 1));
  const y = (v: number) => h - pad - (Math.min(v, top) / top) * (h - 2 * pad);
  const runs: string[][] = [];
  let run: string[] = [];
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      if (run.length) runs.push(run);
      run = [];
      return;
    }
    run.push(`${n2(x(i))},${n2(y(v))}`);
  });
  if (run.length) runs.push(run);
  const lines = runs.map((r) =>
    r.length === 1
      ? html`<circle cx="${r[0]!.split(',')[0]}" cy="${r[0]!.split(',')[1]}" r="1.6" class="pt"/>`
      : html`<polyline points="${r.join(' ')}" class="line"/>`,
  );
  const over =
    o.threshold !== null && o.threshold !== undefined
      ? values.map((v, i) =>
          v !== null && Number.isFinite(v) && v > o.threshold!
            ? html`<circle cx="${n2(x(i))}" cy="${n2(y(v))}" r="2.2" class="over"/>`
            : null,
        )
      : [];
  const thr =
    o.threshold !== null && o.threshold !== undefined
      ? html`<line x1="0" x2="${w}" y1="${n2(y(o.threshold))}" y2="${n2(y(o.threshold))}" class="thr"/>`
      : null;
  const empty = finite.length ? null : html`<text x="${w / 2}" y="${h / 2 + 4}" class="none">no data</text>`;
  return html`<svg class="spark" viewBox="0 0 ${w} ${h}" role="img" aria-label="${o.label}"><title>${o.label}</title><rect x="0" y="0" width="${w}" height="${h}" class="bg"/>${thr}${lines}${over}${empty}</svg>`;
}

/** One segment of {@link shareBar}. */
export interface Share {
  label: string;
  /** Percent, 0…100. */
  percent: number;
  /** CSS class of the segment (its colour). */
  cls: string;
}

/** A horizontal bar 0…100 % with one row per share (each from the left), and a tick every 25 %. */
export function shareBar(shares: readonly Share[], label: string): Html {
  const w = 200;
  const row = 12;
  const h = shares.length * (row + 4) + 2;
  const rows = shares.map((s, i) => {
    const pct = Math.max(0, Math.min(100, s.percent));
    const y = 2 + i * (row + 4);
    return html`<rect x="0" y="${y}" width="${w}" height="${row}" class="bg"/><rect x="0" y="${y}" width="${n2((pct / 100) * w)}" height="${row}" class="${s.cls}"><title>${s.label} ${pct} %</title></rect>`;
  });
  const ticks = [25, 50, 75].map((t) =>
    raw(`<line x1="${(t / 100) * w}" x2="${(t / 100) * w}" y1="0" y2="${h}" class="tick"/>`),
  );
  return html`<svg class="bar" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img" aria-label="${label}"><title>${label}</title>${rows}${ticks}</svg>`;
}

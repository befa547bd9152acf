/**
 * A small gauge registry for verify's figures, readable by a later `/metrics` endpoint (Prometheus text format,
 * `collect()`) and by the JSON output (`snapshot()`). prom-client is not a dependency yet; when it is, these
 * gauges move behind it without changing their names.
 *
 * Gauges (labels in braces):
 * - `tandem_verify_parity_ratio{entity}` — share of compared rows that match, 0..1, from the last pass;
 * - `tandem_verify_rows{entity}` — source rows compared by the last pass;
 * - `tandem_verify_mismatches{entity,state}` — mismatches in the control plane by state
 *   (pending, confirmed, repaired, resolved);
 * - `tandem_verify_last_pass_timestamp_seconds{entity}` — Unix time the last pass of the entity ended;
 * - `tandem_verify_last_pass_seconds{entity}` — how long it took.
 */
export class Gauge {
  private readonly values = new Map<string, { labels: Record<string, string>; value: number }>();
  constructor(readonly name: string, readonly help: string) {}

  /** Sets the gauge for a label set. */
  set(labels: Record<string, string>, value: number): void {
    this.values.set(labelKey(labels), { labels: { ...labels }, value });
  }

  /** The value for a label set, or undefined. */
  get(labels: Record<string, string>): number | undefined {
    return this.values.get(labelKey(labels))?.value;
  }

  /** Every label set with its value. */
  entries(): { labels: Record<string, string>; value: number }[] {
    return [...this.values.values()];
  }

  reset(): void {
    this.values.clear();
  }
}

function labelKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** A set of gauges. */
export class GaugeRegistry {
  private readonly gauges = new Map<string, Gauge>();

  /** The gauge of that name, created on first use. */
  gauge(name: string, help: string): Gauge {
    let g = this.gauges.get(name);
    if (!g) this.gauges.set(name, (g = new Gauge(name, help)));
    return g;
  }

  /** Prometheus text exposition format (version 0.0.4). */
  collect(): string {
    const out: string[] = [];
    for (const g of this.gauges.values()) {
      out.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
      for (const { labels, value } of g.entries()) {
        const l = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
        out.push(`${g.name}${l ? `{${l}}` : ''} ${Number.isFinite(value) ? value : 'NaN'}`);
      }
    }
    return out.length ? `${out.join('\n')}\n` : '';
  }

  /** `{ gauge: [{ labels, value }] }`, for JSON output. */
  snapshot(): Record<string, { labels: Record<string, string>; value: number }[]> {
    return Object.fromEntries([...this.gauges.values()].map((g) => [g.name, g.entries()]));
  }
}

/** The process-wide registry verify publishes to. */
export const verifyMetrics = new GaugeRegistry();

/** The gauges verify publishes (see the module comment). */
export const parityGauge = verifyMetrics.gauge('tandem_verify_parity_ratio', 'share of compared rows that match (0..1), per entity, from the last verification pass');
export const rowsGauge = verifyMetrics.gauge('tandem_verify_rows', 'source rows compared by the last verification pass, per entity');
export const mismatchGauge = verifyMetrics.gauge('tandem_verify_mismatches', 'mismatches recorded in the control plane, per entity and state');
export const lastPassGauge = verifyMetrics.gauge('tandem_verify_last_pass_timestamp_seconds', 'Unix time the last verification pass of the entity ended');
export const passSecondsGauge = verifyMetrics.gauge('tandem_verify_last_pass_seconds', 'duration of the last verification pass of the entity, seconds');

/** Publishes one pass's figures for an entity. `parity` in percent. */
export function publishPass(entity: string, parity: number, rows: number, seconds: number): void {
  parityGauge.set({ entity }, parity / 100);
  rowsGauge.set({ entity }, rows);
  lastPassGauge.set({ entity }, Date.now() / 1000);
  passSecondsGauge.set({ entity }, seconds);
}

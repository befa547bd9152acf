import type { Store } from '../stores/types.js';
import type { VerifyReport } from '../verify/run.js';
import { readStates, writeState } from '../control/state.js';

/** The last verification of an entity, as the status model shows it. */
export interface LastVerify {
  /** The tier: `full`, `checksum`, `sample`, `quick`. */
  mode: string;
  /** When the run started (ISO-8601 UTC). */
  at: string;
  /** Percent of compared rows that match (0..100), or null for a tier that gives none (quick). */
  parity: number | null;
  /** Differing keys (missing + extra + different) or differing aggregates (quick). */
  differences: number;
}

const NAME = (entity: string) => `verify:${entity}`.slice(0, 64);

/** The per-entity {@link LastVerify} of a report. */
export function lastVerifyOf(report: VerifyReport, at: string): Map<string, LastVerify> {
  const out = new Map<string, LastVerify>();
  for (const e of report.entities) {
    const r = e as unknown as {
      entity: string;
      parity?: number;
      missing?: number;
      extra?: number;
      different?: number;
      differing?: unknown[];
    };
    const differences = r.differing ? r.differing.length : (r.missing ?? 0) + (r.extra ?? 0) + (r.different ?? 0);
    out.set(r.entity, {
      mode: e.mode,
      at,
      parity: typeof r.parity === 'number' && Number.isFinite(r.parity) ? r.parity : null,
      differences,
    });
  }
  return out;
}

/**
 * Records the last verification of each entity in the control store's `state` table (`verify:<entity>`), where
 * `tandem status` reads it. The control plane (v2) must exist. Throws what the store throws.
 */
export async function recordLastVerify(control: Store, results: Map<string, LastVerify>): Promise<void> {
  for (const [entity, v] of results) await writeState(control, NAME(entity), JSON.stringify(v));
}

/** The last verification of each entity recorded in `control` (none when the table does not exist yet). */
export async function readLastVerify(control: Store, entities: string[]): Promise<Map<string, LastVerify>> {
  const out = new Map<string, LastVerify>();
  if (!entities.length) return out;
  const names = entities.map(NAME);
  let rows: Map<string, string>;
  try {
    rows = await readStates(control, control, names);
  } catch {
    return out;
  }
  for (const e of entities) {
    const r = rows.get(NAME(e));
    if (r === undefined) continue;
    try {
      const v = JSON.parse(r) as LastVerify;
      out.set(e, {
        mode: String(v.mode),
        at: String(v.at),
        parity: typeof v.parity === 'number' ? v.parity : null,
        differences: Number(v.differences) || 0,
      });
    } catch {
      /* not ours */
    }
  }
  return out;
}

/**
 * The published throttle state of each entity's backfill: one control-plane `state` row per entity,
 * `backfill.throttle.<entity>`, holding `{"reason","detail","since"}` as JSON while the backfill is held, or
 * `none` when it runs at full speed. The backfill writes it only when the reason changes (not on every chunk),
 * so another process's `tandem status` (and the API, the dashboard, the metrics) sees why a backfill waits.
 * A row left by a process that died is ignored by the status model unless the entity's backfill is running.
 */
import { putState, readStates } from './state.js';
import type { Store } from '../stores/types.js';

/** Why a backfill waits (gh-ost's throttle reasons); also the `reason` label of the throttle metric. */
export type ThrottleReason = 'paused' | 'flag-file' | 'replica-lag' | 'query' | 'rate';

/** The reasons, in the order the throttle checks them. */
export const THROTTLE_REASONS: readonly ThrottleReason[] = ['paused', 'flag-file', 'replica-lag', 'query', 'rate'];

/** A backfill's throttle: the reason kind, a human detail (`replica lag 7.2 s > 5 s on r1`), since when (ISO). */
export interface ThrottleState {
  reason: ThrottleReason;
  detail: string;
  /** When this reason started holding the backfill, ISO-8601 UTC. */
  since: string;
}

/** The state row name of `entity`'s throttle. */
export const throttleRow = (entity: string) => `backfill.throttle.${entity}`;

/** Writes `entity`'s throttle state (null: not throttled). Throws what the store throws. */
export async function writeThrottleState(control: Store, entity: string, s: ThrottleState | null): Promise<void> {
  const value = s ? JSON.stringify({ reason: s.reason, detail: s.detail, since: s.since }) : 'none';
  await control.transaction((tx) => putState(tx, control, throttleRow(entity), value));
}

function parse(v: string | undefined): ThrottleState | null {
  if (!v || v === 'none') return null;
  try {
    const o = JSON.parse(v) as Partial<ThrottleState>;
    if (!o || !THROTTLE_REASONS.includes(o.reason as ThrottleReason)) return null;
    return { reason: o.reason as ThrottleReason, detail: String(o.detail ?? ''), since: String(o.since ?? '') };
  } catch {
    return null;
  }
}

/** The published throttle state of each of `entities` (absent, `none` or unreadable rows: null), one statement. */
export async function readThrottleStates(
  control: Store,
  entities: string[],
): Promise<Map<string, ThrottleState | null>> {
  const v = await readStates(control, control, entities.map(throttleRow));
  return new Map(entities.map((e) => [e, parse(v.get(throttleRow(e)))]));
}

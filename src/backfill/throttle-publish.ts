import type { Logger } from 'pino';
import { writeThrottleState, type ThrottleState } from '../control/throttle-state.js';
import { errorLine } from '../core/errors.js';
import type { Store } from '../stores/types.js';
import type { ThrottleVerdict } from './throttle.js';

/** Reasons that stop the copy (the pacer's `rate` only slows it). */
const HOLDS = new Set(['paused', 'flag-file', 'replica-lag', 'query']);

/**
 * Publishes one entity's throttle state to the control plane (`backfill.throttle.<entity>`, read by
 * `tandem status`, the API and the dashboard) and to the `onThrottle` callback, writing only when it changes:
 * at once when a holding reason (`paused`, `flag-file`, `replica-lag`, `query`) starts or ends; a change of the
 * detail only (the lag moved) or a move between `rate` and full speed at most every 5 s (or `checkSeconds` when
 * longer), so a rate-limited backfill does not write a row per chunk. A failed write is logged, never fatal.
 */
export class ThrottlePublisher {
  private current: ThrottleState | null = null;
  private writtenAt = Number.NEGATIVE_INFINITY;
  private written: ThrottleState | null = null;
  private readonly minMs: number;

  constructor(
    private readonly entity: string,
    private readonly control: Store | undefined,
    private readonly log: Logger,
    checkSeconds: number,
    private readonly onThrottle?: (entity: string, t: ThrottleState | null) => void,
  ) {
    this.minMs = Math.max(5, checkSeconds) * 1000;
  }

  /** The state now (null: full speed), with `since` kept while the reason stays the same. */
  get state(): ThrottleState | null {
    return this.current;
  }

  /** Sets the verdict in force now (null: full speed) and publishes it when it changed (see the class doc). */
  async publish(v: ThrottleVerdict | null, force = false): Promise<void> {
    const prev = this.current;
    if ((prev?.reason ?? null) !== (v?.reason ?? null)) {
      this.current = v ? { reason: v.reason, detail: v.detail, since: new Date().toISOString() } : null;
      this.onThrottle?.(this.entity, this.current);
      if (v)
        this.log.info(
          { event: 'backfill.throttled', entity: this.entity, reason: v.reason },
          `${this.entity}: throttled: ${v.detail}`,
        );
      else if (prev && HOLDS.has(prev.reason))
        this.log.info(
          { event: 'backfill.unthrottled', entity: this.entity, reason: prev.reason },
          `${this.entity}: throttle released (${prev.reason})`,
        );
    } else if (v && prev) this.current = { ...prev, detail: v.detail };
    const w = this.written;
    const c = this.current;
    if ((w?.reason ?? null) === (c?.reason ?? null) && w?.detail === c?.detail) return;
    const urgent =
      force || HOLDS.has(w?.reason ?? '') !== HOLDS.has(c?.reason ?? '') || (w && c && w.reason !== c.reason);
    if (!urgent && performance.now() - this.writtenAt < this.minMs) return;
    await this.write(c);
  }

  /** Publishes "not throttled" at once (the entity's copy ended, however it ended). */
  async clear(): Promise<void> {
    if (this.current) this.onThrottle?.(this.entity, null);
    this.current = null;
    if (this.written) await this.write(null);
  }

  private async write(s: ThrottleState | null): Promise<void> {
    this.writtenAt = performance.now();
    this.written = s;
    if (!this.control) return;
    await writeThrottleState(this.control, this.entity, s).catch((e) =>
      this.log.warn(
        { event: 'backfill.throttle_publish_failed', entity: this.entity, err: errorLine(e) },
        `${this.entity}: could not publish the throttle state: ${errorLine(e)}`,
      ),
    );
  }
}

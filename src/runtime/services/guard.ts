import type { GuardConfig } from '../../config/schema.js';
import { errorLine } from '../../core/errors.js';
import { evaluateGuard, type GuardEvaluation, guardThresholds } from '../../routing/guard.js';
import { pruneWindows, WINDOW_RETAIN_MS } from '../../routing/stats.js';
import type { GuardVerdict } from '../../routing/types.js';
import type { Migration } from '../migration.js';
import { BaseService, pause } from './service.js';

/** Options of the guard service. */
export interface GuardServiceOptions {
  /** Seconds between two evaluations. Default the config's `guard.intervalSeconds` (2). */
  intervalSeconds?: number;
  /** Thresholds over the config's `guard` block (docs/guard.md). */
  guard?: Partial<GuardConfig>;
  /** Stop after this many evaluations (default: until stopped). */
  evaluations?: number;
  /** Published windows older than this are deleted (ms), once a minute. Default 15 minutes. */
  retainMs?: number;
  /** The clock for verdicts and the cooldown, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/**
 * The guard as a service (src/routing/guard.ts does the work), run by the supervisor of `tandem run` in the
 * `shadow` and `canary` phases: every `intervalSeconds` it evaluates the fleet's published windows, writes the
 * verdict, and on a breach sets the canary to 0. Emits `guard:verdict` after every evaluation and `guard:tripped`
 * when one tripped the guard. A failed evaluation (a control store that is down) is logged and tried again at the
 * next interval: the guard never stops `tandem run`. Its result: the last verdict.
 * Throws TANDEM_ERR_CONFIG_INVALID at start for bad thresholds.
 */
export class GuardService extends BaseService<GuardVerdict | null> {
  readonly name = 'guard';
  /** The last evaluation (null before the first). */
  last: GuardEvaluation | null = null;

  constructor(
    m: Migration,
    private readonly o: GuardServiceOptions = {},
  ) {
    super(m);
  }

  protected async run(signal: AbortSignal): Promise<GuardVerdict | null> {
    const m = this.m;
    const thresholds = guardThresholds({ ...m.config.guard, ...this.o.guard });
    const interval = (this.o.intervalSeconds ?? thresholds.intervalSeconds) * 1000;
    let left = this.o.evaluations;
    let lastPrune = 0;
    while (!signal.aborted && left !== 0) {
      try {
        const ev = await evaluateGuard(m.stores.control, thresholds, { now: this.o.now });
        this.last = ev;
        this.setState('running');
        m.events.emit('guard:verdict', { verdict: ev.verdict, figures: ev.judgement.figures });
        if (ev.tripped) {
          m.log.warn(
            { event: 'guard.tripped', reason: ev.verdict.reason, cooldownUntilMs: ev.verdict.cooldownUntilMs },
            `guard tripped: canary set to 0 (${ev.verdict.reason})`,
          );
          m.events.emit('guard:tripped', { verdict: ev.verdict, breaches: ev.judgement.breaches });
        }
        if (Date.now() - lastPrune >= 60_000) {
          lastPrune = Date.now();
          await pruneWindows(m.stores.control, this.o.retainMs ?? WINDOW_RETAIN_MS);
        }
      } catch (e) {
        m.log.warn(
          { event: 'guard.failed', err: errorLine(e) },
          'guard evaluation failed; trying again at the next interval',
        );
        this.setState('waiting', e);
      }
      if (left !== undefined) left--;
      if (left === 0) break;
      await pause(interval, signal);
    }
    return this.last?.verdict ?? null;
  }
}

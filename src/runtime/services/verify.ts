import { isTransient } from '../../apply/retry.js';
import { errorLine } from '../../core/errors.js';
import { runContinuous, type CycleReport } from '../../verify/continuous.js';
import { lastVerifyOf, recordLastVerify } from '../last-verify.js';
import type { Migration } from '../migration.js';
import { BaseService, pause } from './service.js';

/** Options of the continuous-verification service (the checksum tier on a schedule). */
export interface VerifyServiceOptions {
  /** Seconds between the starts of two cycles. Default: config `verify.intervalSeconds`, else 300. */
  intervalSeconds?: number;
  /** Seconds a difference must last before it is confirmed. Default: config `verify.lagSeconds` (30). */
  lagSeconds?: number;
  /** Stop after this many cycles (default: until stopped). */
  cycles?: number;
  maxRowsPerSecond?: number;
  chunkSeconds?: number;
  /** Segments checksummed at once. Default: config `verify.concurrency` (4). */
  concurrency?: number;
  maxDifferences?: number;
  maxSeconds?: number;
  /** Differing keys listed per pass (default the config's `verify.maxReportedDifferences`). */
  maxReportedDifferences?: number;
  /**
   * `once` (the command): an error fails the service. `retry` (the worker): an error waits one interval and starts
   * again.
   */
  onError?: 'fail' | 'retry';
  /** Sees every cycle. */
  onCycle?: (c: CycleReport) => void | Promise<void>;
}

/**
 * Continuous verification as a service (src/verify/continuous.ts does the work): checksum passes of
 * mapping(legacy) against new, rechecks of recently applied keys, mismatches confirmed after the lag window.
 * After every cycle it records each entity's last verification for `tandem status` and emits `verify:cycle`,
 * and `verify:mismatch` for every entity left with pending or confirmed mismatches. Its result: the last cycle.
 */
export class VerifyService extends BaseService<CycleReport | null> {
  readonly name = 'verify';

  constructor(
    m: Migration,
    private readonly o: VerifyServiceOptions = {},
  ) {
    super(m);
  }

  protected async run(signal: AbortSignal): Promise<CycleReport | null> {
    const m = this.m;
    const interval = this.o.intervalSeconds ?? m.config.verify.intervalSeconds ?? 300;
    let last: CycleReport | null = null;
    let cyclesLeft = this.o.cycles;
    for (;;) {
      try {
        await runContinuous(m.stores.legacy, m.stores.new, m.stores.control, m.entities, {
          intervalSeconds: interval,
          lagSeconds: this.o.lagSeconds ?? m.config.verify.lagSeconds ?? 30,
          cycles: cyclesLeft,
          pageRows: m.config.verify.pageRows,
          maxReportedDifferences: this.o.maxReportedDifferences ?? m.config.verify.maxReportedDifferences,
          maxDifferences: this.o.maxDifferences,
          maxSeconds: this.o.maxSeconds,
          maxRowsPerSecond: this.o.maxRowsPerSecond,
          chunkSeconds: this.o.chunkSeconds,
          checksum: { concurrency: this.o.concurrency ?? m.config.verify.concurrency },
          signal,
          onCycle: async (c) => {
            last = c;
            if (cyclesLeft !== undefined) cyclesLeft--;
            this.setState('running');
            await recordLastVerify(m.stores.control, lastVerifyOf(c.pass, c.startedAt)).catch((e) =>
              m.log.warn(
                { event: 'verify.record_failed', err: errorLine(e) },
                'could not record the last verification',
              ),
            );
            m.events.emit('verify:cycle', { cycle: c.cycle, headline: c.pass.headline, complete: c.pass.complete });
            for (const [entity, counts] of Object.entries(c.mismatches))
              if ((counts.pending ?? 0) + (counts.confirmed ?? 0) > 0)
                m.events.emit('verify:mismatch', {
                  entity,
                  pending: counts.pending ?? 0,
                  confirmed: counts.confirmed ?? 0,
                });
            await this.o.onCycle?.(c);
          },
        });
        return last;
      } catch (e) {
        if ((this.o.onError ?? 'fail') === 'fail' || (!isTransient(e) && signal.aborted)) throw e;
        m.log.warn(
          { event: 'verify.failed', err: errorLine(e) },
          'continuous verification failed; starting again after one interval',
        );
        this.setState('waiting', e);
        await pause(interval * 1000, signal);
        if (signal.aborted || cyclesLeft === 0) return last;
      }
    }
  }
}

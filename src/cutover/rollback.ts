/**
 * Rollback (docs/cutover.md "Rollback", DESIGN.md guarantee 6): move reads, or the source of truth, back to
 * legacy without losing a write.
 *
 * API summary (library; the CLI is `tandem rollback [--reconciled] [--no-verify] [--json]`, src/cli/rollback.ts):
 *
 * ```ts
 * const r: RollbackReport = await rollback(m);
 * // r = { from, to, epoch, drained, writePause: { held, p99Ms, maxMs }, rtoSeconds, parity?: { entity: percent } }
 * ```
 *
 * - From `shadow` / `canary`: reads go back to legacy at once — shadow to 0 % (shadow) or canary to 0 %
 *   (canary); the phase stays. From `prepare` / `dual_write` there is nothing to move back (a report of zeros).
 *   In these phases a write fence left closed by a cutover that died before its flip is re-opened (audited).
 * - From `new_primary`: close the fence on new and legacy at epoch E (src/cutover/fence.ts) → drain the reverse
 *   outbox into legacy to zero (`cutover.drainTimeoutSeconds`) → advance legacy's sequences past the keys the
 *   new primary handed out → canary to 0 %, open legacy's fence at `canary`, write the phase `canary`, re-open
 *   new's fence at `canary` (every later write there refuses) → RTO measured here → verify (checksum tier,
 *   legacy → new) → audit.
 * - From `legacy_read_only` and later: refused with TANDEM_ERR_ROLLBACK_REFUSED (forward-fix only), unless
 *   `reconciled` (`--reconciled`) from `legacy_read_only`: then a checksum verification new → legacy must find
 *   both sides identical (every row compared), and the rollback undoes the read-only triggers and returns to
 *   `new_primary`. From `decommissioned`: always refused.
 */
import { audit, ensureControlSchema } from '../control/control.js';
import { type Phase, primaryRole } from '../control/phase.js';
import { sleep } from '../core/async.js';
import { errorLine, TandemError } from '../core/errors.js';
import { setCanaryPercent, setShadowPercent } from '../routing/state.js';
import type { Migration } from '../runtime/migration.js';
import { checksumEntities } from '../verify/checksum.js';
import { ensureFenceSchema, type Fenced, fenceAndDrain, releaseFences } from './cutover.js';
import { type Fence, readFence, readFenceWaits, setFence, writePauseOf, writePhase } from './fence.js';
import { setLegacyReadOnly } from './read-only.js';
import type { RollbackReport } from './types.js';

/** Options of {@link rollback}. */
export interface RollbackOptions {
  /**
   * From `legacy_read_only`: allow the rollback to `new_primary` after a passing verification new → legacy
   * (undoing the read-only triggers). Ignored elsewhere.
   */
  reconciled?: boolean;
  /** Run the verification after the flip back (default true). */
  verify?: boolean;
  /** Told about each step as it starts (`fence`, `drain`, `sequences`, `flip`, `release`, `verify`). */
  onStep?: (step: string) => void;
  /** How long to wait after the release for writers to record their held waits, ms. Default 300. */
  settleMs?: number;
  signal?: AbortSignal;
  /** Who asked, for the audit log (the API: `token:<name>`); default this process's `user@host`. */
  actor?: string;
  /** The command named in the audit log (default `rollback`; the API passes `api rollback`). */
  command?: string;
}

/** Parity per entity of a checksum verification legacy → new (percent), and whether every row matched. */
async function verifyParity(m: Migration): Promise<{ parity: Record<string, number>; ok: boolean }> {
  const r = await checksumEntities(m.stores.legacy, m.stores.new, m.entities, { maxReportedDifferences: 20 });
  return { parity: Object.fromEntries(r.entities.map((e) => [e.entity, e.parity])), ok: r.ok && r.complete };
}

/**
 * Rolls back (see the module comment). Throws TANDEM_ERR_ROLLBACK_REFUSED from `legacy_read_only` (without
 * `reconciled`, or when the verification finds differences) and `decommissioned`; TANDEM_ERR_CUTOVER_FAILED when
 * the reverse drain does not reach zero in time or dead-letters a change (fence released, phase unchanged); what
 * the stores throw. Every run is audited (`rollback`).
 */
export async function rollback(m: Migration, o: RollbackOptions = {}): Promise<RollbackReport> {
  const step = (s: string) => o.onStep?.(s);
  const started = Date.now();
  await ensureFenceSchema(m);
  const control = m.stores.control;
  const from = await m.readPhase();
  const args = { reconciled: !!o.reconciled };
  const fail = async (e: unknown): Promise<never> => {
    await audit(control, {
      command: o.command ?? 'rollback',
      args,
      outcome: 'error',
      detail: errorLine(e),
      actor: o.actor,
    }).catch(() => {});
    throw e;
  };
  const done = async (r: RollbackReport, detail: string): Promise<RollbackReport> => {
    await audit(control, { command: o.command ?? 'rollback', args, outcome: 'ok', detail, actor: o.actor });
    return r;
  };
  const zero = { held: 0, p99Ms: 0, maxMs: 0 };
  const epochNow = async () => (await readFence(m.stores.legacy))?.epoch ?? 0;

  // a fence left closed by a cutover that died before its flip (legacy still primary): re-open it, phases kept
  let reopened = '';
  if (primaryRole(from) === 'legacy') {
    const fences: [Fence | null, Fence | null] = [await readFence(m.stores.legacy), await readFence(m.stores.new)];
    const closed = fences.find((f) => f?.state === 'closed');
    if (closed) {
      await releaseFences(m, closed.epoch, fences);
      reopened = `; re-opened the write fence left closed at epoch ${closed.epoch} by ${closed.holder ?? 'an unknown holder'}`;
    }
  }
  if (from === 'prepare' || from === 'dual_write')
    return done(
      { from, to: from, epoch: await epochNow(), drained: 0, writePause: zero, rtoSeconds: 0 },
      `${from}: reads are served by legacy already; nothing to roll back${reopened}`,
    );
  if (from === 'shadow' || from === 'canary') {
    const change =
      from === 'shadow'
        ? await setShadowPercent(control, 0, { command: o.command ?? 'rollback', actor: o.actor })
        : await setCanaryPercent(control, 0, { command: o.command ?? 'rollback', actor: o.actor });
    const rtoSeconds = (Date.now() - started) / 1000;
    return done(
      { from, to: from, epoch: await epochNow(), drained: 0, writePause: zero, rtoSeconds },
      `${from}: ${from === 'shadow' ? 'shadow' : 'canary'} ${change.from}% → 0%: reads served by legacy (within routing.refreshMs); RTO ${rtoSeconds.toFixed(3)} s${reopened}`,
    );
  }
  if (from === 'legacy_read_only' && o.reconciled) return reconciledRollback(m, started, fail, done);
  if (from !== 'new_primary')
    return fail(
      new TandemError(
        'ROLLBACK_REFUSED',
        from === 'decommissioned'
          ? 'the migration is decommissioned: legacy is archived and there is no rollback (forward-fix only)'
          : `the migration is in ${from}: writes on new are no longer carried to legacy, so a rollback would lose them. Forward-fix only: reconcile new → legacy first (tandem verify, tandem repair), then tandem rollback --reconciled`,
        { phase: from },
      ),
    );

  // from new_primary: the fenced flip back
  const { legacy, new: next } = m.stores;
  let fenced: Fenced;
  try {
    fenced = await fenceAndDrain(m, 'reverse', step, o.signal);
  } catch (e) {
    return fail(
      e instanceof TandemError && e.code !== 'TANDEM_ERR_CUTOVER_FAILED'
        ? new TandemError(
            'CUTOVER_FAILED',
            `rollback stopped before the flip (${e.toLine()}); the fence is released and the phase unchanged`,
            { cause: e.code },
            { cause: e },
          )
        : e,
    );
  }
  const { epoch, drained } = fenced;
  step('flip');
  const to: Phase = 'canary';
  await setCanaryPercent(control, 0, { command: o.command ?? 'rollback', actor: o.actor });
  await setFence(legacy, { epoch, phase: to, side: 'legacy', state: 'open' });
  await writePhase(control, to);
  await setFence(next, { epoch, phase: to, side: 'new', state: 'open' });
  step('release');
  const rtoSeconds = (Date.now() - started) / 1000;
  await m.readPhase().catch(() => {});
  const report: RollbackReport = { from, to, epoch, drained, writePause: zero, rtoSeconds };
  if (o.verify !== false) {
    step('verify');
    report.parity = (await verifyParity(m)).parity;
  }
  await sleep(o.settleMs ?? 300);
  report.writePause = writePauseOf(await readFenceWaits(control, [epoch]).catch(() => []));
  const wp = report.writePause;
  return done(
    report,
    `new_primary → canary at 0 % at fence epoch ${epoch}; drained ${drained} reverse change(s); RTO ${rtoSeconds.toFixed(3)} s; write pause held ${wp.held}, p99 ${wp.p99Ms} ms, max ${wp.maxMs} ms${
      report.parity
        ? `; parity ${Object.entries(report.parity)
            .map(([e, p]) => `${e} ${p.toFixed(3)}%`)
            .join(', ')}`
        : ''
    }`,
  );
}

/** `legacy_read_only` → `new_primary` after a verification that finds both sides identical. */
async function reconciledRollback(
  m: Migration,
  started: number,
  fail: (e: unknown) => Promise<never>,
  done: (r: RollbackReport, detail: string) => Promise<RollbackReport>,
): Promise<RollbackReport> {
  const v = await verifyParity(m).catch((e) => fail(e));
  if (!v.ok)
    return fail(
      new TandemError(
        'ROLLBACK_REFUSED',
        `--reconciled: the verification found legacy and new different (${Object.entries(v.parity)
          .map(([e, p]) => `${e} ${p.toFixed(3)}%`)
          .join(', ')}); reconcile new → legacy first`,
        { parity: v.parity },
      ),
    );
  await ensureControlSchema(m.stores.legacy);
  await setLegacyReadOnly(m, false);
  await writePhase(m.stores.control, 'new_primary');
  await m.readPhase().catch(() => {});
  const rtoSeconds = (Date.now() - started) / 1000;
  return done(
    {
      from: 'legacy_read_only',
      to: 'new_primary',
      epoch: (await readFence(m.stores.legacy))?.epoch ?? 0,
      drained: 0,
      writePause: { held: 0, p99Ms: 0, maxMs: 0 },
      rtoSeconds,
      parity: v.parity,
    },
    `legacy_read_only → new_primary after a verification with every row matching; read-only triggers removed`,
  );
}

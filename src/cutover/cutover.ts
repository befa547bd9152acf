/**
 * The fenced write cutover (docs/cutover.md "Write cutover", DESIGN.md guarantees 6–7).
 *
 * API summary (library; the CLI is `tandem cutover [--force] [--json]`, src/cli/cutover.ts):
 *
 * ```ts
 * import { cutover } from './cutover/cutover.js';
 * import { rollback } from './cutover/rollback.js';
 * const r: CutoverReport = await cutover(m, { force: false });   // canary (or dual_write/shadow) → new_primary
 * // r = { from, to: 'new_primary', epoch, gates, forced, reverseProbeMs, drained, writePause: { held, p99Ms, maxMs }, seconds }
 * const b: RollbackReport = await rollback(m);                   // new_primary → canary at 0 % (or reads back from shadow/canary)
 * // b = { from, to, epoch, drained, writePause, rtoSeconds, parity? }
 *
 * // the application, shipped before the cutover, never redeployed in the middle of it (src/capture/writer.ts):
 * const dual = await createDualWriter({ config });
 * await dual.write({
 *   legacy: async (tx) => { await tx.execute('UPDATE users SET email = ? WHERE id = ?', [e, id]); tx.changed('users', id); },
 *   new: async (tx) => { await tx.execute('UPDATE accounts SET email = $1 WHERE id = $2', [e, id]); tx.changed('users', id); },
 * });                                                            // throws TANDEM_ERR_WRITE_FENCED (retryable) at worst
 * ```
 *
 * Sequence of {@link cutover}: gates (`checkGates(m, 'new_primary')` plus the reverse-path probe, `reverse_path`)
 * → close the fence on legacy and new at epoch E (src/cutover/fence.ts; waits for writes in flight) → drain the
 * forward outbox to zero (`cutover.drainTimeoutSeconds`) → advance the new store's sequences past the copied keys
 * → flip: open new's fence at phase `new_primary`, write the phase, re-open legacy's fence at `new_primary` (every
 * later write there refuses) → read the held writes' waits (`fence_waits`) → audit.
 */
import { runRelay } from '../apply/relay.js';
import { audit, ensureControlSchema } from '../control/control.js';
import { type Phase, primaryRole } from '../control/phase.js';
import { sleep } from '../core/async.js';
import { errorLine, TandemError } from '../core/errors.js';
import { outboxLag, makeOutboxDue } from '../outbox/outbox.js';
import type { Migration } from '../runtime/migration.js';
import type { Store } from '../stores/types.js';
import {
  closeFence,
  type Fence,
  deadLetterCount,
  nextEpoch,
  readFence,
  readFenceWaits,
  setFence,
  writePauseOf,
  writePhase,
} from './fence.js';
import { checkGates } from './gates.js';
import { probeReversePath } from './probe.js';
import { advanceSequences } from './sequences.js';
import type { CutoverReport, GateResult } from './types.js';

/** Options of {@link cutover}. */
export interface CutoverOptions {
  /** Move even when gates fail (the failing gates are audited). */
  force?: boolean;
  /** Told about each step as it starts (`gates`, `probe`, `fence`, `drain`, `sequences`, `flip`, `release`). */
  onStep?: (step: string) => void;
  /**
   * How long to wait after the release for writers in other processes to record their held waits, ms. Default
   * 300 (the write pause is best-effort for other processes: see docs/cutover.md "Fence").
   */
  settleMs?: number;
  /** Ends the drain early (the cutover then fails with TANDEM_ERR_CUTOVER_FAILED, phase unchanged). */
  signal?: AbortSignal;
  /** Wall clock for the gates' age checks (tests), ms since the epoch. */
  now?: number;
  /** Who asked, for the audit log (the API: `token:<name>`); default this process's `user@host`. */
  actor?: string;
  /** The command named in the audit log (default `cutover`; the API passes `api cutover`). */
  command?: string;
}

/** What {@link fenceAndDrain} leaves for the flip. */
export interface Fenced {
  /** The epoch both fences are closed at. */
  epoch: number;
  /** Changes drained from the outbox of the store that was primary. */
  drained: number;
  /** When the fence step began (`Date.now()`, ms). */
  fencedAt: number;
}

/**
 * The part write cutover (`forward`) and rollback (`reverse`) share before their flip: closes both stores' fences
 * at a new epoch — the store that is primary first (from that commit on no write commits there), then the other
 * (nothing writes there before the flip) — drains the primary's outbox to zero (`cutover.drainTimeoutSeconds`)
 * and advances the sequences of the store about to become primary. Tells `step` of `fence`, `drain` and
 * `sequences`. On any failure the fences are put back as they were and the error is rethrown.
 */
export async function fenceAndDrain(
  m: Migration,
  direction: 'forward' | 'reverse',
  step: (s: string) => void,
  signal?: AbortSignal,
): Promise<Fenced> {
  const { legacy, new: next } = m.stores;
  const before: [Fence | null, Fence | null] = [await readFence(legacy), await readFence(next)];
  const epoch = await nextEpoch(legacy, next);
  step('fence');
  const fencedAt = Date.now();
  try {
    if (direction === 'forward') {
      await closeFence(legacy, 'legacy', epoch);
      await closeFence(next, 'new', epoch);
    } else {
      await closeFence(next, 'new', epoch);
      await closeFence(legacy, 'legacy', epoch);
    }
    step('drain');
    const drained = await drainOutbox(m, direction, m.config.cutover.drainTimeoutSeconds, signal);
    step('sequences');
    // the counters of the store about to become primary, past the keys the other handed out
    await advanceSequences(m, direction === 'forward' ? 'new' : 'legacy');
    return { epoch, drained, fencedAt };
  } catch (e) {
    await releaseFences(m, epoch, before);
    throw e;
  }
}

/** The phases a write cutover may start from. */
const FROM: readonly Phase[] = ['dual_write', 'shadow', 'canary'];

/** Creates the control tables (v8: the fence) where the cutover writes. */
export async function ensureFenceSchema(m: Migration): Promise<void> {
  await ensureControlSchema(m.stores.legacy);
  await ensureControlSchema(m.stores.new);
  if (m.stores.control !== m.stores.new) await ensureControlSchema(m.stores.control);
}

/**
 * Drains the outbox of `primary` into `secondary` to zero within `timeoutSeconds`: returns the changes handled.
 * Throws TANDEM_ERR_CUTOVER_FAILED when changes are still pending at the timeout, or when a change went to the
 * dead-letter table meanwhile (a write that did not reach the other store).
 * @internal
 */
export async function drainOutbox(
  m: Migration,
  direction: 'forward' | 'reverse',
  timeoutSeconds: number,
  signal?: AbortSignal,
): Promise<number> {
  const roles = m.roles(direction === 'forward' ? 'canary' : 'new_primary');
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutSeconds * 1000);
  const onAbort = () => ac.abort();
  signal?.addEventListener('abort', onAbort);
  const deadBefore = await deadLetterCount(m.stores.control);
  try {
    // writes are held meanwhile: a backoff left by relays that failed (an outage) must not stretch the pause
    await makeOutboxDue(roles.primary);
    const stats = await runRelay({
      primary: roles.primary,
      secondary: roles.secondary,
      control: m.stores.control,
      entities: roles.entities,
      log: m.log,
      untilEmpty: true,
      idleMs: 20,
      signal: ac.signal,
    });
    const { pending } = await outboxLag(roles.primary);
    if (pending > 0)
      throw new TandemError(
        'CUTOVER_FAILED',
        `the ${direction} outbox still holds ${pending} change(s) after ${timeoutSeconds} s (cutover.drainTimeoutSeconds)${signal?.aborted ? ' (interrupted)' : ''}`,
        { pending },
      );
    const dead = (await deadLetterCount(m.stores.control)) - deadBefore;
    if (stats.deadLettered > 0 || dead > 0)
      throw new TandemError(
        'CUTOVER_FAILED',
        `${Math.max(stats.deadLettered, dead)} change(s) went to the dead-letter table during the drain: they did not reach the other store (tandem repair, then run it again)`,
        { deadLettered: Math.max(stats.deadLettered, dead) },
      );
    return stats.changes;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Re-opens both fences with the phases they had, after a step failed before the flip. Never throws. */
export async function releaseFences(m: Migration, epoch: number, before: [Fence | null, Fence | null]): Promise<void> {
  const stores: Store[] = [m.stores.legacy, m.stores.new];
  await Promise.all(
    stores.map((s, i) =>
      setFence(s, { epoch, phase: before[i]?.phase ?? null, side: i ? 'new' : 'legacy', state: 'open' }).catch((e) =>
        m.log.error({ event: 'cutover.release_failed', err: errorLine(e) }, 'could not re-open the fence; run again'),
      ),
    ),
  );
}

/** The reverse-path probe as a gate row. */
function probeGate(passed: boolean, ms: number, reason: string | undefined): GateResult {
  return {
    gate: 'reverse_path',
    figure: passed ? `proven in ${ms} ms` : 'failed',
    threshold: 'proven',
    pass: passed,
    reason: passed
      ? 'probe change read through the reverse mapping, outbox and ledger of the reverse path'
      : (reason ?? 'failed'),
  };
}

/**
 * The write cutover to `new_primary` (see the module comment for the sequence). Idempotent on failure: a failed
 * step before the flip re-opens the fence with the phase unchanged; running it again starts over (a fence left
 * closed by a crashed run is taken again at a new epoch).
 *
 * Throws TANDEM_ERR_PHASE_INVALID from `prepare` or when the new store is already primary;
 * TANDEM_ERR_GATE_FAILED when gates (or the reverse probe) fail without `force` — nothing changed, audited;
 * TANDEM_ERR_CUTOVER_FAILED when the drain does not reach zero within `cutover.drainTimeoutSeconds` or a change
 * was dead-lettered (fence released, phase unchanged); what the stores throw.
 */
export async function cutover(m: Migration, o: CutoverOptions = {}): Promise<CutoverReport> {
  const step = (s: string) => o.onStep?.(s);
  await ensureFenceSchema(m);
  const control = m.stores.control;
  const from = await m.readPhase();
  const args = { force: !!o.force };
  const fail = async (e: unknown): Promise<never> => {
    await audit(control, {
      command: o.command ?? 'cutover',
      args,
      outcome: 'error',
      detail: errorLine(e),
      actor: o.actor,
    }).catch(() => {});
    throw e;
  };
  if (!FROM.includes(from))
    await fail(
      new TandemError(
        'PHASE_INVALID',
        primaryRole(from) === 'new'
          ? `the migration is in ${from}: the new store is already primary (tandem rollback moves back)`
          : `write cutover starts from dual_write, shadow or canary; the migration is in ${from}`,
        { phase: from },
      ),
    );
  step('gates');
  const gates = [...(await checkGates(m, 'new_primary', { now: o.now }))];
  step('probe');
  const probe = await probeReversePath(m);
  gates.push(probeGate(probe.passed, probe.ms, probe.reason));
  const failing = gates.filter((g) => !g.pass);
  if (failing.length && !o.force)
    await fail(
      new TandemError(
        'GATE_FAILED',
        `cutover refused: ${failing.map((g) => `${g.gate} ${g.figure} (needs ${g.threshold}: ${g.reason})`).join('; ')}; nothing changed (--force moves anyway, audited)`,
        { gates: failing.map((g) => g.gate) },
      ),
    );

  const { legacy, new: next } = m.stores;
  let fenced: Fenced;
  try {
    fenced = await fenceAndDrain(m, 'forward', step, o.signal);
  } catch (e) {
    return fail(e instanceof TandemError && e.code !== 'TANDEM_ERR_CUTOVER_FAILED' ? wrapFailed(e) : e);
  }
  const { epoch, drained, fencedAt: t0 } = fenced;
  step('flip');
  // new's fence opens at new_primary first (held writes may go there once they read the phase), then the
  // phase, then legacy's fence re-opens at new_primary: a write there from a stale instance now refuses
  await setFence(next, { epoch, phase: 'new_primary', side: 'new', state: 'open' });
  await writePhase(control, 'new_primary');
  await setFence(legacy, { epoch, phase: 'new_primary', side: 'legacy', state: 'open' });
  step('release');
  const seconds = (Date.now() - t0) / 1000;
  await m.readPhase().catch(() => {});
  await sleep(o.settleMs ?? 300);
  const writePause = writePauseOf(await readFenceWaits(control, [epoch]).catch(() => []));
  const report: CutoverReport = {
    from,
    to: 'new_primary',
    epoch,
    gates,
    forced: failing.length > 0,
    reverseProbeMs: probe.ms,
    drained,
    writePause,
    seconds,
  };
  await audit(control, {
    command: o.command ?? 'cutover',
    args,
    actor: o.actor,
    outcome: 'ok',
    detail: `${from} → new_primary at fence epoch ${epoch}${report.forced ? ` FORCED past failing gates: ${failing.map((g) => g.gate).join(', ')}` : ''}; drained ${drained}; write pause held ${writePause.held}, p99 ${writePause.p99Ms} ms, max ${writePause.maxMs} ms; fenced ${seconds.toFixed(3)} s`,
  });
  return report;
}

/** A step's TandemError as TANDEM_ERR_CUTOVER_FAILED (the cause kept). */
function wrapFailed(e: TandemError): TandemError {
  return new TandemError(
    'CUTOVER_FAILED',
    `stopped before the flip (${e.toLine()}); the fence is released and the phase unchanged`,
    { cause: e.code },
    { cause: e },
  );
}

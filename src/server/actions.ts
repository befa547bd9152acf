/**
 * The operator's actions (docs/api.md "Actions"), as plain functions `(ctx, principal, body) => result` shared by
 * the JSON API (src/server/routes/actions.ts) and the dashboard: each checks the principal's role (operator),
 * checks the body with zod (src/server/input.ts), calls the same core function as the CLI command, and is audited
 * with the actor `token:<name>` and the command `api <route>`. Bad input throws one TandemError and writes nothing.
 *
 * The phase actions (advance, cutover, rollback) run synchronously — the answer comes when they are done — and
 * one at a time per server: a second one while one runs throws TANDEM_ERR_ACTION_IN_PROGRESS (409). A client that
 * goes away does not stop an action in flight; its outcome is in the audit log and the status.
 */
import type { z } from 'zod';
import { ensureControlSchema } from '../control/control.js';
import { type BackfillControl, pauseBackfill, resumeBackfill, tuneBackfill } from '../control/backfill-control.js';
import { TandemError } from '../core/errors.js';
import { cutover } from '../cutover/cutover.js';
import { rollback } from '../cutover/rollback.js';
import type { CutoverReport, RollbackReport } from '../cutover/types.js';
import {
  killRouting,
  parsePercent,
  type RoutingChange,
  setCanaryPercent,
  setShadowPercent,
  unkillRouting,
} from '../routing/state.js';
import { advancePhase, type PhaseAdvanceReport } from '../cli/phase.js';
import { actorOf, type Principal, type Role, type ServerContext } from './context.js';
import { AdvanceBody, CutoverBody, EmptyBody, parseInput, RollbackBody, RoutingBody, TuneBody } from './input.js';

/** An action: what the API route and the dashboard's button both call. */
export type Action<R> = (ctx: ServerContext, principal: Principal, body: unknown) => Promise<R>;

/** The answer of the backfill actions: the backfill control before and after. */
export interface BackfillControlChange {
  from: BackfillControl;
  to: BackfillControl;
}

/** The answer of `POST /api/routing`: each percentage that was given, before and after. */
export interface RoutingAnswer {
  shadow?: RoutingChange<number>;
  canary?: RoutingChange<number> & { clearedTrip: string | null };
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1 };

/** Throws TANDEM_ERR_AUTH_FORBIDDEN unless `p` has at least `role` (the same check as the routes' requireRole). */
export function assertRole(p: Principal, role: Role): void {
  if (RANK[p.role] < RANK[role])
    throw new TandemError('AUTH_FORBIDDEN', `this needs an ${role} token; token ${p.name} is a ${p.role}`, {
      need: role,
      role: p.role,
    });
}

/** Logs an action's outcome (action, actor, outcome; never the body's values beyond the action name). */
async function logged<R>(ctx: ServerContext, action: string, p: Principal, run: () => Promise<R>): Promise<R> {
  try {
    const r = await run();
    ctx.log.info({ event: 'server.action', action, actor: actorOf(p), outcome: 'ok' }, `api ${action}: ok`);
    return r;
  } catch (e) {
    const code = e instanceof TandemError ? e.code : 'TANDEM_ERR_INTERNAL';
    ctx.log.warn(
      { event: 'server.action', action, actor: actorOf(p), outcome: 'error', code },
      `api ${action}: ${code}`,
    );
    throw e;
  }
}

/** Prepares an operator action: role check, body check (before anything is written). */
function operator<S extends z.ZodType>(p: Principal, schema: S, body: unknown): z.output<S> {
  assertRole(p, 'operator');
  return parseInput(schema, body);
}

/** `POST /api/backfill/pause`: every backfill stops after its chunk in flight (all workers). Body `{}`. */
export const pauseAction: Action<BackfillControlChange> = (ctx, p, body) => {
  operator(p, EmptyBody, body);
  return logged(ctx, 'backfill pause', p, async () => {
    await ensureControlSchema(ctx.m.stores.control);
    return pauseBackfill(ctx.m.stores.control, { command: 'api backfill pause', actor: actorOf(p) });
  });
};

/** `POST /api/backfill/resume`: paused backfills go on. Body `{}`. */
export const resumeAction: Action<BackfillControlChange> = (ctx, p, body) => {
  operator(p, EmptyBody, body);
  return logged(ctx, 'backfill resume', p, async () => {
    await ensureControlSchema(ctx.m.stores.control);
    return resumeBackfill(ctx.m.stores.control, { command: 'api backfill resume', actor: actorOf(p) });
  });
};

/**
 * `POST /api/backfill/tune`: body `{ maxRowsPerSecond?: number | null, chunkSeconds?: number | null }` (at least
 * one). Ranges are checked by `checkTune`: TANDEM_ERR_TUNE_INVALID naming the field, nothing written.
 */
export const tuneAction: Action<BackfillControlChange> = async (ctx, p, body) => {
  const t = operator(p, TuneBody, body);
  return logged(ctx, 'backfill tune', p, async () => {
    await ensureControlSchema(ctx.m.stores.control);
    return tuneBackfill(ctx.m.stores.control, t, { command: 'api backfill tune', actor: actorOf(p) });
  });
};

/**
 * `POST /api/routing`: body `{ shadowPercent?, canaryPercent? }` (0…100, two decimals, number or decimal text; at
 * least one). Both are checked before anything is written (TANDEM_ERR_ROUTING_PERCENT_INVALID); the canary is set
 * first, so a raise refused while the guard's cooldown runs (TANDEM_ERR_ROUTING_GUARD_TRIPPED) writes neither.
 */
export const routingAction: Action<RoutingAnswer> = async (ctx, p, body) => {
  const b = operator(p, RoutingBody, body);
  if (b.shadowPercent !== undefined) parsePercent(b.shadowPercent, 'shadowPercent');
  if (b.canaryPercent !== undefined) parsePercent(b.canaryPercent, 'canaryPercent');
  return logged(ctx, 'routing', p, async () => {
    const control = ctx.m.stores.control;
    await ensureControlSchema(control);
    const o = { command: 'api routing', actor: actorOf(p) };
    const out: RoutingAnswer = {};
    if (b.canaryPercent !== undefined) out.canary = await setCanaryPercent(control, b.canaryPercent, o);
    if (b.shadowPercent !== undefined) out.shadow = await setShadowPercent(control, b.shadowPercent, o);
    return out;
  });
};

/** `POST /api/kill`: the kill switch on (every read to legacy within `routing.refreshMs`). Body `{}`. */
export const killAction: Action<RoutingChange<boolean>> = (ctx, p, body) => {
  operator(p, EmptyBody, body);
  return logged(ctx, 'kill', p, async () => {
    await ensureControlSchema(ctx.m.stores.control);
    return killRouting(ctx.m.stores.control, { command: 'api kill', actor: actorOf(p) });
  });
};

/** `POST /api/unkill`: the kill switch off. Body `{}`. */
export const unkillAction: Action<RoutingChange<boolean>> = (ctx, p, body) => {
  operator(p, EmptyBody, body);
  return logged(ctx, 'unkill', p, async () => {
    await ensureControlSchema(ctx.m.stores.control);
    return unkillRouting(ctx.m.stores.control, { command: 'api unkill', actor: actorOf(p) });
  });
};

/** The contexts with a phase action in flight. */
const busy = new WeakSet<ServerContext>();

/** Runs one phase action at a time per server; a second throws TANDEM_ERR_ACTION_IN_PROGRESS. */
async function exclusive<R>(ctx: ServerContext, what: string, run: () => Promise<R>): Promise<R> {
  if (busy.has(ctx))
    throw new TandemError('ACTION_IN_PROGRESS', `${what} refused: another phase action is running in this server`, {
      action: what,
    });
  busy.add(ctx);
  try {
    return await run();
  } finally {
    busy.delete(ctx);
  }
}

/**
 * `POST /api/phase/advance`: body `{ to?: phase, force?: boolean }` — `tandem phase advance`: the gates of `to`
 * (default the next phase), the move when they pass or `force`. Throws TANDEM_ERR_GATE_FAILED (409, nothing
 * written, `detail.failing`), TANDEM_ERR_USAGE (400) for a destination that is cutover's or rollback's.
 */
export const advanceAction: Action<PhaseAdvanceReport> = (ctx, p, body) => {
  const b = operator(p, AdvanceBody, body);
  return logged(ctx, 'phase advance', p, () =>
    exclusive(ctx, 'phase advance', () =>
      advancePhase(ctx.m, {
        to: b.to,
        force: b.force,
        out: () => {},
        command: 'api phase advance',
        actor: actorOf(p),
      }),
    ),
  );
};

/**
 * `POST /api/cutover`: body `{ force?: boolean }` — `tandem cutover` (fenced write cutover to new_primary).
 * Synchronous: answers the {@link CutoverReport} when done (bounded by `cutover.drainTimeoutSeconds`).
 */
export const cutoverAction: Action<CutoverReport> = (ctx, p, body) => {
  const b = operator(p, CutoverBody, body);
  return logged(ctx, 'cutover', p, () =>
    exclusive(ctx, 'cutover', () =>
      cutover(ctx.m, {
        force: !!b.force,
        command: 'api cutover',
        actor: actorOf(p),
        onStep: (step) => ctx.log.info({ event: 'server.cutover_step', step }, `cutover: ${step}`),
      }),
    ),
  );
};

/**
 * `POST /api/rollback`: body `{ reconciled?: boolean, verify?: boolean }` — `tandem rollback`. Synchronous:
 * answers the {@link RollbackReport} when done (the verification after a flip back included, unless
 * `verify: false`).
 */
export const rollbackAction: Action<RollbackReport> = (ctx, p, body) => {
  const b = operator(p, RollbackBody, body);
  return logged(ctx, 'rollback', p, () =>
    exclusive(ctx, 'rollback', () =>
      rollback(ctx.m, {
        reconciled: !!b.reconciled,
        verify: b.verify !== false,
        command: 'api rollback',
        actor: actorOf(p),
        onStep: (step) => ctx.log.info({ event: 'server.rollback_step', step }, `rollback: ${step}`),
      }),
    ),
  );
};

/** Every action by its API path under `/api` (POST). */
export const ACTIONS = {
  'backfill/pause': pauseAction,
  'backfill/resume': resumeAction,
  'backfill/tune': tuneAction,
  routing: routingAction,
  kill: killAction,
  unkill: unkillAction,
  'phase/advance': advanceAction,
  cutover: cutoverAction,
  rollback: rollbackAction,
} as const satisfies Record<string, Action<unknown>>;

/** The path (under `/api`) of an action. */
export type ActionName = keyof typeof ACTIONS;

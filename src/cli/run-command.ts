import { DEFAULT_RELAY_BATCH } from '../apply/relay.js';
import { type Command, InvalidArgumentError } from 'commander';
import { startHeartbeat, DEFAULT_HEARTBEAT_SECONDS, type Heartbeat } from '../control/heartbeat.js';
import { errorLine } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { openMigration, type Migration } from '../runtime/migration.js';
import type { RelayStats } from '../apply/relay.js';
import type { RelayMode } from '../runtime/services/relay.js';
import { stopOn } from '../runtime/services/service.js';
import { refreshStatusMetrics } from '../runtime/metrics.js';
import { entityList, EXIT, reportError, stopOnSignals, auditSafely, contextOf } from './context.js';
import { enumOption, intOption, numberOption, PORT } from './options.js';
import { listenMetrics } from './relay.js';
import type { RunningServer } from '../server/app.js';
import { httpAddress, parseListen } from '../server/listen.js';

interface RunOptions {
  entity?: string;
  relayMode: RelayMode;
  batchSize: number;
  maxAttempts: number;
  maxRowsPerSecond?: number;
  verifyInterval?: number;
  verifyLagSeconds?: number;
  phasePollSeconds: number;
  waitSeconds?: number;
  metricsPort?: number;
  /** `--http` alone: the config's `server.listen`; `--http host:port`: that address. */
  http?: string | true;
}

/** Seconds between two continuous-verification passes of `tandem run` when neither flag nor config says. */
export const DEFAULT_RUN_VERIFY_INTERVAL = 300;

const HELP = `
The worker: one long-running process that runs, per phase, what the migration needs —
  prepare, decommissioned         nothing (it waits for the phase to change)
  dual_write, shadow, canary      the backfill of every entity until done, the relay legacy → new,
                                  continuous verification every --verify-interval (config verify.intervalSeconds,
                                  default 300 s) once the backfill is done
  shadow, canary                  and the guard: it judges the new store's reads (config guard) and sets the
                                  canary to 0 on a breach (docs/guard.md)
  new_primary, legacy_read_only   the reverse relay new → legacy, continuous verification
It follows phase changes without a restart (the relay turns around at write cutover), waits out a store that
is down, beats a heartbeat (role run, see tandem status) and logs JSON lines (TANDEM_LOG_LEVEL, --log-file).
Run several on several machines: relay batches are shared (SKIP LOCKED); an entity's backfill is held by one
worker at a time (its lease), the others wait. --http serves the JSON API (docs/api.md: status, gates, audit,
mismatches; pause/resume/tune of the running backfill, routing, kill, phase advance, cutover, rollback; bearer
tokens of the config's server.tokens), the dashboard and /metrics. SIGINT/SIGTERM stop it gracefully (the chunk, batch or statement
in flight finishes); exit 0, 2 on an error that is not transient.`;

/** Registers `tandem run`: the worker (src/runtime/services/supervisor.ts). */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('the worker: backfill, relay and continuous verification as the phase calls for them, until stopped')
    .option('--entity <names>', 'only these entities (comma-separated)')
    .option(
      '--relay-mode <mode>',
      'direct: outbox → secondary; publish: outbox → broker; consume: broker → secondary',
      enumOption(['direct', 'publish', 'consume'] as const),
      'direct',
    )
    .option(
      '--batch-size <n>',
      'relay: changes claimed per batch (1 to 100000)',
      intOption({ min: 1, max: 100_000 }),
      DEFAULT_RELAY_BATCH,
    )
    .option(
      '--max-attempts <n>',
      'relay: attempts before a change goes to the dead-letter table',
      intOption({ min: 1, max: 1_000_000 }),
      10,
    )
    .option(
      '--max-rows-per-second <n>',
      'backfill and verification throttle: rows per second (overrides the config)',
      numberOption({ above: 0 }),
    )
    .option(
      '--verify-interval <s>',
      'seconds between the starts of two continuous-verification passes (0: off; ' +
        'default: config verify.intervalSeconds, else 300)',
      numberOption({ min: 0, max: 604_800 }),
    )
    .option(
      '--verify-lag-seconds <s>',
      'seconds a difference must last before it is confirmed (default: config ' + 'verify.lagSeconds, 30)',
      numberOption({ min: 0, max: 86_400 }),
    )
    .option('--phase-poll-seconds <s>', 'how often the phase is read', numberOption({ above: 0, max: 3600 }), 2)
    .option(
      '--wait-seconds <n>',
      'how long to wait for an unreachable store at start (default: as long as it takes)',
      numberOption({ min: 0, max: 31_536_000 }),
    )
    .option(
      '--metrics-port <n>',
      'serve Prometheus metrics on 127.0.0.1:<n>/metrics while running (0: any free port)',
      intOption(PORT),
    )
    .option(
      '--http [host:port]',
      'serve the API, the dashboard and /metrics (default address: config server.listen, 127.0.0.1:7070; port 0: any free port)',
      (v: string) => {
        try {
          parseListen(v);
        } catch {
          throw new InvalidArgumentError('host:port (127.0.0.1:7070, [::1]:7070, 127.0.0.1:0)');
        }
        return v;
      },
    )
    .addHelpText('after', HELP)
    .action(async (opts: RunOptions, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string;
      const stop = stopOnSignals('stopping the services after the work in flight');
      const log = createLogger();
      let m: Migration | undefined;
      let hb: Heartbeat | undefined;
      let http: RunningServer | undefined;
      const metricsStop = new AbortController();
      let args: Record<string, unknown> = {
        config: configPath,
        entity: opts.entity ?? null,
        relayMode: opts.relayMode,
      };
      try {
        m = await openMigration(configPath, {
          entities: entityList(opts.entity),
          log,
          signal: stop.signal,
          waitSeconds: opts.waitSeconds ?? Number.POSITIVE_INFINITY,
          onWaiting: (e) => process.stderr.write(`${e.toLine()} — retrying\n`),
        });
      } catch (e) {
        stop.dispose();
        process.exitCode = stop.signal.aborted ? EXIT.ok : reportError(e);
        return;
      }
      const ctx = contextOf(m, configPath);
      // the flags override the config (verify.intervalSeconds, verify.lagSeconds), which overrides the defaults
      const verifyInterval = opts.verifyInterval ?? m.config.verify.intervalSeconds ?? DEFAULT_RUN_VERIFY_INTERVAL;
      const verifyLagSeconds = opts.verifyLagSeconds ?? m.config.verify.lagSeconds;
      args = { ...args, verifyInterval };
      try {
        // checked before anything runs: a non-loopback address without tokens is refused
        const httpAddr = opts.http ? httpAddress(opts.http, m) : null;
        if (opts.metricsPort !== undefined) {
          const port = await listenMetrics(opts.metricsPort, metricsStop.signal, () =>
            refreshStatusMetrics(ctx.migration),
          );
          log.info({ event: 'run.metrics', port }, `metrics on http://127.0.0.1:${port}/metrics`);
        }
        hb = await startHeartbeat(m.stores.control, {
          role: 'run',
          intervalMs: (m.config.heartbeatSeconds ?? DEFAULT_HEARTBEAT_SECONDS) * 1000,
          log,
          info: { relayMode: opts.relayMode, verifyInterval },
        });
        const totals = logEvents(m);
        const sup = m.services.supervisor({
          backfill: { heartbeat: hb, maxRowsPerSecond: opts.maxRowsPerSecond },
          relay: { mode: opts.relayMode, batchSize: opts.batchSize, maxAttempts: opts.maxAttempts },
          verify: {
            intervalSeconds: verifyInterval,
            lagSeconds: verifyLagSeconds,
            maxRowsPerSecond: opts.maxRowsPerSecond,
          },
          phasePollMs: opts.phasePollSeconds * 1000,
        });
        // the HTTP stack (hono, the dashboard) is loaded only when it is served
        if (httpAddr) http = await (await import('../server/run-http.js')).startRunHttp(m, sup, httpAddr, log);
        log.info({ event: 'run.start', pid: process.pid, ...args }, 'tandem run: started');
        await sup.start();
        const unlink = stopOn(sup, stop.signal);
        await sup.wait().finally(unlink);
        log.info({ event: 'run.stop', signal: stop.received, relay: totals() }, 'tandem run: stopped');
        await auditSafely(ctx, {
          command: 'run',
          args,
          outcome: 'ok',
          detail: stop.received ? `stopped by ${stop.received}` : undefined,
        });
        process.exitCode = EXIT.ok;
      } catch (e) {
        await auditSafely(ctx, { command: 'run', args, outcome: 'error', detail: errorLine(e) });
        process.exitCode = reportError(e);
      } finally {
        await http?.close();
        await hb?.stop();
        metricsStop.abort();
        stop.dispose();
        await m.close();
      }
    });
}

/**
 * The runtime's events as JSON log lines (progress throttled to one line per second and entity / direction).
 * Returns what this process's relay did in all (every leg, both directions), for the `run.stop` line.
 */
type RelayTotals = Pick<RelayStats, 'batches' | 'changes' | 'applied' | 'deleted' | 'deadLettered'>;

function logEvents(m: Migration): () => RelayTotals {
  // each relay leg reports its own running figures (one object per leg): the sum over legs is the process's
  const legs = new Set<RelayStats>();
  const log = m.log;
  const last = new Map<string, number>();
  let guardState: string | null = null;
  const due = (k: string) => {
    const now = Date.now();
    if (now - (last.get(k) ?? 0) < 1000) return false;
    last.set(k, now);
    return true;
  };
  m.events
    .on('phase:changed', (e) => log.info({ event: 'run.phase_changed', ...e }, `phase: ${e.from ?? '-'} → ${e.to}`))
    .on('service:state', (e) =>
      log.info({ event: 'run.service', ...e }, `${e.service}: ${e.state}${e.error ? ` (${e.error})` : ''}`),
    )
    .on('backfill:start', (e) => log.info({ event: 'run.backfill_start', ...e }, `${e.entity}: backfill`))
    .on('backfill:progress', (e) => {
      if (due(`b:${e.entity}`))
        log.info({ event: 'run.backfill_progress', ...e }, `${e.entity}: ${e.copied} of ${e.total} rows`);
    })
    .on('backfill:done', (e) => log.info({ event: 'run.backfill_done', ...e }, `${e.entity}: backfill done`))
    .on('relay:batch', (e) => {
      legs.add(e.stats);
      if (due(`r:${e.direction}`))
        log.info(
          { event: 'run.relay_batch', direction: e.direction, mode: e.mode, ...e.stats },
          `relay ${e.direction}: ${e.stats.changes} changes`,
        );
    })
    .on('relay:direction', (e) =>
      log.warn({ event: 'run.relay_direction', ...e }, `relay turned around: ${e.direction}`),
    )
    .on('verify:cycle', (e) => log.info({ event: 'run.verify_cycle', ...e }, e.headline))
    .on('verify:mismatch', (e) =>
      log.warn(
        { event: 'run.verify_mismatch', ...e },
        `${e.entity}: ${e.pending} pending, ${e.confirmed} confirmed mismatches`,
      ),
    )
    .on('guard:verdict', (e) => {
      if (e.verdict.state !== guardState && (guardState = e.verdict.state))
        log.info({ event: 'run.guard', state: e.verdict.state, reason: e.verdict.reason }, `guard: ${e.verdict.state}`);
    })
    .on('guard:tripped', (e) =>
      log.warn(
        { event: 'run.guard_tripped', reason: e.verdict.reason },
        `guard tripped, canary set to 0: ${e.verdict.reason}`,
      ),
    );
  return () => {
    const t: RelayTotals = { batches: 0, changes: 0, applied: 0, deleted: 0, deadLettered: 0 };
    for (const s of legs) for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] += s[k];
    return t;
  };
}

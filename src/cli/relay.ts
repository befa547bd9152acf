import { DEFAULT_RELAY_BATCH } from '../apply/relay.js';
import type { Command } from 'commander';
import type { RelayMode } from '../runtime/services/relay.js';
import { stopOn } from '../runtime/services/service.js';
import { refreshStatusMetrics } from '../runtime/metrics.js';
import { loadConfig } from '../config/load.js';
import { serveMetrics } from '../core/metrics.js';
import { ensureControlSchema } from '../control/control.js';
import { TandemError, errorLine } from '../core/errors.js';
import { commandHeartbeat } from './heartbeat.js';
import { auditSafely, entityList, EXIT, openContext, prepareControl, reportError, stopOnSignals } from './context.js';
import { enumOption, intOption, numberOption, PORT } from './options.js';

export function registerRelay(program: Command): void {
  program
    .command('relay')
    .description(
      'drain the outbox of the primary and apply every change to the secondary (run several at once to scale)',
    )
    .option('--entity <names>', 'only these entities (comma-separated)')
    .option(
      '--batch-size <n>',
      'changes claimed per batch (1 to 100000)',
      intOption({ min: 1, max: 100_000 }),
      DEFAULT_RELAY_BATCH,
    )
    .option(
      '--max-attempts <n>',
      'attempts before a change goes to the dead-letter table',
      intOption({ min: 1, max: 1_000_000 }),
      10,
    )
    .option(
      '--mode <mode>',
      'direct: outbox → secondary; publish: outbox → broker; consume: broker → secondary',
      enumOption(['direct', 'publish', 'consume'] as const),
      'direct',
    )
    .option('--until-empty', 'stop once every change is applied (or dead-lettered) instead of polling')
    .option(
      '--wait-seconds <n>',
      'how long to wait for an unreachable store at start',
      numberOption({ min: 0, max: 86_400 }),
      60,
    )
    .option(
      '--metrics-port <n>',
      'serve Prometheus metrics on 127.0.0.1:<n>/metrics while running (0: any free port)',
      intOption(PORT),
    )
    .option('--json', 'print the final figures as JSON')
    .addHelpText(
      'after',
      '\nStops on SIGINT/SIGTERM after the batch in flight, prints its figures and audits the run. Exit codes: 0 (also\nwhen a polling relay is stopped by a signal: that is how a daemon ends), 2 error; with --until-empty, stopped by a\nsignal before the outbox was empty: 130 (SIGINT) or 143 (SIGTERM).',
    )
    .action(
      async (
        opts: {
          entity?: string;
          batchSize: number;
          maxAttempts: number;
          mode: string;
          untilEmpty?: boolean;
          waitSeconds: number;
          metricsPort?: number;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const configPath = cmd.optsWithGlobals().config as string;
        let ctx: Awaited<ReturnType<typeof openContext>> | undefined;
        // SIGINT and SIGTERM stop the relay after the batch in flight (and end the wait for a store at start)
        const stop = stopOnSignals('stopping after the batch in flight');
        try {
          if (opts.mode !== 'direct' && !(await loadConfig(configPath)).transport)
            throw new TandemError(
              'CONFIG_INVALID',
              `--mode ${opts.mode} needs a broker: add transport: { url: 'amqp://…' | 'nats://…' | 'redis://…' } to the config`,
            );
          // a relay is a daemon: a store that is down at start is waited for (up to --wait-seconds), not fatal
          ctx = await openContext(configPath, entityList(opts.entity), undefined, {
            waitSeconds: opts.waitSeconds,
            signal: stop.signal,
            onWaiting: (e) => process.stderr.write(`${e.toLine()} — retrying\n`),
          });
        } catch (e) {
          stop.dispose();
          process.exitCode = reportError(e, !!opts.json);
          return;
        }
        const args: Record<string, unknown> = {
          config: configPath,
          entity: opts.entity ?? null,
          mode: opts.mode,
          untilEmpty: !!opts.untilEmpty,
        };
        let hb: Awaited<ReturnType<typeof commandHeartbeat>> | undefined;
        // stopped by a signal before the outbox was drained: not done (a polling relay has no end but a signal)
        const outcome = () => (stop.signal.aborted && opts.untilEmpty ? 'interrupted' : 'ok');
        const exitCode = () => (stop.signal.aborted && opts.untilEmpty ? stop.exitCode : EXIT.ok);
        const metricsStop = new AbortController();
        // the metrics port is bound before any store is written: a port in use stops the relay with nothing written
        if (opts.metricsPort !== undefined) {
          try {
            const port = await listenMetrics(
              opts.metricsPort,
              metricsStop.signal,
              refreshStatusMetrics.bind(null, ctx.migration),
            );
            ctx.log.info({ event: 'relay.metrics', port }, `metrics on http://127.0.0.1:${port}/metrics`);
          } catch (e) {
            stop.dispose();
            await ctx.close();
            process.exitCode = reportError(e);
            return;
          }
        }
        const c = ctx;
        const relay = c.migration.services.relay({
          mode: opts.mode as RelayMode,
          batchSize: opts.batchSize,
          maxAttempts: opts.maxAttempts,
          untilEmpty: opts.untilEmpty,
        });
        let unlink = () => {};
        try {
          await prepareControl(ctx);
          hb = await commandHeartbeat(ctx, 'relay', { mode: opts.mode });
          await ensureControlSchema(ctx.source);
          await c.migration.readPhase().catch(() => {});
          args.direction = c.migration.roles().direction === 'reverse' ? 'new → legacy' : 'legacy → new';
          let last = 0;
          c.migration.events.on('relay:batch', ({ stats: x }) => {
            if (Date.now() - last < 1000) return;
            last = Date.now();
            c.log.info(
              { event: 'relay.progress', ...x },
              `relay: ${x.changes} changes, ${x.applied} applied, ${x.deleted} deleted, ${x.deadLettered} dead-lettered, max lag ${x.maxLagMs} ms`,
            );
          });
          await relay.start();
          unlink = stopOn(relay, stop.signal);
          const r = await relay.wait();
          const stats = r.stats;
          if (opts.mode === 'publish') {
            process.stdout.write(
              opts.json
                ? `${JSON.stringify({ forwarded: r.forwarded })}\n`
                : `relay: ${r.forwarded} changes published to ${transportKind(c.config.transport!.url)}\n`,
            );
            await auditSafely(ctx, {
              command: 'relay',
              args,
              outcome: outcome(),
              detail: JSON.stringify({ forwarded: r.forwarded }),
            });
          } else if (opts.mode === 'consume') {
            process.stdout.write(
              opts.json
                ? `${JSON.stringify(stats)}\n`
                : `relay: ${stats.changes} changes from ${transportKind(c.config.transport!.url)}, ${stats.applied} rows applied, ${stats.deleted} deleted, ${stats.deadLettered} dead-lettered\n`,
            );
            await auditSafely(ctx, { command: 'relay', args, outcome: outcome(), detail: JSON.stringify(stats) });
          } else {
            process.stdout.write(
              opts.json
                ? `${JSON.stringify(stats)}\n`
                : `relay: ${stats.changes} changes, ${stats.applied} rows applied, ${stats.deleted} deleted, ${stats.skipped} skipped (not newer), ${stats.deadLettered} dead-lettered, max lag ${stats.maxLagMs} ms\n`,
            );
            await auditSafely(ctx, { command: 'relay', args, outcome: outcome(), detail: JSON.stringify(stats) });
          }
          process.exitCode = exitCode();
        } catch (e) {
          await auditSafely(ctx, { command: 'relay', args, outcome: 'error', detail: errorLine(e) });
          process.exitCode = reportError(e);
        } finally {
          unlink();
          await relay.stop();
          await hb?.stop();
          metricsStop.abort();
          stop.dispose();
          await ctx.close();
        }
      },
    );
}

/** The broker kind of a transport URL, for the summary line (`rabbitmq`, `nats`, `redis`). */
function transportKind(url: string): string {
  const scheme = url.split(':')[0] ?? '';
  return scheme.startsWith('amqp')
    ? 'rabbitmq'
    : scheme.startsWith('nats')
      ? 'nats'
      : scheme.startsWith('redis')
        ? 'redis'
        : scheme;
}

/**
 * Serves /metrics on 127.0.0.1:`port` (`beforeScrape` runs before each answer: the control-plane gauges); a port
 * that cannot be bound throws TANDEM_ERR_USAGE. @internal
 */
export async function listenMetrics(
  port: number,
  signal: AbortSignal,
  beforeScrape?: () => Promise<void>,
): Promise<number> {
  return serveMetrics(port, signal, { beforeScrape }).catch((e: NodeJS.ErrnoException) => {
    throw new TandemError(
      'USAGE',
      `--metrics-port ${port}: cannot listen on 127.0.0.1:${port} (${e.code ?? e.message})`,
    );
  });
}

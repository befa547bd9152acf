import type { Command } from 'commander';
import { consumeChanges, forwardOutbox } from '../apply/broker.js';
import { addRelayStats, emptyRelayStats, runRelay } from '../apply/relay.js';
import { openTransport, type Transport } from '../capture/transport/types.js';
import { loadConfig } from '../config/load.js';
import { serveMetrics } from '../core/metrics.js';
import { ensureControlSchema } from '../control/control.js';
import { primaryRole, readPhase } from '../control/phase.js';
import { reverseEntity } from '../core/reverse.js';
import { TandemError, errorLine, isTandemError } from '../core/errors.js';
import { commandHeartbeat } from './heartbeat.js';
import { auditSafely, entityList, EXIT, openContext, prepareControl, reportError, stopOnSignals } from './context.js';
import { enumOption, intOption, numberOption, PORT } from './options.js';

export function registerRelay(program: Command): void {
  program
    .command('relay')
    .description('drain the outbox of the primary and apply every change to the secondary (run several at once to scale)')
    .option('--entity <names>', 'only these entities (comma-separated)')
    .option('--batch-size <n>', 'changes claimed per batch (1 to 100000)', intOption({ min: 1, max: 100_000 }), 500)
    .option('--max-attempts <n>', 'attempts before a change goes to the dead-letter table', intOption({ min: 1, max: 1_000_000 }), 10)
    .option('--mode <mode>', 'direct: outbox → secondary; publish: outbox → broker; consume: broker → secondary', enumOption(['direct', 'publish', 'consume'] as const), 'direct')
    .option('--until-empty', 'stop once every change is applied (or dead-lettered) instead of polling')
    .option('--wait-seconds <n>', 'how long to wait for an unreachable store at start', numberOption({ min: 0, max: 86_400 }), 60)
    .option('--metrics-port <n>', 'serve Prometheus metrics on 127.0.0.1:<n>/metrics while running (0: any free port)', intOption(PORT))
    .option('--json', 'print the final figures as JSON')
    .addHelpText('after', '\nStops on SIGINT/SIGTERM after the batch in flight, prints its figures and audits the run. Exit codes: 0 (also\nwhen a polling relay is stopped by a signal: that is how a daemon ends), 2 error; with --until-empty, stopped by a\nsignal before the outbox was empty: 130 (SIGINT) or 143 (SIGTERM).')
    .action(async (opts: { entity?: string; batchSize: number; maxAttempts: number; mode: string; untilEmpty?: boolean; waitSeconds: number; metricsPort?: number; json?: boolean }, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string;
      let ctx: Awaited<ReturnType<typeof openContext>> | undefined;
      // SIGINT and SIGTERM stop the relay after the batch in flight (and end the wait for a store at start)
      const stop = stopOnSignals('stopping after the batch in flight');
      try {
        if (opts.mode !== 'direct' && !(await loadConfig(configPath)).transport)
          throw new TandemError('CONFIG_INVALID', `--mode ${opts.mode} needs a broker: add transport: { url: 'amqp://…' | 'nats://…' | 'redis://…' } to the config`);
        // a relay is a daemon: a store that is down at start is waited for (up to --wait-seconds), not fatal
        const until = Date.now() + opts.waitSeconds * 1000;
        for (;;) {
          try {
            ctx = await openContext(configPath, entityList(opts.entity));
            break;
          } catch (e) {
            if (!isTandemError(e, 'STORE_UNREACHABLE') || Date.now() > until || stop.signal.aborted) throw e;
            process.stderr.write(`${e.toLine()} — retrying\n`);
            await new Promise((r) => setTimeout(r, 1000));
          }
        }
      } catch (e) {
        stop.dispose();
        process.exitCode = reportError(e);
        return;
      }
      const args: Record<string, unknown> = { config: configPath, entity: opts.entity ?? null, mode: opts.mode, untilEmpty: !!opts.untilEmpty };
      let transport: Transport | undefined;
      let hb: Awaited<ReturnType<typeof commandHeartbeat>> | undefined;
      // stopped by a signal before the outbox was drained: not done (a polling relay has no end but a signal)
      const outcome = () => (stop.signal.aborted && opts.untilEmpty ? 'interrupted' : 'ok');
      const exitCode = () => (stop.signal.aborted && opts.untilEmpty ? stop.exitCode : EXIT.ok);
      const metricsStop = new AbortController();
      // the metrics port is bound before any store is written: a port in use stops the relay with nothing written
      if (opts.metricsPort !== undefined) {
        try {
          const port = await serveMetrics(opts.metricsPort, metricsStop.signal).catch((e: NodeJS.ErrnoException) => {
            throw new TandemError('USAGE', `--metrics-port ${opts.metricsPort}: cannot listen on 127.0.0.1:${opts.metricsPort} (${e.code ?? e.message})`);
          });
          ctx.log.info({ event: 'relay.metrics', port }, `metrics on http://127.0.0.1:${port}/metrics`);
        } catch (e) {
          stop.dispose();
          await ctx.close();
          process.exitCode = reportError(e);
          return;
        }
      }
      try {
        await prepareControl(ctx);
        hb = await commandHeartbeat(ctx, 'relay', { mode: opts.mode });
        await ensureControlSchema(ctx.source);
        // the direction follows the phase: legacy → new until write cutover, new → legacy (reverse relay) after
        const c = ctx;
        const direction = async () => primaryRole(await readPhase(c.control).catch(() => 'dual_write' as const));
        let role = await direction();
        const roles = (r: 'legacy' | 'new') => r === 'new'
          ? { primary: c.target, secondary: c.source, entities: c.entities.map(reverseEntity) }
          : { primary: c.source, secondary: c.target, entities: c.entities };
        const { primary, secondary, entities } = roles(role);
        args.direction = role === 'new' ? 'new → legacy' : 'legacy → new';
        if (opts.mode !== 'direct') {
          transport = await openTransport(ctx.config.transport!.url, { name: ctx.config.transport!.name, maxAttempts: opts.maxAttempts, logger: ctx.log });
          if (opts.mode === 'publish') {
            const forwarded = await forwardOutbox({ primary, transport, log: ctx.log, batchSize: opts.batchSize, signal: stop.signal, untilEmpty: opts.untilEmpty });
            process.stdout.write(opts.json ? `${JSON.stringify({ forwarded })}\n` : `relay: ${forwarded} changes published to ${transport.kind}\n`);
            await auditSafely(ctx, { command: 'relay', args, outcome: outcome(), detail: JSON.stringify({ forwarded }) });
          } else {
            const stats = await consumeChanges({ transport, primary, secondary, control: ctx.control, entities, log: ctx.log, batchSize: opts.batchSize, maxAttempts: opts.maxAttempts, signal: stop.signal, untilEmpty: opts.untilEmpty });
            process.stdout.write(opts.json ? `${JSON.stringify(stats)}\n` : `relay: ${stats.changes} changes from ${transport.kind}, ${stats.applied} rows applied, ${stats.deleted} deleted, ${stats.deadLettered} dead-lettered\n`);
            await auditSafely(ctx, { command: 'relay', args, outcome: outcome(), detail: JSON.stringify(stats) });
          }
          process.exitCode = exitCode();
          return;
        }
        let last = 0;
        let stats = emptyRelayStats();
        // run in the current direction; a phase change across write cutover restarts the loop the other way
        for (let turn = 0; !stop.signal.aborted; turn++) {
          const current = turn === 0 ? { primary, secondary, entities } : roles(role);
          const leg = new AbortController();
          const onStop = () => leg.abort();
          stop.signal.addEventListener('abort', onStop, { once: true });
          const watch = setInterval(() => {
            direction().then((r) => { if (r !== role) { role = r; leg.abort(); } }, () => {});
          }, 2000);
          const s = await runRelay({
            primary: current.primary, secondary: current.secondary, control: ctx.control, entities: current.entities, log: ctx.log,
            batchSize: opts.batchSize, maxAttempts: opts.maxAttempts, untilEmpty: opts.untilEmpty, signal: leg.signal,
            onBatch: (x) => {
              if (Date.now() - last < 1000) return;
              last = Date.now();
              c.log.info({ event: 'relay.progress', ...x }, `relay: ${x.changes} changes, ${x.applied} applied, ${x.deleted} deleted, ${x.deadLettered} dead-lettered, max lag ${x.maxLagMs} ms`);
            },
          });
          clearInterval(watch);
          stop.signal.removeEventListener('abort', onStop);
          stats = addRelayStats(stats, s);
          if (opts.untilEmpty) break;
          if (!stop.signal.aborted) c.log.warn({ event: 'relay.direction', primary: role }, `phase changed: the relay now runs ${role === 'new' ? 'new → legacy' : 'legacy → new'}`);
        }
        process.stdout.write(opts.json ? `${JSON.stringify(stats)}\n` : `relay: ${stats.changes} changes, ${stats.applied} rows applied, ${stats.deleted} deleted, ${stats.skipped} skipped (not newer), ${stats.deadLettered} dead-lettered, max lag ${stats.maxLagMs} ms\n`);
        await auditSafely(ctx, { command: 'relay', args, outcome: outcome(), detail: JSON.stringify(stats) });
        process.exitCode = exitCode();
      } catch (e) {
        await auditSafely(ctx, { command: 'relay', args, outcome: 'error', detail: errorLine(e) });
        process.exitCode = reportError(e);
      } finally {
        await hb?.stop();
        metricsStop.abort();
        await transport?.close().catch(() => {});
        stop.dispose();
        await ctx.close();
      }
    });
}

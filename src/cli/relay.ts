import type { Command } from 'commander';
import { consumeChanges, forwardOutbox } from '../apply/broker.js';
import { runRelay } from '../apply/relay.js';
import { openTransport, type Transport } from '../capture/transport/types.js';
import { loadConfig } from '../config/load.js';
import { ensureControlSchema } from '../control/control.js';
import { TandemError, isTandemError } from '../core/errors.js';
import { auditSafely, entityList, EXIT, openContext, prepareControl, reportError } from './context.js';

export function registerRelay(program: Command): void {
  program
    .command('relay')
    .description('drain the outbox of the primary and apply every change to the secondary (run several at once to scale)')
    .option('--entity <names>', 'only these entities (comma-separated)')
    .option('--batch-size <n>', 'changes claimed per batch', (v) => Number(v), 500)
    .option('--max-attempts <n>', 'attempts before a change goes to the dead-letter table', (v) => Number(v), 10)
    .option('--mode <mode>', 'direct: outbox → secondary; publish: outbox → broker; consume: broker → secondary', 'direct')
    .option('--until-empty', 'stop once every change is applied (or dead-lettered) instead of polling')
    .option('--wait-seconds <n>', 'how long to wait for an unreachable store at start', (v) => Number(v), 60)
    .option('--json', 'print the final figures as JSON')
    .addHelpText('after', '\nStops on SIGINT/SIGTERM after the batch in flight. Exit codes: 0, 2 error.')
    .action(async (opts: { entity?: string; batchSize: number; maxAttempts: number; mode: string; untilEmpty?: boolean; waitSeconds: number; json?: boolean }, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string;
      let ctx: Awaited<ReturnType<typeof openContext>> | undefined;
      try {
        for (const [name, v] of [['--batch-size', opts.batchSize], ['--max-attempts', opts.maxAttempts]] as const)
          if (!Number.isInteger(v) || v < 1) throw new TandemError('USAGE', `${name} must be a whole number ≥ 1`);
        if (!['direct', 'publish', 'consume'].includes(opts.mode)) throw new TandemError('USAGE', `--mode must be direct, publish or consume (got "${opts.mode}")`);
        if (opts.mode !== 'direct' && !(await loadConfig(configPath)).transport)
          throw new TandemError('CONFIG_INVALID', `--mode ${opts.mode} needs a broker: add transport: { url: 'amqp://…' | 'nats://…' | 'redis://…' } to the config`);
        // a relay is a daemon: a store that is down at start is waited for (up to --wait-seconds), not fatal
        const until = Date.now() + opts.waitSeconds * 1000;
        for (;;) {
          try {
            ctx = await openContext(configPath, entityList(opts.entity));
            break;
          } catch (e) {
            if (!isTandemError(e, 'STORE_UNREACHABLE') || Date.now() > until) throw e;
            process.stderr.write(`${e.toLine()} — retrying\n`);
            await new Promise((r) => setTimeout(r, 1000));
          }
        }
      } catch (e) {
        process.exitCode = reportError(e);
        return;
      }
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const args = { config: configPath, entity: opts.entity ?? null, mode: opts.mode, untilEmpty: !!opts.untilEmpty };
      let transport: Transport | undefined;
      try {
        await prepareControl(ctx);
        await ensureControlSchema(ctx.source);
        if (opts.mode !== 'direct') {
          transport = await openTransport(ctx.config.transport!.url, { name: ctx.config.transport!.name, maxAttempts: opts.maxAttempts, logger: ctx.log });
          if (opts.mode === 'publish') {
            const forwarded = await forwardOutbox({ primary: ctx.source, transport, log: ctx.log, batchSize: opts.batchSize, signal: stop.signal, untilEmpty: opts.untilEmpty });
            process.stdout.write(opts.json ? `${JSON.stringify({ forwarded })}\n` : `relay: ${forwarded} changes published to ${transport.kind}\n`);
            await auditSafely(ctx, { command: 'relay', args, outcome: 'ok', detail: JSON.stringify({ forwarded }) });
          } else {
            const stats = await consumeChanges({ transport, primary: ctx.source, secondary: ctx.target, control: ctx.control, entities: ctx.entities, log: ctx.log, batchSize: opts.batchSize, maxAttempts: opts.maxAttempts, signal: stop.signal, untilEmpty: opts.untilEmpty });
            process.stdout.write(opts.json ? `${JSON.stringify(stats)}\n` : `relay: ${stats.changes} changes from ${transport.kind}, ${stats.applied} rows applied, ${stats.deleted} deleted, ${stats.deadLettered} dead-lettered\n`);
            await auditSafely(ctx, { command: 'relay', args, outcome: 'ok', detail: JSON.stringify(stats) });
          }
          process.exitCode = EXIT.ok;
          return;
        }
        let last = 0;
        const stats = await runRelay({
          primary: ctx.source, secondary: ctx.target, control: ctx.control, entities: ctx.entities, log: ctx.log,
          batchSize: opts.batchSize, maxAttempts: opts.maxAttempts, untilEmpty: opts.untilEmpty, signal: stop.signal,
          onBatch: (s) => {
            if (Date.now() - last < 1000) return;
            last = Date.now();
            ctx!.log.info({ event: 'relay.progress', ...s }, `relay: ${s.changes} changes, ${s.applied} applied, ${s.deleted} deleted, ${s.deadLettered} dead-lettered, max lag ${s.maxLagMs} ms`);
          },
        });
        process.stdout.write(opts.json ? `${JSON.stringify(stats)}\n` : `relay: ${stats.changes} changes, ${stats.applied} rows applied, ${stats.deleted} deleted, ${stats.skipped} skipped (not newer), ${stats.deadLettered} dead-lettered, max lag ${stats.maxLagMs} ms\n`);
        await auditSafely(ctx, { command: 'relay', args, outcome: 'ok', detail: JSON.stringify(stats) });
        process.exitCode = EXIT.ok;
      } catch (e) {
        await auditSafely(ctx, { command: 'relay', args, outcome: 'error', detail: isTandemError(e) ? e.toLine() : String((e as Error)?.message ?? e) });
        process.exitCode = reportError(e);
      } finally {
        await transport?.close().catch(() => {});
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await ctx.close();
      }
    });
}

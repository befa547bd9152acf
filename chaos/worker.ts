/**
 * The chaos worker of the sqlite→pglite direction: backfill and relay in ONE process, because a PGlite data
 * directory can be opened by one process only. `node --import tsx chaos/worker.ts <config> [maxRowsPerSecond]`
 *
 * - runs the backfill (prints `backfill-done` when every entity is copied) while the relay drains the outbox;
 * - SIGUSR1 starts a simulated target outage, SIGUSR2 ends it: every target statement fails as an unreachable
 *   store (TANDEM_ERR_STORE_UNREACHABLE), the way a cut connection fails — an embedded store has no socket to cut;
 * - SIGTERM means "the writers have stopped": it lets the backfill finish, drains the relay until the outbox is
 *   empty, and exits 0.
 * The harness SIGKILLs and restarts it as the schedule says.
 */
import type { Store } from '../src/stores/types.js';

// The handlers come first, before Tandem's modules load (static imports would be evaluated before them, and under
// load that takes seconds): a SIGUSR1 arriving earlier would start Node's inspector, a SIGUSR2 or SIGTERM would
// kill the worker before it has done anything.
let outage = false;
process.on('SIGUSR1', () => {
  outage = true;
});
process.on('SIGUSR2', () => {
  outage = false;
});
const drain = new AbortController();
process.on('SIGTERM', () => drain.abort());
process.stdout.write('ready\n');

const { runBackfill } = await import('../src/backfill/backfill.js');
const { runRelay } = await import('../src/apply/relay.js');
const { ensureControlSchema } = await import('../src/control/control.js');
const { TandemError } = await import('../src/core/errors.js');
const { createLogger } = await import('../src/core/logger.js');
const { openMigration } = await import('../src/runtime/migration.js');

const check = () => {
  if (outage) throw new TandemError('STORE_UNREACHABLE', 'chaos: simulated target outage');
};
/** Wraps a store (and the executors of its transactions) so that every statement fails during an outage. */
function withOutage<T extends object>(inner: T): T {
  return new Proxy(inner, {
    get(t, prop, recv) {
      const v = Reflect.get(t, prop, recv);
      if (typeof v !== 'function' || prop === 'close' || prop === 'controlTable') return v;
      if (prop === 'transaction') {
        return async (fn: (tx: object) => Promise<unknown>) => {
          check();
          return (v as (f: unknown) => Promise<unknown>).call(t, (tx: object) => fn(withOutage(tx)));
        };
      }
      if (!['query', 'execute', 'advanceLedger', 'upsert', 'introspect'].includes(String(prop))) return v.bind(t);
      return (...args: unknown[]) => {
        check();
        return v.apply(t, args);
      };
    },
  });
}

const [configPath, rate] = process.argv.slice(2);
const log = createLogger({ level: 'error' });
const m = await openMigration(configPath!, { log });
await ensureControlSchema(m.stores.new);
if (m.stores.control !== m.stores.new) await ensureControlSchema(m.stores.control);
// the roles of the phase the harness set (dual_write: legacy → new); the secondary is the one the outage hits
const roles = m.roles(await m.readPhase());
const { primary, entities } = roles;
const target = withOutage(roles.secondary) as Store;
const control = m.stores.control;
const relayStop = new AbortController();
const relay = runRelay({
  primary,
  secondary: target,
  control,
  entities,
  log,
  batchSize: 100,
  signal: relayStop.signal,
});
// the backfill retries on its own after an outage: it is the same process, so a failed chunk must not end it
for (;;) {
  try {
    await runBackfill({
      config: m.config,
      source: primary,
      target,
      entities,
      log,
      maxRowsPerSecond: rate ? Number(rate) : undefined,
      // the harness times its outages by the backfill's progress
      onChunk: (entity, copiedTotal) => {
        process.stdout.write(`copied ${entity} ${copiedTotal}\n`);
      },
    });
    break;
  } catch (e) {
    // the outage may also keep the killed run's lease from being released: it expires within leaseSeconds
    if (!(e instanceof TandemError) || !['TANDEM_ERR_STORE_UNREACHABLE', 'TANDEM_ERR_LEASE_HELD'].includes(e.code))
      throw e;
    await new Promise((r) => setTimeout(r, 200));
  }
}
process.stdout.write('backfill-done\n');
if (!drain.signal.aborted) await new Promise((r) => drain.signal.addEventListener('abort', r, { once: true }));
outage = false;
relayStop.abort();
await relay;
await runRelay({ primary, secondary: target, control, entities, log, batchSize: 500, untilEmpty: true });
await m.close();
process.stdout.write('drained\n');
process.exit(0);

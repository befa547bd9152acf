/**
 * `npm run chaos -- --seeds N [--first-seed S] [--rows R] [--seconds T] [--writers W] [--no-faults] [--broker rabbitmq]
 *   [--direction mariadb-postgres|postgres-mariadb|sqlite-pglite] [--break ack-on-failure] [--parallel P (default 3)] [--cutover]`
 * Prints each seed's schedule and figures and, last, the judge's summary `chaos runs=N writes=W divergent_rows=0
 * lost_writes=0 resurrected=0 version_regressions=0 max_relay_lag_ms=L dead_letters=0 missing_faults=0 …`.
 * Exits 1 when any figure that must be 0 is not, a requested fault kind did not happen, or the backfill did not
 * finish on the side of the writers' stop the schedule chose. With `--break ack-on-failure` (TEST ONLY: the relays
 * acknowledge failed applies) the run is expected to fail: it prints how many seeds showed lost writes.
 * `--cutover`: write cutovers and rollbacks among the faults (server directions only, rotating by seed % 2; with
 * `--direction sqlite-pglite` it refuses); the summary adds `cutovers=… rollbacks=… fenced_writes=…
 * fence_violations=…` and both stores are judged (docs/dual-writes.md "Cutovers and rollbacks in chaos").
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runChaos, seedPassed } from './harness.js';
import { DIRECTIONS, type Direction } from './schedule.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '3' },
    'first-seed': { type: 'string', default: '1' },
    rows: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '10' },
    writers: { type: 'string', default: '4' },
    'no-faults': { type: 'boolean', default: false },
    broker: { type: 'string' },
    direction: { type: 'string' },
    break: { type: 'string' },
    parallel: { type: 'string', default: '3' },
    cutover: { type: 'boolean', default: false },
  },
});
const fail = (m: string): never => {
  console.error(`chaos: ${m}`);
  process.exit(2);
};
const n = Number(values.seeds),
  first = Number(values['first-seed']);
if (!Number.isInteger(n) || n < 1 || !Number.isInteger(first)) fail('--seeds and --first-seed take integers');
const parallel = Number(values.parallel);
if (!Number.isInteger(parallel) || parallel < 1 || parallel > 8) fail('--parallel takes an integer 1..8');
if (values.broker !== undefined && values.broker !== 'rabbitmq') fail('--broker must be rabbitmq');
if (values.direction !== undefined && !DIRECTIONS.includes(values.direction as Direction))
  fail(`--direction must be one of ${DIRECTIONS.join(', ')}`);
if (values.cutover && values.direction === 'sqlite-pglite')
  fail(
    "--cutover needs a server direction (mariadb-postgres or postgres-mariadb): the cutover runs in this process, and a PGlite directory is the worker process's alone",
  );
if (values.cutover && values.broker !== undefined)
  fail('--cutover runs without --broker (the relays drain the outbox directly)');
const breakRelay = values.break ?? (process.env.TANDEM_TEST_BREAK || undefined);
if (breakRelay !== undefined && breakRelay !== 'ack-on-failure') fail('--break must be ack-on-failure');
const started = performance.now();
// the backfills and relays start as compiled JavaScript (the build `npm install` makes), as test/global-setup.ts
// does for the tests: transpiling the sources in every process cost seconds per start on a loaded machine, and a
// seed starts a dozen (kills and restarts)
if (!process.env.TANDEM_TEST_CLI) {
  const root = resolve(import.meta.dirname, '..');
  execFileSync(process.execPath, [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  process.env.TANDEM_TEST_CLI = resolve(root, 'dist/cli/run.js');
}
const { results, line } = await runChaos({
  seeds: Array.from({ length: n }, (_, i) => first + i),
  rows: Number(values.rows),
  seconds: Number(values.seconds),
  writers: Number(values.writers),
  faults: !values['no-faults'],
  broker: values.broker === 'rabbitmq' ? 'rabbitmq' : undefined,
  direction: values.direction as Direction | undefined,
  breakRelay: breakRelay as 'ack-on-failure' | undefined,
  parallel,
  cutover: values.cutover,
});
console.log(line);
console.log(`chaos took ${((performance.now() - started) / 1000).toFixed(0)} s`);
process.exitCode = results.every(seedPassed) ? 0 : 1;

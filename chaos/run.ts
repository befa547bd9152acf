/**
 * `npm run chaos -- --seeds N [--first-seed S] [--rows R] [--seconds T] [--writers W] [--no-faults] [--broker rabbitmq]`
 * Prints one line per seed and, last, `chaos runs=N writes=W divergent_rows=0 lost_writes=0 resurrected=0
 * version_regressions=0 max_relay_lag_ms=L`. Exits 1 when any figure that must be 0 is not.
 */
import { parseArgs } from 'node:util';
import { runChaos } from './harness.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '3' },
    'first-seed': { type: 'string', default: '1' },
    rows: { type: 'string', default: '50000' },
    seconds: { type: 'string', default: '20' },
    writers: { type: 'string', default: '4' },
    'no-faults': { type: 'boolean', default: false },
    broker: { type: 'string' },
  },
});
const n = Number(values.seeds), first = Number(values['first-seed']);
const { results, line } = await runChaos({
  seeds: Array.from({ length: n }, (_, i) => first + i),
  rows: Number(values.rows),
  seconds: Number(values.seconds),
  writers: Number(values.writers),
  faults: !values['no-faults'],
  broker: values.broker === undefined ? undefined : values.broker === 'rabbitmq' ? 'rabbitmq' : (() => { throw new Error('--broker must be rabbitmq'); })(),
});
console.log(line);
process.exitCode = results.every((r) => r.divergentRows === 0 && r.lostWrites === 0 && r.resurrected === 0 && r.versionRegressions === 0) ? 0 : 1;

import { describe, expect, it } from 'vitest';
import { runChaos } from '../chaos/harness.js';

/**
 * The small variant of `npm run chaos`: two seeds of a few seconds each, with every fault on. The full suite
 * (≥ 50,000 rows, more seeds, longer runs) is `npm run chaos -- --seeds N`.
 */
describe('chaos (small)', () => {
  it('converges with no lost write, no resurrection and no version regression under kills, outages and duplicates', async () => {
    const lines: string[] = [];
    const { results, line } = await runChaos({ seeds: [101, 102], rows: 5000, seconds: 6, writers: 3, log: (s) => lines.push(s) });
    // a failing seed prints its whole log (faults, retries, process exits) so the run can be diagnosed
    if (results.some((r) => r.divergentRows || r.lostWrites || r.resurrected || r.versionRegressions)) console.log(lines.join('\n'));
    expect(results).toHaveLength(2);
    for (const r of results) {
      expect(r.writes).toBeGreaterThan(0);
      expect({ seed: r.seed, divergent: r.divergentRows, lost: r.lostWrites, resurrected: r.resurrected, regressions: r.versionRegressions })
        .toEqual({ seed: r.seed, divergent: 0, lost: 0, resurrected: 0, regressions: 0 });
    }
    // faults really happened across the seeds
    const total = results.reduce((a, r) => a + Object.values(r.faults).reduce((x, y) => x + y, 0), 0);
    expect(total).toBeGreaterThan(0);
    expect(line).toMatch(/^chaos runs=2 writes=\d+ divergent_rows=0 lost_writes=0 resurrected=0 version_regressions=0 max_relay_lag_ms=\d+$/);
  }, 300_000);
});

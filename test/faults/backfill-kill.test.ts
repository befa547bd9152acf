import { afterAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/backfill.js';
import { loadConfig } from '../../src/config/load.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { ensureControlSchema } from '../../src/control/control.js';
import { TandemError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import type { Executor, Store } from '../../src/stores/types.js';
import { runCli } from '../helpers.js';
import { expectFullParity, type FaultWorld, faultWorld, label, PAIRS, runUntilKilled } from './world.js';

/**
 * Targeted faults of the backfill (issue 9), beside the random ones of the chaos suite: the real CLI is killed
 * with SIGKILL at a named point of its third chunk (`TANDEM_TEST_FAULT`, src/core/faults.ts) — between the
 * chunk's write and its checkpoint, between the checkpoint and the COMMIT, after the COMMIT before the process
 * records it — then started again without the fault. The end state must be exact: a full verify exits 0, the
 * target holds every source row once (direct compare), and the checkpoint says done at the last key with every
 * row counted once. The fencing paths run in-process against the real stores: a retried chunk whose first COMMIT
 * went through, and a checkpoint moved by another process. (A holder whose lease was taken over — LEASE_LOST —
 * is covered by test/lease.test.ts on every dialect and by test/backfill-leases.test.ts with a stopped process.)
 */

const USERS = 2000;
const CHUNK = 500;
const quiet = createLogger({ level: 'silent' });
const worlds: FaultWorld[] = [];
afterAll(async () => {
  for (const w of worlds) await w.close().catch(() => {});
});

async function world(pair: (typeof PAIRS)[number]): Promise<FaultWorld> {
  const w = await faultWorld(pair, USERS, CHUNK);
  worlds.push(w);
  return w;
}

/** The checkpoint's last key as stored: the encoded raw source key (both engines read BIGINT as a string). */
const keyText = (id: number, _pair?: (typeof PAIRS)[number]) => JSON.stringify([String(id)]);

/** Every source row once in the target, and the checkpoint done at the last key with each row counted once. */
async function expectExactEndState(w: FaultWorld, pair: (typeof PAIRS)[number], applied = USERS): Promise<void> {
  await expectFullParity(w.cfg);
  const [src, tgt] = [await w.sourceRows(), await w.targetRows()];
  expect(tgt.length).toBe(USERS);
  expect(new Set(tgt.map((r) => r[0])).size).toBe(USERS); // no key twice
  expect(tgt).toEqual(src); // no gap, no stale value
  expect(await w.ledgerCount()).toBe(USERS);
  expect(await w.checkpoint()).toEqual({
    last_key: keyText(USERS, pair),
    rows_copied: USERS,
    rows_applied: applied,
    status: 'done',
  });
}

// [fault point, rows committed when it dies in chunk 3]: in the transaction, chunk 3 rolls back; after the
// COMMIT it stays. Every point on MariaDB → PostgreSQL; on PostgreSQL → MariaDB one point inside the transaction
// and the one after it (each kill test starts three CLI processes: the full matrix would add to every run)
const POINTS: [string, number][] = [
  ['after-chunk-write', 2 * CHUNK],
  ['after-checkpoint', 2 * CHUNK],
  ['after-commit', 3 * CHUNK],
];
const MATRIX = PAIRS.map((p, i) => [label(p), p, i === 0 ? POINTS : POINTS.slice(1)] as const);

describe.each(MATRIX)('backfill killed at a fault point (%s)', (_name, pair, points) => {
  it.each(points)(
    '%s: dies by SIGKILL, the restart resumes at the committed chunk, no gap and no duplicate',
    async (point, committed) => {
      const w = await world(pair);
      await runUntilKilled(['backfill', '--config', w.cfg], `${point}:3`);
      // what the kill left: the checkpoint and the rows agree, chunk by chunk
      const cp = await w.checkpoint();
      expect(cp).toMatchObject({
        last_key: keyText(committed, pair),
        rows_copied: committed,
        rows_applied: committed,
        status: 'running',
      });
      expect((await w.targetRows()).length).toBe(committed);
      expect(await w.ledgerCount()).toBe(committed);
      // the killed holder's lease expires (1 s), then the next run takes over and copies the rest only
      await w.leaseFree();
      const again = await runCli(['backfill', '--config', w.cfg, '--json']);
      expect({ code: again.code, err: again.stderr.split('\n').filter((l) => /TANDEM_ERR/.test(l)) }).toEqual({
        code: 0,
        err: [],
      });
      expect(JSON.parse(again.stdout).entities[0]).toMatchObject({
        copied: USERS - committed,
        applied: USERS - committed,
        copiedTotal: USERS,
        status: 'done',
      });
      await expectExactEndState(w, pair);
    },
    30_000,
  );
});

/**
 * `target` whose transaction commits and then reports a lost connection, as when the COMMIT's reply is lost —
 * once, for the first transaction in which `pick` (run first in it) is true.
 */
function losesCommitReply(
  target: Store,
  pick: (tx: Executor) => Promise<boolean>,
): { store: Store; fired: () => number } {
  let fired = 0;
  const store: Store = {
    ...target,
    async transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
      let hit = false;
      const out = await target.transaction(async (tx) => {
        hit = fired === 0 && (await pick(tx));
        return fn(tx);
      });
      if (hit) {
        fired++;
        // the COMMIT went through; its reply never arrived (the connection dropped): the caller must retry
        throw new TandemError('STORE_UNREACHABLE', 'connection lost after COMMIT (test)');
      }
      return out;
    },
  };
  return { store, fired: () => fired };
}

describe('backfill fencing and retry paths (MariaDB → PostgreSQL, in-process)', () => {
  const pair = PAIRS[0]!;

  it('a retried chunk whose first COMMIT went through raises ChunkAlreadyCommitted: skipped, not applied or counted twice', async () => {
    const w = await world(pair);
    await ensureControlSchema(w.target);
    const config = await loadConfig(w.cfg);
    const entities = await resolveConfig(config, w.source, w.target);
    // the second chunk's transaction commits and then "loses" its reply: it is the one whose checkpoint starts
    // at the first chunk's last key when it begins
    const cpTable = w.target.controlTable('checkpoints');
    const lossy = losesCommitReply(
      w.target,
      async (tx) =>
        (await tx.query<{ k: unknown }>(`SELECT last_key AS k FROM ${cpTable} WHERE entity = 'users'`))[0]?.k ===
        keyText(CHUNK, pair),
    );
    const r = await runBackfill({
      config,
      source: w.source,
      target: lossy.store,
      entities,
      log: quiet,
      progressOut: null,
    });
    expect(lossy.fired()).toBe(1);
    // the retry found the checkpoint already at the chunk's last key: it rolled back and moved on; the chunk's
    // rows were applied once (by the first, committed attempt) and counted once
    expect(r[0]).toMatchObject({ copied: USERS, copiedTotal: USERS, status: 'done' });
    // the committed attempt's rows are not reported as applied by the skipped retry
    expect(r[0]!.applied).toBe(USERS - CHUNK);
    await expectExactEndState(w, pair);
  }, 30_000);

  it('a chunk whose unique-value conflict is left unresolved (the primary kept changing) is retried, not fatal', async () => {
    const w = await world(pair);
    await ensureControlSchema(w.target);
    const config = await loadConfig(w.cfg);
    const entities = await resolveConfig(config, w.source, w.target);
    // the second chunk's first attempt ends in the unique violation resolveUniqueConflicts throws after its last
    // round; its transaction rolls back, rows and checkpoint move together
    let refused = 0;
    const store: Store = {
      ...w.target,
      transaction: (fn) =>
        w.target.transaction(async (tx) => {
          const out = await fn(tx);
          const cp = await tx.query<{ k: unknown }>(
            `SELECT last_key AS k FROM ${w.target.controlTable('checkpoints')} WHERE entity = 'users'`,
          );
          if (refused === 0 && cp[0]?.k === keyText(2 * CHUNK)) {
            refused++;
            throw new TandemError(
              'STORE_QUERY',
              'duplicate key value violates unique constraint "accounts_email_address_key" (test)',
              { sqlstate: '23505', violation: 'unique' },
            );
          }
          return out;
        }),
    };
    const r = await runBackfill({ config, source: w.source, target: store, entities, log: quiet, progressOut: null });
    expect(refused).toBe(1);
    expect(r[0]).toMatchObject({ copied: USERS, applied: USERS, copiedTotal: USERS, status: 'done' });
    await expectExactEndState(w, pair);
  }, 30_000);

  it('a checkpoint moved by another process is detected: the chunk rolls back with TANDEM_ERR_INTERNAL, nothing of it written', async () => {
    const w = await world(pair);
    await ensureControlSchema(w.target);
    const config = await loadConfig(w.cfg);
    const entities = await resolveConfig(config, w.source, w.target);
    const cpTable = w.target.controlTable('checkpoints');
    let moved = false;
    const run = runBackfill({
      config,
      source: w.source,
      target: w.target,
      entities,
      log: quiet,
      progressOut: null,
      // after the first chunk another process (not holding the lease) sets the cursor elsewhere
      onChunk: async () => {
        if (moved) return;
        moved = true;
        await w.target.execute(`UPDATE ${cpTable} SET last_key = ${w.target.sql.param(1)} WHERE entity = 'users'`, [
          keyText(1500, pair),
        ]);
      },
    });
    await expect(run).rejects.toMatchObject({
      code: 'TANDEM_ERR_INTERNAL',
      message: expect.stringMatching(
        /checkpoint of entity users was moved by another process; stop the other backfill first/,
      ),
    });
    // the second chunk's rows rolled back with its checkpoint move: only the first chunk is in the target
    expect((await w.targetRows()).length).toBe(CHUNK);
    expect(await w.ledgerCount()).toBe(CHUNK);
    expect(await w.checkpoint()).toMatchObject({
      last_key: keyText(1500, pair),
      rows_copied: CHUNK,
      status: 'running',
    });
    // the lease was released on the way out: a --restart (the operator's fix) copies everything
    const again = await runCli(['backfill', '--config', w.cfg, '--restart']);
    expect(again.code).toBe(0);
    // (the first chunk's rows were there already: re-offered, not newer, so not counted as applied again)
    await expectExactEndState(w, pair, USERS - CHUNK);
  }, 30_000);
});

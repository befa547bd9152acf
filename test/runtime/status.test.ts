import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fromMysql, fromPg } from '../../src/capture/adapters.js';
import { createDualWriter, type DualWriter } from '../../src/capture/writer.js';
import { statusJsonSchema } from '../../src/runtime/status.js';
import { runCli } from '../helpers.js';
import { migrationFixture, quiet, waitFor } from './helpers.js';

/** The JSON schema that docs/status.md publishes (its one ```json block). */
function documentedSchema(): Record<string, unknown> {
  const md = readFileSync(join(import.meta.dirname, '../../docs/status.md'), 'utf8');
  const m = /```json\n([\s\S]*?)\n```/.exec(md);
  if (!m) throw new Error('docs/status.md has no ```json block');
  return JSON.parse(m[1]!) as Record<string, unknown>;
}

/** Parses `status --json` and checks it against the documented schema; returns it. */
async function statusJson(cfg: string): Promise<Record<string, any>> {
  const r = await runCli(['status', '--config', cfg, '--json']);
  expect(r.code, r.stderr).toBe(0);
  const s = JSON.parse(r.stdout);
  const check = z.fromJSONSchema(documentedSchema() as Parameters<typeof z.fromJSONSchema>[0]).safeParse(s);
  expect(check.success, check.success ? '' : JSON.stringify(check.error.issues.slice(0, 3))).toBe(true);
  return s;
}

describe('the status model', () => {
  let f: Awaited<ReturnType<typeof migrationFixture>>;
  let dual: DualWriter;
  let legacyApp: mysql.Connection;
  let newApp: pg.Client;

  beforeAll(async () => {
    f = await migrationFixture('tandem_st', 200);
    legacyApp = await mysql.createConnection({ uri: f.src.url });
    newApp = new pg.Client({ connectionString: f.tgt.url });
    await newApp.connect();
  });
  afterAll(async () => {
    await dual?.close();
    await legacyApp?.end();
    await newApp?.end();
    await f?.drop();
  });

  it('docs/status.md holds the schema of the code', () => {
    expect(documentedSchema()).toEqual(statusJsonSchema());
  });

  it('the schema rejects what it must (it is not vacuous)', () => {
    const schema = z.fromJSONSchema(documentedSchema() as Parameters<typeof z.fromJSONSchema>[0]);
    expect(schema.safeParse({}).success).toBe(false);
    expect(schema.safeParse({ phase: 'nowhere' }).success).toBe(false);
  });

  it('status --json matches its schema in every phase; the relay figures (pending, lag) follow the live outbox across write cutover', async () => {
    // prepare, before any control plane
    const before = await statusJson(f.cfg);
    expect(before).toMatchObject({
      phase: 'prepare',
      relay: { direction: 'forward', primary: 'legacy', pending: null },
    });
    expect(
      before.entities.map((e: { name: string; backfill: { state: string } }) => [e.name, e.backfill.state]),
    ).toEqual([
      ['memberships', 'pending'],
      ['users', 'pending'],
      ['orgs', 'pending'],
    ]);

    expect((await runCli(['backfill', '--config', f.cfg])).code).toBe(0);
    expect((await runCli(['verify', '--config', f.cfg])).code).toBe(0);
    expect((await runCli(['phase', 'set', 'dual_write', '--config', f.cfg])).code).toBe(0);
    dual = await createDualWriter({ config: f.cfg, budgetMs: 0, log: quiet });
    // two changes in the legacy outbox (forward)
    for (const id of [5, 6]) {
      await dual.write(fromMysql(legacyApp), async (tx) => {
        await legacyApp.query('UPDATE users SET bio = ?, version = version + 1 WHERE id = ?', ['forward', id]);
        tx.changed('users', id);
      });
    }
    const dualWrite = await statusJson(f.cfg);
    expect(dualWrite).toMatchObject({
      phase: 'dual_write',
      relay: { direction: 'forward', primary: 'legacy', pending: 2, deadLetters: 0 },
      outbox: { pending: 2 },
    });
    expect(dualWrite.relay.lagSeconds).toBeGreaterThanOrEqual(0);
    const users = dualWrite.entities.find((e: { name: string }) => e.name === 'users');
    expect(users).toMatchObject({
      entity: 'users',
      status: 'done',
      checkpoint: 'done',
      backfill: { state: 'done', copied: 200, total: 200, etaSeconds: 0 },
    });
    // `tandem verify` without --mode ran the checksum tier (the fastest exhaustive mode here), and status says so
    expect(users.verify).toMatchObject({ mode: 'checksum', parity: 100, differences: 0 });
    // the legacy outbox's two changes made an hour old (the fixture's own SQL): its lag is then unmistakable
    await legacyApp.query('UPDATE tandem_outbox SET created_at = created_at - INTERVAL 1 HOUR');
    const aged = await statusJson(f.cfg);
    expect(aged.relay).toMatchObject({ direction: 'forward', pending: 2 });
    expect(aged.relay.lagSeconds).toBeGreaterThanOrEqual(3600);

    // write cutover: the new store is primary and its outbox is the live one (the legacy one keeps its 2 rows)
    expect((await runCli(['phase', 'set', 'new_primary', '--force', '--config', f.cfg])).code).toBe(0);
    // the writer serves its cached phase (1 s) while one background read refreshes it
    await waitFor('the writer to see new_primary', async () => (await dual.phase()) === 'new_primary', 10_000);
    await dual.write(fromPg(newApp), async (tx) => {
      await newApp.query(`UPDATE users SET status = 'reverse' WHERE id = 7`);
      tx.changed('users', 7);
    });
    const after = await statusJson(f.cfg);
    expect(after).toMatchObject({
      phase: 'new_primary',
      relay: { direction: 'reverse', primary: 'new', pending: 1 },
      outbox: { pending: 1 },
    });
    // the lag is the reverse outbox's (one change written just now), not the legacy one's (an hour old): a bound
    // of 10 minutes leaves room for any slowness of a loaded machine and is still far below the hour
    expect(after.relay.lagSeconds).toBeGreaterThanOrEqual(0);
    expect(after.relay.lagSeconds).toBeLessThan(600);

    // the human status prints the same model
    const human = (await runCli(['status', '--config', f.cfg])).stdout;
    expect(human).toMatch(/^phase: new_primary$/m);
    expect(human).toMatch(/^relay: new → legacy \(reverse\), 1 change\(s\) waiting/m);
    expect(human).toMatch(/^last verification:$/m);

    // and in every other phase
    for (const phase of ['shadow', 'canary', 'legacy_read_only', 'decommissioned', 'dual_write']) {
      expect((await runCli(['phase', 'set', phase, '--force', '--config', f.cfg])).code).toBe(0);
      const s = await statusJson(f.cfg);
      expect(s.phase).toBe(phase);
      expect(s.relay.direction).toBe(['legacy_read_only', 'decommissioned'].includes(phase) ? 'reverse' : 'forward');
    }
  }, 240_000); // about 15 CLI runs: two minutes on a loaded 2-core machine
});

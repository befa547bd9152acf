import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillCounts, createLegacyMysql, createNewPostgres, fixtureConfig, leaseExpired } from './fixtures.js';
import { createMysqlDatabase, createPgDatabase, runCli, spawnCli, writeConfig } from './helpers.js';

const USERS = 12_000;

async function waitFor(pred: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('timed out waiting');
}

describe('backfill MariaDB → PostgreSQL', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  const targets: Awaited<ReturnType<typeof createPgDatabase>>[] = [];
  const newTarget = async () => {
    const t = await createPgDatabase('tandem_bf');
    targets.push(t);
    await createNewPostgres(t.url);
    return t;
  };

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_bf_src');
    await createLegacyMysql(src.url, USERS);
  });
  afterAll(async () => {
    await src?.drop();
    for (const t of targets) await t.drop();
  });

  it('fills parents first, reaches full parity, and records status and audit', async () => {
    const tgt = await newTarget();
    const cfg = writeConfig(fixtureConfig(src.url, tgt.url));
    const bf = await runCli(['backfill', '--config', cfg]);
    expect(bf.code).toBe(0);
    // entities without a version column are applied last-writer-wins, with a warning
    const warnings = bf.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(warnings.map((w) => [w.event, w.entity])).toEqual([
      ['backfill.no_version', 'orgs'],
      ['backfill.no_version', 'memberships'],
    ]);
    // the summary lists entities in FK order: orgs, users, memberships
    const order = bf.stdout
      .split('\n')
      .slice(2)
      .map((l) => l.split(/\s+/)[0])
      .filter(Boolean);
    expect(order).toEqual(['orgs', 'users', 'memberships']);
    const v = await runCli(['verify', '--config', cfg, '--json']);
    expect(v.code).toBe(0);
    const res = JSON.parse(v.stdout);
    expect(res.ok).toBe(true);
    expect(res.entities.find((e: { entity: string }) => e.entity === 'users')).toMatchObject({
      sourceRows: USERS,
      targetRows: USERS,
      missing: 0,
      extra: 0,
      different: 0,
      parity: 100,
    });
    expect(res.entities.find((e: { entity: string }) => e.entity === 'memberships').sourceRows).toBe(USERS / 3);
    const st = await runCli(['status', '--config', cfg, '--json']);
    const status = JSON.parse(st.stdout);
    expect(status.entities.map((e: { status: string }) => e.status)).toEqual(['done', 'done', 'done']);
    expect(status.audit.map((a: { command: string; outcome: string }) => `${a.command}:${a.outcome}`)).toEqual([
      'verify:ok',
      'backfill:ok',
    ]);
    // a second backfill skips finished entities and changes nothing
    const again = await runCli(['backfill', '--config', cfg, '--json']);
    expect(JSON.parse(again.stdout).entities.map((e: { status: string }) => e.status)).toEqual([
      'skipped',
      'skipped',
      'skipped',
    ]);
  });

  it('survives SIGKILL mid-chunk: no loss, no duplicate, resumes where it stopped', async () => {
    const tgt = await newTarget();
    // a short lease: the killed process's lease must expire before another backfill may take the entity over
    const cfg = writeConfig(
      fixtureConfig(src.url, tgt.url, { backfill: '{ initialChunkRows: 300, maxChunkRows: 300, leaseSeconds: 1 }' }),
    );
    const child = spawnCli(['backfill', '--config', cfg, '--entity', 'orgs,users', '--max-rows-per-second', '3000']);
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on('close', (_c, s) => r(s)));
    await waitFor(async () => {
      try {
        return (await backfillCounts(tgt.url)).checkpoint >= 1500;
      } catch {
        return false;
      }
    });
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const mid = await backfillCounts(tgt.url);
    expect(mid.status).toBe('running');
    expect(mid.checkpoint).toBeGreaterThanOrEqual(1500);
    expect(mid.checkpoint).toBeLessThan(USERS);
    // the checkpoint, the rows and the ledger moved together, chunk by chunk
    expect(mid.users).toBe(mid.checkpoint);
    expect(mid.profiles).toBe(mid.checkpoint);
    expect(mid.ledger).toBe(mid.checkpoint);

    await waitFor(() => leaseExpired(tgt.url, 'backfill:users'), 10_000); // the dead worker's lease (1 s)
    const resumed = await runCli(['backfill', '--config', cfg, '--entity', 'orgs,users', '--json']);
    expect(resumed.code).toBe(0);
    const users = JSON.parse(resumed.stdout).entities.find((e: { entity: string }) => e.entity === 'users');
    expect(users.copied).toBe(USERS - mid.checkpoint); // only the rest was read again
    const end = await backfillCounts(tgt.url);
    expect(end).toMatchObject({ checkpoint: USERS, users: USERS, profiles: USERS, ledger: USERS, status: 'done' });
    const v = await runCli(['verify', '--config', cfg, '--entity', 'orgs,users']);
    expect(v.code).toBe(0);
  });

  it('stops after the chunk in flight on SIGINT and resumes', async () => {
    const tgt = await newTarget();
    const cfg = writeConfig(
      fixtureConfig(src.url, tgt.url, { backfill: '{ initialChunkRows: 200, maxChunkRows: 200 }' }),
    );
    const child = spawnCli(['backfill', '--config', cfg, '--entity', 'orgs,users', '--max-rows-per-second', '2000']);
    const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    await waitFor(async () => {
      try {
        return (await backfillCounts(tgt.url)).checkpoint >= 600;
      } catch {
        return false;
      }
    });
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    // a graceful stop released the lease and removed the heartbeat: stopped, not running
    const st = JSON.parse((await runCli(['status', '--config', cfg, '--json'])).stdout);
    expect(st.entities.find((e: { entity: string }) => e.entity === 'users')).toMatchObject({
      status: 'stopped',
      checkpoint: 'running',
    });
    expect(st.processes).toEqual([]);
    const mid = await backfillCounts(tgt.url);
    expect(mid.status).toBe('running');
    expect(mid.users).toBe(mid.checkpoint);
    expect(mid.checkpoint).toBeLessThan(USERS);
    const resumed = await runCli(['backfill', '--config', cfg, '--entity', 'orgs,users']);
    expect(resumed.code).toBe(0);
    expect(await backfillCounts(tgt.url)).toMatchObject({
      checkpoint: USERS,
      users: USERS,
      ledger: USERS,
      status: 'done',
    });
  });

  it('never lets a stale backfill row overwrite a newer applied version', async () => {
    const tgt = await newTarget();
    const cfg = writeConfig(fixtureConfig(src.url, tgt.url));
    expect((await runCli(['backfill', '--config', cfg, '--entity', 'orgs,users'])).code).toBe(0);
    // a newer version of user 7 arrived (as the relay would write it): row and ledger ahead of the source
    const c = new pg.Client({ connectionString: tgt.url });
    await c.connect();
    await c.query(`UPDATE users SET status = 'newer' WHERE id = 7`);
    await c.query(`UPDATE tandem.version_ledger SET version = 1000 WHERE entity = 'users' AND entity_key = '["7"]'`);
    await c.end();
    const re = await runCli(['backfill', '--config', cfg, '--entity', 'orgs,users', '--restart', '--json']);
    expect(re.code).toBe(0);
    const users = JSON.parse(re.stdout).entities.find((e: { entity: string }) => e.entity === 'users');
    expect(users.copied).toBe(USERS);
    expect(users.applied).toBe(0); // same versions: nothing rewritten; user 7: older than the ledger
    const c2 = new pg.Client({ connectionString: tgt.url });
    await c2.connect();
    expect((await c2.query(`SELECT status FROM users WHERE id = 7`)).rows[0].status).toBe('newer');
    await c2.end();
  });
});

import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from '../fixtures.js';
import { cliArgv, createMysqlDatabase, createPgDatabase, spawnCli, writeConfig } from '../helpers.js';

/**
 * SIGTERM (what kill, systemd, Kubernetes and CI send) stops a long-running command as SIGINT does: the work in
 * flight finishes, the summary is printed, the run is audited, and the exit code is 128 + the signal (143).
 */

function collect(child: ReturnType<typeof spawn>) {
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d) => (out.stdout += d));
  child.stderr!.on('data', (d) => (out.stderr += d));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('close', (code, signal) => r({ code, signal })),
  );
  return { out, closed };
}

async function waitFor(pred: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('timed out waiting');
}

describe('SIGTERM is graceful', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  const targets: Awaited<ReturnType<typeof createPgDatabase>>[] = [];
  const newTarget = async () => {
    const t = await createPgDatabase('tandem_sig');
    targets.push(t);
    await createNewPostgres(t.url);
    return t;
  };
  const q = async (url: string, sql: string) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query(sql)).rows;
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_sig_src');
    await createLegacyMysql(src.url, 3000);
  });
  afterAll(async () => {
    await src?.drop();
    for (const t of targets) await t.drop();
  });

  it('backfill: finishes the chunk in flight, prints the summary, audits, exits 143', async () => {
    const tgt = await newTarget();
    const cfg = writeConfig(
      fixtureConfig(src.url, tgt.url, { backfill: '{ initialChunkRows: 100, maxChunkRows: 100 }' }),
    );
    const child = spawnCli([
      'backfill',
      '--config',
      cfg,
      '--entity',
      'orgs,users',
      '--max-rows-per-second',
      '1000',
      '--json',
    ]);
    const { out, closed } = collect(child);
    await waitFor(async () => {
      try {
        return (
          Number(
            (await q(tgt.url, `SELECT rows_copied AS n FROM tandem.checkpoints WHERE entity = 'users'`))[0]?.n ?? 0,
          ) >= 300
        );
      } catch {
        return false;
      }
    });
    child.kill('SIGTERM');
    const end = await closed;
    expect(end).toEqual({ code: 143, signal: null });
    expect(out.stderr).toMatch(/^SIGTERM: stopping after the current chunk commits/m);
    const users = JSON.parse(out.stdout).entities.find((e: { entity: string }) => e.entity === 'users');
    expect(users.status).toBe('interrupted');
    const cp = await q(tgt.url, `SELECT rows_copied, status FROM tandem.checkpoints WHERE entity = 'users'`);
    expect(cp[0]).toMatchObject({ status: 'running' });
    // the chunk in flight committed with its checkpoint: rows and checkpoint agree, and the summary says so
    expect(Number((await q(tgt.url, `SELECT count(*) AS n FROM users`))[0].n)).toBe(Number(cp[0].rows_copied));
    expect(users.copiedTotal).toBe(Number(cp[0].rows_copied));
    const audit = await q(tgt.url, `SELECT command, outcome FROM tandem.audit_log ORDER BY id DESC LIMIT 1`);
    expect(audit[0]).toEqual({ command: 'backfill', outcome: 'interrupted' });
  });

  it('backfill: SIGINT still exits 130', async () => {
    const tgt = await newTarget();
    const cfg = writeConfig(
      fixtureConfig(src.url, tgt.url, { backfill: '{ initialChunkRows: 100, maxChunkRows: 100 }' }),
    );
    const child = spawnCli(['backfill', '--config', cfg, '--entity', 'orgs,users', '--max-rows-per-second', '1000']);
    const { out, closed } = collect(child);
    await waitFor(async () => {
      try {
        return (
          Number(
            (await q(tgt.url, `SELECT rows_copied AS n FROM tandem.checkpoints WHERE entity = 'users'`))[0]?.n ?? 0,
          ) >= 200
        );
      } catch {
        return false;
      }
    });
    child.kill('SIGINT');
    expect(await closed).toEqual({ code: 130, signal: null });
    expect(out.stdout).toMatch(/^users\s.*interrupted$/m);
  });

  it('verify --continuous: stops after the statements in flight, prints and audits', async () => {
    const tgt = await newTarget();
    const cfg = writeConfig(fixtureConfig(src.url, tgt.url));
    const child = spawnCli([
      'verify',
      '--config',
      cfg,
      '--continuous',
      '--interval',
      '60',
      '--lag-seconds',
      '0',
      '--entity',
      'orgs',
    ]);
    const { out, closed } = collect(child);
    await waitFor(() => out.stdout.length > 0); // the first pass was printed; now it waits for the next
    child.kill('SIGTERM');
    const end = await closed;
    expect(end.signal).toBeNull();
    expect(end.code).not.toBe(2);
    expect(out.stderr).toMatch(/^SIGTERM: stopping/m);
    const audit = await q(tgt.url, `SELECT command FROM tandem.audit_log ORDER BY id DESC LIMIT 1`);
    expect(audit[0]).toEqual({ command: 'verify' });
  });

  it('relay: stops after the batch in flight, prints its figures, audits, exits 0', async () => {
    const tgt = await newTarget();
    const cfg = writeConfig(fixtureConfig(src.url, tgt.url));
    const child = spawnCli(['relay', '--config', cfg]);
    const { out, closed } = collect(child);
    await waitFor(async () => {
      try {
        return (await q(tgt.url, `SELECT count(*) AS n FROM tandem.audit_log`)).length > 0;
      } catch {
        return false;
      }
    });
    // in its loop: its heartbeat is written (a state, not a fixed delay)
    await waitFor(async () => {
      try {
        return (await q(tgt.url, `SELECT id FROM tandem.heartbeats WHERE role = 'relay'`)).length > 0;
      } catch {
        return false;
      }
    });
    child.kill('SIGTERM');
    expect(await closed).toEqual({ code: 0, signal: null });
    expect(out.stdout).toMatch(/^relay: \d+ changes/m);
    const audit = await q(tgt.url, `SELECT command, outcome FROM tandem.audit_log ORDER BY id DESC LIMIT 1`);
    expect(audit[0]).toEqual({ command: 'relay', outcome: 'ok' });
  });

  it('identity check: answers the line in flight, then exits 143', async () => {
    const child = spawn(process.execPath, [...cliArgv(), 'identity', 'check', '--raw-hex', 'md5'], {
      env: { ...process.env, TANDEM_LOG_LEVEL: 'warn' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const { out, closed } = collect(child);
    child.stdin!.write('{"password":"password","hash":"5f4dcc3b5aa765d61d8327deb882cf99"}\n');
    await waitFor(() => out.stdout.includes('\n'));
    child.kill('SIGTERM');
    expect(await closed).toEqual({ code: 143, signal: null });
    expect(JSON.parse(out.stdout.trim())).toEqual({ ok: true, scheme: 'hex-md5' });
  });

  it('demo: stops the backfill after a committed chunk, audits, exits 143', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tandem-sig-demo-')), 'd');
    const child = spawnCli(['demo', '--only-backfill', '--rows', '40000', '--dir', dir]);
    const { out, closed } = collect(child);
    await waitFor(() => out.stdout.includes('2/3 backfill'), 110_000);
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    expect(await closed).toEqual({ code: 143, signal: null });
    expect(out.stderr).toMatch(
      /^TANDEM_ERR_BACKFILL_INTERRUPTED: demo stopped after [\d,]+ of 40,000 rows copied; resume with: npx tandem backfill --config /m,
    );
    expect(out.stdout).not.toMatch(/3\/3 verify/);
  }, 180_000);
});

import { afterAll, describe, expect, it } from 'vitest';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from '../fixtures.js';
import { createMysqlDatabase, createPgDatabase, runCli, spawnCli, waitFor, writeConfig } from '../helpers.js';

/**
 * Issue 14's "done when", the API half: `tandem run --http` on a MariaDB → PostgreSQL migration whose backfill is
 * throttled so that it runs for the whole test. Without a token GET /api/status is 401; with a viewer token it is
 * 200 and the same JSON as `tandem status --json`; a viewer's POST is 403; an operator pauses the backfill and the
 * copied count stops within 2 s, resumes it and it moves, tunes the rate and the running backfill copies faster;
 * /metrics answers Prometheus text.
 */
const OP = 'op-token-5c0e8d2a9b7f41e3';
const VIEW = 'view-token-1e6b3f9d8a2c47b0';
const ENV = { TANDEM_TEST_OP_TOKEN: OP, TANDEM_TEST_VIEW_TOKEN: VIEW };
const USERS = 6000;
const BASE_RATE = 100;
const TUNED_RATE = 800;

type Status = {
  updatedAt: string;
  processes: Record<string, unknown>[];
  entities: {
    name: string;
    copied: number;
    holder: Record<string, unknown> | null;
    backfill: {
      state: string;
      holder: Record<string, unknown> | null;
      throttle: { reason: string } | null;
      control: { paused: boolean; maxRowsPerSecond: number | null };
      ranges?: { holder: Record<string, unknown> | null }[];
    };
  }[];
};

describe('tandem run --http', () => {
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const d of drops) await d().catch(() => {});
  });

  it('serves the status (401 without a token, 200 and equal to tandem status --json for a viewer), refuses a viewer POST, and pauses, resumes and tunes the running backfill', async () => {
    const src = await createMysqlDatabase('tandem_http_src');
    drops.push(src.drop);
    await createLegacyMysql(src.url, USERS);
    const tgt = await createPgDatabase('tandem_http_tgt');
    drops.push(tgt.drop);
    await createNewPostgres(tgt.url);
    // small chunks (each well under a second at the base rate) and a throttle checked every 0.2 s
    const text = fixtureConfig(src.url, tgt.url, {
      backfill: '{ initialChunkRows: 50, maxChunkRows: 100, leaseSeconds: 3, throttle: { checkSeconds: 0.2 } }',
    }).replace(
      '  backfill:',
      `  heartbeatSeconds: 0.5,
  server: {
    tokens: [
      { name: 'ops-carol', token: process.env.TANDEM_TEST_OP_TOKEN!, role: 'operator' },
      { name: 'dash-dave', token: process.env.TANDEM_TEST_VIEW_TOKEN!, role: 'viewer' },
    ],
  },
  backfill:`,
    );
    const cfg = writeConfig(text);
    expect((await runCli(['phase', 'set', 'dual_write', '--config', cfg], { env: ENV })).code).toBe(0);

    const child = spawnCli(
      [
        'run',
        '--config',
        cfg,
        '--http',
        '127.0.0.1:0',
        '--verify-interval',
        '0',
        '--max-rows-per-second',
        String(BASE_RATE),
        '--phase-poll-seconds',
        '0.3',
      ],
      { env: { ...ENV, TANDEM_LOG_LEVEL: 'info' } },
    );
    const out = { stdout: '', stderr: '' };
    child.stdout!.on('data', (d) => (out.stdout += d));
    child.stderr!.on('data', (d) => (out.stderr += d));
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    try {
      await waitFor(() => /http: listening on http:\/\/127\.0\.0\.1:\d+/.test(out.stdout), {
        timeoutMs: 20_000,
        what: `the listening line (stderr: ${out.stderr.slice(-500)})`,
      });
      const base = /http: listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out.stdout)![1]!;
      const get = (path: string, token?: string) =>
        fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      const post = (path: string, token: string, body: unknown = {}) =>
        fetch(`${base}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const status = async (): Promise<Status> => (await (await get('/api/status', VIEW)).json()) as Status;
      const users = async () => (await status()).entities.find((e) => e.name === 'users')!;

      // no token: 401, coded, with the challenge
      const anon = await get('/api/status');
      expect(anon.status).toBe(401);
      expect(anon.headers.get('www-authenticate')).toBe('Bearer realm="tandem"');
      expect(((await anon.json()) as { error: { code: string } }).error.code).toBe('TANDEM_ERR_AUTH_REQUIRED');
      // a viewer may not act
      const denied = await post('/api/backfill/pause', VIEW);
      expect(denied.status).toBe(403);
      expect(((await denied.json()) as { error: { code: string } }).error.code).toBe('TANDEM_ERR_AUTH_FORBIDDEN');

      // the copy is under way: the count moves chunk by chunk
      await waitFor(async () => (await users()).copied > 0, { timeoutMs: 20_000, what: 'users to be copying' });
      const moving = (await users()).copied;
      await waitFor(async () => (await users()).copied > moving, { timeoutMs: 3000, what: 'the next chunk' });
      expect((await users()).backfill.state).toBe('running');

      // pause: the copied count stops within 2 s and stays
      const paused = await post('/api/backfill/pause', OP);
      expect(paused.status).toBe(200);
      expect(((await paused.json()) as { to: { paused: boolean } }).to.paused).toBe(true);
      const t0 = Date.now();
      const samples: [number, number][] = [];
      while (Date.now() - t0 < 4000) {
        samples.push([Date.now() - t0, (await users()).copied]);
        await new Promise((r) => setTimeout(r, 100));
      }
      const lastChange = samples.reduce((at, [t, n], i) => (i && n !== samples[i - 1]![1] ? t : at), 0);
      expect(lastChange, JSON.stringify(samples)).toBeLessThan(2000);
      expect(samples[samples.length - 1]![0] - lastChange).toBeGreaterThan(1900);
      const held = await users();
      expect(held.backfill.throttle?.reason).toBe('paused');
      expect(held.backfill.control.paused).toBe(true);

      // while paused the figures hold still: the API's status is tandem status --json, but for the fields that
      // move by themselves (when each was read, the heartbeats' beats, the lease's renewal)
      const api = await status();
      const cli = await runCli(['status', '--json', '--config', cfg], { env: ENV });
      expect(cli.code, cli.stderr).toBe(0);
      const strip = (s: Status) => {
        const c = structuredClone(s) as Omit<Status, 'updatedAt'> & { updatedAt?: string };
        delete c.updatedAt;
        for (const p of c.processes) {
          delete p.lastBeatAt;
          delete p.lastBeatAgoMs;
        }
        for (const e of c.entities)
          for (const h of [e.holder, e.backfill.holder, ...(e.backfill.ranges ?? []).map((r) => r.holder)])
            if (h) delete h.leaseExpiresAt;
        return c;
      };
      const fromCli = JSON.parse(cli.stdout) as Status;
      expect(strip(api)).toEqual(strip(fromCli));
      expect(api.entities.map((e) => e.name)).toEqual(['memberships', 'users', 'orgs']);
      expect(api.processes.some((p) => p.role === 'run' && p.alive === true)).toBe(true);

      // resume, through the CLI talking to the API (tandem ctl … --url): it moves again
      const ctl = await runCli(['ctl', 'resume', '--url', base, '--config', cfg], {
        env: { ...ENV, TANDEM_TOKEN: OP },
      });
      expect(ctl.code, ctl.stderr).toBe(0);
      const atResume = (await users()).copied;
      await waitFor(async () => (await users()).copied > atResume, { timeoutMs: 3000, what: 'the copy to go on' });
      // the rate at the command line's limit, then tuned: the running backfill copies faster
      const rate = async (ms: number) => {
        const a = (await users()).copied;
        const ta = Date.now();
        await new Promise((r) => setTimeout(r, ms));
        return ((await users()).copied - a) / ((Date.now() - ta) / 1000);
      };
      const before = await rate(2000);
      expect(before).toBeLessThanOrEqual(BASE_RATE * 1.5);
      const tuned = await post('/api/backfill/tune', OP, { maxRowsPerSecond: TUNED_RATE });
      expect(tuned.status).toBe(200);
      expect(((await tuned.json()) as { to: { maxRowsPerSecond: number } }).to.maxRowsPerSecond).toBe(TUNED_RATE);
      await new Promise((r) => setTimeout(r, 500));
      const after = await rate(2000);
      expect(after, `before ${before} rows/s, after ${after} rows/s`).toBeGreaterThan(before * 2.5);
      const u = await users();
      expect(u.backfill.control.maxRowsPerSecond).toBe(TUNED_RATE);
      expect(u.backfill.state).toBe('running');

      // every action is in the audit log under the token's name
      const audit = (await (await get('/api/audit?limit=10', VIEW)).json()) as {
        entries: { command: string; actor: string }[];
      };
      expect(audit.entries.filter((e) => e.actor === 'token:ops-carol').map((e) => e.command)).toEqual([
        'api backfill tune',
        'api backfill resume',
        'api backfill pause',
      ]);

      const metrics = await get('/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await metrics.text()).toMatch(/^# TYPE tandem_\w+ /m);
      // the logs name the address and the token names' count, never a token
      expect(out.stderr).toContain('"event":"run.http"');
      expect(out.stderr.includes(OP) || out.stderr.includes(VIEW) || out.stdout.includes(OP)).toBe(false);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 60_000);
});

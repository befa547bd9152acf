import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlSchemaVersion, ensureControlSchema } from '../../src/control/control.js';
import { readBackfillControl } from '../../src/control/backfill-control.js';
import { readPhase, setPhase } from '../../src/control/phase.js';
import { createLogger } from '../../src/core/logger.js';
import { syntheticUser } from '../../src/demo/users.js';
import { readRoutingSnapshot } from '../../src/routing/state.js';
import { openMigration, type Migration } from '../../src/runtime/migration.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { ACTIONS } from '../../src/server/actions.js';
import { createApp } from '../../src/server/app.js';
import { statusOf } from '../../src/server/errors.js';
import { TandemError } from '../../src/core/errors.js';
import type { ServerContext } from '../../src/server/context.js';
import { recordMismatches } from '../../src/verify/mismatches.js';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from '../fixtures.js';
import { createMysqlDatabase, createPgDatabase, writeConfig } from '../helpers.js';

/**
 * The JSON API (src/server, docs/api.md) on a real MariaDB → PostgreSQL migration, through `createApp(ctx).request`
 * (no socket): bearer tokens and roles, body validation and size, unknown routes, the paginated audit log and
 * mismatches, redaction, and the audit actor of every action.
 */
const OP = 'op-7f3c9a61d2e84b05a9c1e6f2';
const VIEW = 'view-2b8e4d17c6a9f0e35d71b4c8';
const TOKENS = [
  { name: 'ops-alice', token: OP, role: 'operator' as const },
  { name: 'dash-bob', token: VIEW, role: 'viewer' as const },
];
const USERS = 30;

describe('the HTTP API', () => {
  let m: Migration;
  let ctx: ServerContext;
  let app: ReturnType<typeof createApp>;
  let logText = '';
  /** Every answer's body, for the redaction checks at the end. */
  const answers: string[] = [];
  const drops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const src = await createMysqlDatabase('tandem_api_src');
    drops.push(src.drop);
    await createLegacyMysql(src.url, USERS);
    const tgt = await createPgDatabase('tandem_api_tgt');
    drops.push(tgt.drop);
    await createNewPostgres(tgt.url);
    // orgs' key column is sensitive: its keys must never be shown
    const cfg = writeConfig(
      fixtureConfig(src.url, tgt.url).replace(
        "orgs: { table: 'orgs', key: 'id',",
        "orgs: { table: 'orgs', key: 'id', sensitive: ['id'],",
      ),
    );
    const sink = new Writable({
      write(chunk, _enc, cb) {
        logText += String(chunk);
        cb();
      },
    });
    const log = createLogger({ level: 'debug', destination: sink });
    m = await openMigration(cfg, { log });
    ctx = { m, supervisor: null, tokens: TOKENS, bodyLimitBytes: 1024, log };
    app = createApp(ctx);
  }, 60_000);

  afterAll(async () => {
    await m?.close();
    for (const d of drops) await d().catch(() => {});
  });

  /** A request through the app; the answer's text is kept for the redaction checks. */
  async function call(
    method: 'GET' | 'POST',
    path: string,
    o: { token?: string; body?: string; headers?: Record<string, string> } = {},
  ) {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    const r = await app.request(path, { method, headers, body: o.body });
    const text = await r.text();
    answers.push(text);
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON (/metrics)
    }
    return { status: r.status, headers: r.headers, text, json };
  }

  const auditCount = async () =>
    (await controlSchemaVersion(m.stores.control))
      ? Number(
          (
            await m.stores.control.query<{ n: unknown }>(
              `SELECT count(*) AS n FROM ${m.stores.control.controlTable('audit_log')}`,
            )
          )[0]?.n ?? 0,
        )
      : 0;

  it('needs a bearer token on every /api route: 401 with WWW-Authenticate and a coded JSON error; /healthz and /metrics are open', async () => {
    for (const o of [
      {},
      { token: 'not-a-token' },
      { token: `${OP}x` },
      { headers: { authorization: `Basic ${Buffer.from(`a:${OP}`).toString('base64')}` } },
      { headers: { authorization: OP } },
    ]) {
      for (const [method, path] of [
        ['GET', '/api/status'],
        ['GET', '/api/audit'],
        ['POST', '/api/kill'],
        ['GET', '/api/no-such-route'],
      ] as const) {
        const r = await call(method, path, o);
        expect(r.status, `${method} ${path} ${JSON.stringify(o)}`).toBe(401);
        expect(r.headers.get('www-authenticate')).toBe('Bearer realm="tandem"');
        expect(r.json.error.code).toBe('TANDEM_ERR_AUTH_REQUIRED');
        expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      }
    }
    // the unauthenticated kill wrote nothing
    expect((await readRoutingSnapshot(m.stores.control).catch(() => ({ killed: false }))).killed).toBe(false);
    expect((await call('GET', '/healthz')).json).toEqual({ ok: true });
    const metrics = await call('GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(metrics.text).toMatch(/^# HELP /m);
  });

  it('lets a viewer read (200) but not act (403 TANDEM_ERR_AUTH_FORBIDDEN, nothing written); an operator acts', async () => {
    const s = await call('GET', '/api/status', { token: VIEW });
    expect(s.status).toBe(200);
    expect(s.json.phase).toBe('prepare');
    expect(s.json.entities.map((e: { name: string }) => e.name).sort()).toEqual(['memberships', 'orgs', 'users']);
    for (const path of ['/api/gates', '/api/audit', '/api/mismatches'])
      expect((await call('GET', path, { token: VIEW })).status, path).toBe(200);
    const before = await auditCount();
    for (const path of [
      '/api/backfill/pause',
      '/api/backfill/resume',
      '/api/backfill/tune',
      '/api/routing',
      '/api/kill',
      '/api/unkill',
      '/api/phase/advance',
      '/api/cutover',
      '/api/rollback',
    ]) {
      const r = await call('POST', path, { token: VIEW, body: '{}' });
      expect(r.status, path).toBe(403);
      expect(r.json.error).toMatchObject({
        code: 'TANDEM_ERR_AUTH_FORBIDDEN',
        detail: { need: 'operator', role: 'viewer' },
      });
    }
    expect(await auditCount()).toBe(before);
    const p = await call('POST', '/api/backfill/pause', { token: OP });
    expect(p.status).toBe(200);
    expect(p.json).toEqual({
      from: { paused: false, maxRowsPerSecond: null, chunkSeconds: null },
      to: { paused: true, maxRowsPerSecond: null, chunkSeconds: null },
    });
    expect((await readBackfillControl(m.stores.control)).paused).toBe(true);
  });

  it('refuses a body that is not JSON, of the wrong shape or out of range with 400 naming the field, and writes nothing', async () => {
    await ensureControlSchema(m.stores.control);
    const control0 = await readBackfillControl(m.stores.control);
    const routing0 = await readRoutingSnapshot(m.stores.control);
    const before = await auditCount();
    const cases: [string, string, string, string][] = [
      ['/api/backfill/tune', '{"maxRowsPerSecond": 5', 'TANDEM_ERR_REQUEST_INVALID', '(body)'],
      ['/api/backfill/tune', '[1, 2]', 'TANDEM_ERR_REQUEST_INVALID', '(body)'],
      ['/api/backfill/tune', '{"maxRowsPerSecond": "fast"}', 'TANDEM_ERR_REQUEST_INVALID', 'maxRowsPerSecond'],
      ['/api/backfill/tune', '{"chunkSeconds": true}', 'TANDEM_ERR_REQUEST_INVALID', 'chunkSeconds'],
      ['/api/backfill/tune', '{"maxRowsPerSecnd": 5}', 'TANDEM_ERR_REQUEST_INVALID', 'maxRowsPerSecnd'],
      ['/api/backfill/tune', '{"maxRowsPerSecond": -5}', 'TANDEM_ERR_TUNE_INVALID', 'maxRowsPerSecond'],
      ['/api/backfill/tune', '{"chunkSeconds": 600}', 'TANDEM_ERR_TUNE_INVALID', 'chunkSeconds'],
      ['/api/backfill/tune', '{}', 'TANDEM_ERR_TUNE_INVALID', ''],
      ['/api/backfill/pause', '{"now": true}', 'TANDEM_ERR_REQUEST_INVALID', 'now'],
      ['/api/routing', '{}', 'TANDEM_ERR_REQUEST_INVALID', 'shadowPercent'],
      ['/api/routing', '{"canaryPercent": [5]}', 'TANDEM_ERR_REQUEST_INVALID', 'canaryPercent'],
      [
        '/api/routing',
        '{"shadowPercent": 10, "canaryPercent": 101}',
        'TANDEM_ERR_ROUTING_PERCENT_INVALID',
        'canaryPercent',
      ],
      ['/api/routing', '{"shadowPercent": 12.345}', 'TANDEM_ERR_ROUTING_PERCENT_INVALID', 'shadowPercent'],
      ['/api/phase/advance', '{"to": "canery"}', 'TANDEM_ERR_REQUEST_INVALID', 'to'],
      ['/api/phase/advance', '{"force": "yes"}', 'TANDEM_ERR_REQUEST_INVALID', 'force'],
      ['/api/cutover', '{"force": 1}', 'TANDEM_ERR_REQUEST_INVALID', 'force'],
      ['/api/rollback', '{"verify": "no"}', 'TANDEM_ERR_REQUEST_INVALID', 'verify'],
    ];
    for (const [path, body, code, field] of cases) {
      const r = await call('POST', path, { token: OP, body, headers: { 'content-type': 'application/json' } });
      expect(r.status, `${path} ${body}`).toBe(400);
      expect(r.json.error.code, `${path} ${body}`).toBe(code);
      if (field && !field.startsWith('(')) expect(r.json.error.message, `${path} ${body}`).toContain(field);
      if (code === 'TANDEM_ERR_REQUEST_INVALID')
        expect(r.json.error.detail.problems.map((p: { field: string }) => p.field)).toContain(field);
    }
    expect(await readBackfillControl(m.stores.control)).toEqual(control0);
    expect(await readRoutingSnapshot(m.stores.control)).toEqual(routing0);
    expect(await auditCount()).toBe(before);
  });

  it('refuses a body larger than bodyLimitBytes with 413 before reading it, and writes nothing', async () => {
    const before = await auditCount();
    const big = JSON.stringify({ maxRowsPerSecond: 10, pad: 'x'.repeat(2000) });
    const r = await call('POST', '/api/backfill/tune', { token: OP, body: big });
    expect(r.status).toBe(413);
    expect(r.json.error).toMatchObject({ code: 'TANDEM_ERR_REQUEST_TOO_LARGE', detail: { limit: 1024 } });
    expect((await readBackfillControl(m.stores.control)).maxRowsPerSecond).toBeNull();
    expect(await auditCount()).toBe(before);
  });

  it('answers an unknown route or method with 404 TANDEM_ERR_ROUTE_NOT_FOUND', async () => {
    for (const [method, path] of [
      ['GET', '/api/nothing'],
      ['GET', '/api/kill'],
      ['POST', '/api/status'],
      ['POST', '/api/backfill/stop'],
    ] as const) {
      const r = await call(method, path, { token: OP });
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.json.error.code).toBe('TANDEM_ERR_ROUTE_NOT_FOUND');
    }
  });

  it('audits every action with actor token:<name> and command api …, and answers what changed', async () => {
    await setPhase(m.stores.control, 'prepare', { force: true });
    const steps: [string, string, string, (j: any) => void][] = [
      ['/api/backfill/resume', '', 'api backfill resume', (j) => expect(j.to.paused).toBe(false)],
      [
        '/api/backfill/tune',
        '{"maxRowsPerSecond": 250, "chunkSeconds": 0.5}',
        'api backfill tune',
        (j) => expect(j.to).toEqual({ paused: false, maxRowsPerSecond: 250, chunkSeconds: 0.5 }),
      ],
      [
        '/api/backfill/tune',
        '{"maxRowsPerSecond": null}',
        'api backfill tune',
        (j) => expect(j).toMatchObject({ from: { maxRowsPerSecond: 250 }, to: { maxRowsPerSecond: null } }),
      ],
      [
        '/api/routing',
        '{"shadowPercent": 12.5, "canaryPercent": "5"}',
        'api routing',
        (j) => expect(j).toEqual({ shadow: { from: 0, to: 12.5 }, canary: { from: 0, to: 5, clearedTrip: null } }),
      ],
      ['/api/kill', '{}', 'api kill', (j) => expect(j).toEqual({ from: false, to: true })],
      ['/api/unkill', '{}', 'api unkill', (j) => expect(j).toEqual({ from: true, to: false })],
      [
        '/api/phase/advance',
        '{"to": "dual_write"}',
        'api phase advance',
        (j) => expect(j).toMatchObject({ from: 'prepare', to: 'dual_write', moved: true, gates: [] }),
      ],
      // from dual_write nothing is routed to new yet: an audited no-op
      [
        '/api/rollback',
        '{"verify": false}',
        'api rollback',
        (j) => expect(j).toMatchObject({ from: 'dual_write', to: 'dual_write', drained: 0 }),
      ],
    ];
    for (const [path, body, command, check] of steps) {
      const r = await call('POST', path, { token: OP, body });
      expect(r.status, `${path}: ${r.text}`).toBe(200);
      check(r.json);
      const last = (await call('GET', '/api/audit?limit=1', { token: VIEW })).json.entries[0];
      expect(last, path).toMatchObject({ command, actor: 'token:ops-alice', outcome: 'ok' });
    }
    const routing = await readRoutingSnapshot(m.stores.control);
    expect(routing).toMatchObject({ phase: 'dual_write', shadowPercent: 12.5, canaryPercent: 5, killed: false });
    // a refusal is audited with the actor too: the backfill gate fails (nothing copied), so does the cutover
    const adv = await call('POST', '/api/phase/advance', { token: OP, body: '{}' });
    expect(adv.status).toBe(409);
    expect(adv.json.error).toMatchObject({ code: 'TANDEM_ERR_GATE_FAILED' });
    expect(adv.json.error.detail.failing).toContain('backfill');
    expect(await readPhase(m.stores.control)).toBe('dual_write');
    // two cutovers at once: the second is refused while the first runs (which the failing gates then refuse)
    const [a, b] = await Promise.all([
      call('POST', '/api/cutover', { token: OP, body: '{}' }),
      call('POST', '/api/cutover', { token: OP, body: '{}' }),
    ]);
    expect([a.json.error.code, b.json.error.code].sort()).toEqual([
      'TANDEM_ERR_ACTION_IN_PROGRESS',
      'TANDEM_ERR_GATE_FAILED',
    ]);
    expect([a.status, b.status]).toEqual([409, 409]);
    const last = (await call('GET', '/api/audit?limit=1', { token: VIEW })).json.entries[0];
    expect(last).toMatchObject({ command: 'api cutover', actor: 'token:ops-alice', outcome: 'error' });
    expect(await readPhase(m.stores.control)).toBe('dual_write');
  });

  it('answers the gates of the next phase (or of ?to=) with figure, threshold, verdict and reason', async () => {
    const g = await call('GET', '/api/gates', { token: VIEW });
    expect(g.status).toBe(200);
    expect(g.json).toMatchObject({ phase: 'dual_write', to: 'shadow', pass: false });
    expect(g.json.gates.map((x: { gate: string }) => x.gate)).toEqual(['backfill', 'relay_lag', 'dead_letters']);
    for (const x of g.json.gates) {
      expect(Object.keys(x).sort()).toEqual(['figure', 'gate', 'pass', 'reason', 'threshold', 'verdict']);
      expect(x.verdict).toBe(x.pass ? 'pass' : 'fail');
    }
    expect(g.json.gates[0]).toMatchObject({ gate: 'backfill', verdict: 'fail' });
    const c = await call('GET', '/api/gates?to=new_primary', { token: VIEW });
    expect(c.json.to).toBe('new_primary');
    expect(c.json.gates.map((x: { gate: string }) => x.gate)).toEqual(
      expect.arrayContaining(['parity', 'guard', 'rehearsal']),
    );
    const bad = await call('GET', '/api/gates?to=moon', { token: VIEW });
    expect(bad.status).toBe(400);
    expect(bad.json.error.detail.problems[0].field).toBe('to');
  });

  it('pages the audit log newest first with ?limit=&before=, every entry once', async () => {
    const all = (
      await m.stores.control.query<{ id: unknown }>(
        `SELECT id FROM ${m.stores.control.controlTable('audit_log')} ORDER BY id DESC`,
      )
    ).map((r) => String(r.id));
    expect(all.length).toBeGreaterThan(7);
    const seen: string[] = [];
    let before: string | null = null;
    for (let i = 0; i < 50; i++) {
      const r = await call('GET', `/api/audit?limit=3${before ? `&before=${before}` : ''}`, { token: VIEW });
      expect(r.status).toBe(200);
      expect(r.json.entries.length).toBeLessThanOrEqual(3);
      for (const e of r.json.entries) {
        expect(e.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        seen.push(e.id);
      }
      before = r.json.next;
      if (!before) break;
      expect(r.json.entries).toHaveLength(3);
    }
    expect(seen).toEqual(all);
    for (const q of ['limit=0', 'limit=201', 'limit=x', 'before=abc', 'before=-1', 'color=red']) {
      const r = await call('GET', `/api/audit?${q}`, { token: VIEW });
      expect(r.status, q).toBe(400);
      expect(r.json.error.code).toBe('TANDEM_ERR_REQUEST_INVALID');
    }
  });

  it('pages mismatches with ?limit=&cursor=, filters them, and never shows a value, a key value or a sensitive key', async () => {
    const control = m.stores.control;
    const t0 = Date.now() - 60_000;
    // users: 7 keys seen at distinct times; orgs (sensitive key): 3 keys seen at the same time
    for (let i = 1; i <= 7; i++)
      await recordMismatches(
        control,
        'users',
        [
          {
            difference: {
              entity: 'users',
              key: String(i),
              kind: 'different',
              columns: [
                { table: 'user_profiles', column: 'bio', source: `SOURCE-VALUE-${i}`, target: `TARGET-VALUE-${i}` },
              ],
            },
            keyValues: [i],
          },
        ],
        t0 + i * 1000,
      );
    await recordMismatches(
      control,
      'orgs',
      [11, 12, 13].map((k) => ({
        difference: { entity: 'orgs', key: `ORGKEY${k}`, kind: 'missing' as const, columns: [] },
        keyValues: [`ORGKEY${k}`],
      })),
      t0 + 3500,
      true,
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 20; i++) {
      const r = await call('GET', `/api/mismatches?limit=4${cursor ? `&cursor=${cursor}` : ''}`, { token: VIEW });
      expect(r.status, r.text).toBe(200);
      for (const x of r.json.mismatches) seen.push(`${x.entity}:${x.key}:${x.lastSeenAt}`);
      cursor = r.json.next;
      if (!cursor) break;
      expect(Buffer.from(cursor, 'base64url').toString('latin1')).not.toContain('ORGKEY');
    }
    const iso = (i: number) => new Date(t0 + i).toISOString();
    expect(seen).toEqual([
      `users:7:${iso(7000)}`,
      `users:6:${iso(6000)}`,
      `users:5:${iso(5000)}`,
      `users:4:${iso(4000)}`,
      ...[0, 1, 2].map(() => `orgs:[redacted]:${iso(3500)}`),
      `users:3:${iso(3000)}`,
      `users:2:${iso(2000)}`,
      `users:1:${iso(1000)}`,
    ]);
    const one = (await call('GET', '/api/mismatches?entity=users&limit=1', { token: VIEW })).json.mismatches[0];
    expect(one).toEqual({
      entity: 'users',
      key: '7',
      kind: 'different',
      columns: ['user_profiles.bio'],
      state: 'pending',
      origin: 'verify',
      firstSeenAt: iso(7000),
      lastSeenAt: iso(7000),
      stateAt: iso(7000),
      checks: 1,
    });
    const confirmed = await call('GET', '/api/mismatches?state=confirmed', { token: VIEW });
    expect(confirmed.json.mismatches.map((x: { entity: string }) => x.entity)).toEqual(['orgs', 'orgs', 'orgs']);
    expect((await call('GET', '/api/mismatches?origin=shadow', { token: VIEW })).json.mismatches).toEqual([]);
    for (const q of ['cursor=bm9wZQ', 'state=open', 'limit=-1', 'entity=']) {
      const r = await call('GET', `/api/mismatches?${q}`, { token: VIEW });
      expect(r.status, q).toBe(400);
      expect(r.json.error.code).toBe('TANDEM_ERR_REQUEST_INVALID');
    }
  });

  it('redacts audit arguments and details on the way out, even ones written around audit()', async () => {
    await m.stores.control.execute(
      `INSERT INTO ${m.stores.control.controlTable('audit_log')} (command, args, actor, outcome, detail) VALUES ($1, $2, $3, $4, $5)`,
      [
        'legacy-tool',
        JSON.stringify({ url: 'postgres://app:S3cretPw0rd@db.internal/app' }),
        'someone@host',
        'ok',
        'connected with password=S3cretPw0rd',
      ],
    );
    const e = (await call('GET', '/api/audit?limit=1', { token: VIEW })).json.entries[0];
    expect(e.args).toEqual({ url: 'postgres://app:***@db.internal/app' });
    expect(e.detail).toBe('connected with password=***');
  });

  it('never puts a token, its hash, a password hash or a row value in an answer or a log line', async () => {
    const secrets = [OP, VIEW, 'S3cretPw0rd'];
    for (const t of [OP, VIEW]) {
      secrets.push(createHash('sha256').update(t).digest('hex'));
      secrets.push(createHash('sha256').update(t).digest('base64'));
    }
    for (let id = 1; id <= USERS; id++) secrets.push(syntheticUser(id, 7).password_hash);
    for (let i = 1; i <= 7; i++) secrets.push(`SOURCE-VALUE-${i}`, `TARGET-VALUE-${i}`);
    secrets.push('ORGKEY');
    expect(answers.length).toBeGreaterThan(80);
    expect(logText).toMatch(/server\.action/);
    expect(logText).toContain('token:ops-alice');
    const all = `${answers.join('\n')}\n${logText}`;
    for (const s of secrets) expect(all.includes(s), s.slice(0, 12)).toBe(false);
  });

  it('is documented: docs/api.md names every route, and every error code it lists exists with the status it gives', () => {
    const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
    for (const path of Object.keys(ACTIONS)) expect(doc, path).toMatch(new RegExp(`POST /api/${path}\\b`));
    for (const path of ['status', 'gates', 'audit', 'mismatches']) expect(doc).toContain(`GET /api/${path}`);
    const table = doc.slice(doc.indexOf('| status | codes |'), doc.indexOf('Bad input is refused'));
    const rows = table.split('\n').filter((l) => /^\| \d{3} \|/.test(l));
    expect(rows.length).toBeGreaterThan(6);
    for (const row of rows) {
      const status = Number(row.slice(2, 5));
      for (const [, code] of row.matchAll(/`TANDEM_ERR_([A-Z_]+)`/g)) {
        expect(Object.keys(ErrorCodes), code).toContain(code);
        if (status !== 500) expect(statusOf(new TandemError(code as keyof typeof ErrorCodes, 'x')), code).toBe(status);
      }
    }
  });
});

import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { audit, ensureControlSchema } from '../../src/control/control.js';
import { setPhase } from '../../src/control/phase.js';
import { createReadStats } from '../../src/routing/stats.js';
import type { Migration } from '../../src/runtime/migration.js';
import { openMigration } from '../../src/runtime/migration.js';
import type { Supervisor } from '../../src/runtime/services/supervisor.js';
import { type RunningServer, startServer } from '../../src/server/app.js';
import { migrationFixture, quiet, sleep, waitFor } from '../runtime/helpers.js';

/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core, never a downloaded browser) on a
 * real MariaDB → PostgreSQL migration whose backfill runs in this process (the supervisor of `tandem run`, rate
 * limited so it is watchable), served by the real server (`startServer`) with a viewer and an operator token. An
 * application reads users from both stores and publishes its read windows, so the guard's charts have data.
 * Screenshots (laptop 1366×850, phone 390×844) go to test-artifacts/dashboard/.
 *
 * Skipped only when /usr/bin/chromium is absent and CI is not set; under CI a missing chromium fails.
 */
const CHROMIUM = '/usr/bin/chromium';
const HAVE = existsSync(CHROMIUM);
const CI = !!process.env.CI && process.env.CI !== 'false';
const OUT = resolve(import.meta.dirname, '../../test-artifacts/dashboard');
const OPS = `ops-${'k'.repeat(8)}-${Math.random().toString(36).slice(2)}`;
const VIEW = `view-${'v'.repeat(8)}-${Math.random().toString(36).slice(2)}`;

/** Resolves once htmx has settled the dialog's new content (its documented htmx-added / htmx-settling classes gone). */
const settled = (page: Page) =>
  page
    .locator('#confirm-body.htmx-settling, #confirm-body.htmx-swapping, #confirm-body .htmx-added')
    .first()
    .waitFor({ state: 'detached', timeout: 5000 });

const copiedOf = async (page: Page, entity: string) =>
  Number(await page.locator(`#backfill .entity[data-entity="${entity}"] progress`).getAttribute('data-copied'));

describe.skipIf(!HAVE && !CI)('the dashboard in chromium', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  it('logs in, watches the backfill move, pauses it, sets the canary, kills routing; no token in any page', async () => {
    expect(HAVE, `${CHROMIUM} is missing (CI=true: install it with apt-get install -y chromium)`).toBe(true);
    mkdirSync(OUT, { recursive: true });
    const f = await migrationFixture('tandem_dash', 3000);
    cleanup.push(f.drop);
    const m: Migration = await openMigration(f.cfg, { log: quiet });
    cleanup.push(() => m.close());
    await ensureControlSchema(m.stores.control);
    await setPhase(m.stores.control, 'dual_write');
    // text from the control plane is escaped, never markup
    await audit(m.stores.control, { command: 'note', args: {}, outcome: 'ok', detail: '<img id="xss" src="/x">' });
    // the worker: backfill at 300 rows/s (3000 users take ~10 s), no verification, no guard service
    const sup: Supervisor = m.services.supervisor({
      backfill: { maxRowsPerSecond: 300 },
      verify: { intervalSeconds: 0 },
      guard: { intervalSeconds: 0 },
      phasePollMs: 300,
    });
    await sup.start();
    cleanup.push(() => sup.stop());
    const server: RunningServer = await startServer(
      {
        m,
        supervisor: sup,
        tokens: [
          { name: 'watcher', token: VIEW, role: 'viewer' },
          { name: 'ops', token: OPS, role: 'operator' },
        ],
        bodyLimitBytes: 65_536,
        log: quiet,
      },
      '127.0.0.1:0',
    );
    cleanup.push(() => server.close());

    // the application: real reads of both stores, compared, published for the guard every 500 ms
    const stats = createReadStats({ instanceId: 'dash-app', metrics: false });
    const pub = stats.startPublishing(m.stores.control, { intervalMs: 500 });
    const legacy = await mysql.createConnection({ uri: f.src.url });
    const next = new pg.Client({ connectionString: f.tgt.url });
    await next.connect();
    const stop = { done: false };
    const app = (async () => {
      for (let i = 0; !stop.done; i++) {
        const id = 1 + ((i * 7) % 300);
        let t = performance.now();
        const [l] = await legacy.query<mysql.RowDataPacket[]>('SELECT email FROM users WHERE id = ?', [id]);
        stats.read({
          entity: 'users',
          origin: 'legacy',
          outcome: 'ok',
          latencyMs: performance.now() - t,
          served: true,
        });
        t = performance.now();
        const n = await next.query('SELECT email_address FROM users WHERE id = $1', [id]);
        stats.read({ entity: 'users', origin: 'new', outcome: 'ok', latencyMs: performance.now() - t, served: false });
        const a = l[0]?.email as string | undefined;
        const b = n.rows[0]?.email_address as string | undefined;
        stats.comparison('users', b === undefined ? 'lagging' : a === b ? 'matched' : 'mismatched');
        await sleep(15);
      }
    })();
    cleanup.push(async () => {
      stop.done = true;
      await app.catch(() => {});
      await pub.stop();
      await legacy.end();
      await next.end();
    });

    // the shell is public and holds nothing: no data, no token; strict CSP
    const shell = await fetch(server.url);
    expect(shell.status).toBe(200);
    const csp = shell.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const shellText = await shell.text();
    expect(shellText).not.toContain('users');
    expect(shellText).not.toContain(f.tgt.url);
    // fragments need a token
    expect((await fetch(`${server.url}/ui/live`)).status).toBe(401);

    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    cleanup.push(() => browser.close());
    const context = await browser.newContext({ viewport: { width: 1366, height: 850 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/401 \(Unauthorized\)/.test(msg.text())) problems.push(msg.text());
    });
    page.on('pageerror', (e) => problems.push(String(e)));
    page.on('response', (r) => {
      if (r.status() >= 400 && r.status() !== 401) problems.push(`${r.status()} ${new URL(r.url()).pathname}`);
    });

    await page.goto(server.url);
    await expect.poll(() => page.locator('#login').isVisible()).toBe(true);
    // a wrong token: refused, the login stays
    await page.fill('#token', 'not-a-token');
    await page.click('#login-submit');
    await expect.poll(() => page.locator('#login-error').textContent(), { timeout: 5000 }).toContain('401');
    // the operator logs in once; the token lives in session storage only
    await page.fill('#token', OPS);
    await page.click('#login-submit');
    await page.locator('#backfill .entity[data-entity="users"] progress').waitFor({ timeout: 10_000 });
    expect(await page.locator('#who').textContent()).toContain('ops (operator)');
    expect(await page.evaluate('document.cookie')).toBe('');
    expect(await page.evaluate("sessionStorage.getItem('tandem.token')")).toBe(OPS);

    // the bar moves
    await waitFor('the users backfill to start', async () => (await copiedOf(page, 'users')) > 0, 15_000);
    const c0 = await copiedOf(page, 'users');
    await waitFor('the users bar to move', async () => (await copiedOf(page, 'users')) > c0, 8_000);
    expect(await page.locator('#road li.current').textContent()).toBe('dual_write');
    expect(await page.locator('#road table.gates tr[data-gate="backfill"]').count()).toBe(1);
    await page.screenshot({ path: `${OUT}/laptop.png`, fullPage: true });

    // pause: the dialog shows the gates before acting
    await page.click('#btn-backfill-pause');
    await page.locator('#confirm[open] table.gates').waitFor({ timeout: 5000 });
    await settled(page);
    await page.screenshot({ path: `${OUT}/laptop-confirm-pause.png` });
    await page.click('#confirm-ok');
    await expect.poll(() => page.locator('#action-result').textContent(), { timeout: 5000 }).toContain('→ paused');
    await page.click('#confirm-close');
    await expect.poll(() => page.locator('#backfill-control').textContent(), { timeout: 5000 }).toContain('paused');
    // within one chunk it stops: the copied count stays put
    await sleep(1500);
    const p1 = await copiedOf(page, 'users');
    await sleep(2500);
    const p2 = await copiedOf(page, 'users');
    expect(p2).toBe(p1);
    const total = Number(await page.locator('#backfill .entity[data-entity="users"] progress').getAttribute('max'));
    expect(p2).toBeLessThan(total);

    // tune: the form's text becomes the API's numbers
    await page.click('#btn-backfill-tune');
    await page.locator('#confirm[open] #f-maxRowsPerSecond').waitFor({ timeout: 5000 });
    await settled(page);
    await page.fill('#f-maxRowsPerSecond', '500');
    await page.click('#confirm-ok');
    await expect.poll(() => page.locator('#action-result').textContent(), { timeout: 5000 }).toContain('rate 500');
    await page.click('#confirm-close');
    // advance: the dialog shows the destination's gates and changes with it; cancelled, nothing moves
    await page.click('#btn-phase-advance');
    await page.locator('#confirm[open] table.gates tr[data-gate="backfill"]').waitFor({ timeout: 5000 });
    await settled(page);
    await page.selectOption('#f-to', 'canary');
    await page.locator('#confirm[open] table.gates tr[data-gate="parity"]').waitFor({ timeout: 5000 });
    await settled(page);
    await page.click('#confirm-cancel');
    expect(await page.locator('#confirm[open]').count()).toBe(0);
    expect(await m.readPhase()).toBe('dual_write');

    // the canary
    await page.click('#btn-routing');
    await page.locator('#confirm[open] #f-canaryPercent').waitFor({ timeout: 5000 });
    await settled(page);
    await page.fill('#f-canaryPercent', '25');
    await page.click('#confirm-ok');
    await expect
      .poll(() => page.locator('#action-result').textContent(), { timeout: 5000 })
      .toContain('canary 0 % → 25 %');
    await page.click('#confirm-close');
    await expect
      .poll(() => page.locator('#routing [data-field="canary"]').textContent(), { timeout: 5000 })
      .toBe('25 %');

    // kill: the guard's and the kill switch's state on the page
    await page.click('#btn-kill');
    await page.locator('#confirm[open] #confirm-ok').waitFor({ timeout: 5000 });
    await settled(page);
    await page.click('#confirm-ok');
    await expect.poll(() => page.locator('#action-result').textContent(), { timeout: 5000 }).toContain('off → on');
    await page.click('#confirm-close');
    await page.locator('#killed-banner').waitFor({ timeout: 5000 });
    expect(await page.locator('#routing [data-field="killed"]').textContent()).toBe('on');
    expect(await page.locator('#routing [data-field="guard"]').textContent()).toMatch(/^(green|insufficient|tripped)$/);
    expect(await page.locator('#btn-unkill').count()).toBe(1);
    // every change audited with the token's name
    await expect.poll(() => page.locator('#audit').textContent(), { timeout: 5000 }).toContain('token:ops');
    const auditText = (await page.locator('#audit').textContent()) ?? '';
    for (const c of ['api backfill pause', 'api backfill tune', 'api routing', 'api kill'])
      expect(auditText).toContain(c);
    expect(auditText).toContain('<img id="xss" src="/x">');
    expect(await page.locator('#xss').count()).toBe(0);
    // the guard's charts: SVG, with the reads the application made
    expect(await page.locator('#routing svg.spark').count()).toBe(6);
    await page.screenshot({ path: `${OUT}/laptop-killed.png`, fullPage: true });

    // the phone
    await page.setViewportSize({ width: 390, height: 844 });
    await sleep(300);
    const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: `${OUT}/phone.png`, fullPage: true });

    // no token or secret in any page the browser holds
    const htmlNow = await page.content();
    expect(htmlNow).not.toContain(OPS);
    expect(htmlNow).not.toContain(VIEW);
    expect(htmlNow).not.toContain(f.tgt.url);

    // a viewer reads, but its buttons are disabled and a POST is refused
    const viewer = await browser.newPage({ viewport: { width: 1366, height: 850 } });
    await viewer.goto(server.url);
    await viewer.fill('#token', VIEW);
    await viewer.click('#login-submit');
    await viewer.locator('#controls .warn').waitFor({ timeout: 10_000 });
    expect(await viewer.locator('#btn-kill, #btn-unkill').first().isDisabled()).toBe(true);
    const refused = await fetch(`${server.url}/ui/actions/unkill`, {
      method: 'POST',
      headers: { authorization: `Bearer ${VIEW}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('TANDEM_ERR_AUTH_FORBIDDEN');
    expect((await m.status()).routing.killed).toBe(true);

    expect(problems).toEqual([]);
  });
});

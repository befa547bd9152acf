/**
 * The dashboard (docs/dashboard.md): server-rendered HTML, live through htmx (vendored as one file, vendor/), no
 * build step. Routes, mounted at `/` by src/server/app.ts:
 *
 * - `GET /` — the page shell: public, holds no data; it asks for the token once, keeps it in session storage and
 *   sends it as `Authorization: Bearer …` with every fragment request (src/server/dashboard/assets.ts);
 * - `GET /assets/htmx.js`, `GET /assets/dashboard.js` — public, static (and `/favicon.ico`, empty);
 * - `GET /ui/live` (every 2 s), `GET /ui/controls`, `GET /ui/whoami`, `GET /ui/confirm/<action>` — fragments, a
 *   `viewer` token (app.ts authenticates `/ui/*`);
 * - `POST /ui/actions/<action>` — the dialog's confirm: the form turned into the JSON body of `POST /api/<action>`
 *   and that same action called (src/server/actions.ts), so an `operator` token, zod checks and the audit apply.
 *
 * Every answer carries a Content-Security-Policy that allows this origin only (and the page's one inline style by
 * its hash), `nosniff`, `no-referrer`, no framing and `no-store`.
 */
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { errorLine, TandemError } from '../../core/errors.js';
import { readMigrationStatus } from '../../runtime/status.js';
import type { ServerContext, ServerEnv } from '../context.js';
import { statusOf } from '../errors.js';
import { DASHBOARD_JS, htmxSource, SECURITY_HEADERS } from './assets.js';
import { bodyOf, confirmDialog, controlsPanel, errorView, isUiAction, resultView } from './controls.js';
import { html, type Html } from './html.js';
import { livePanels, readLive } from './panels.js';
import { runUiAction } from './run-action.js';
import { shellPage } from './shell.js';

function send(c: Context, body: string, type: string, status: ContentfulStatusCode = 200): Response {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.header(k, v);
  c.header('content-type', type);
  return c.body(body, status);
}

const page = (c: Context, h: Html, status: ContentfulStatusCode = 200) =>
  send(c, h.value, 'text/html; charset=utf-8', status);

/** The dashboard's routes, mounted at `/` (public shell and assets); fragments under `/ui` need a token. */
export function dashboardRoutes(ctx: ServerContext): Hono<ServerEnv> {
  const ui = new Hono<ServerEnv>();
  ui.get('/', (c) => page(c, shellPage()));
  ui.get('/assets/htmx.js', (c) => send(c, htmxSource(), 'text/javascript; charset=utf-8'));
  ui.get('/assets/dashboard.js', (c) => send(c, DASHBOARD_JS, 'text/javascript; charset=utf-8'));
  // browsers ask for it on their own: an empty answer rather than a 404 in the console
  ui.get('/favicon.ico', (c) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.header(k, v);
    return c.body(null, 204);
  });

  ui.get('/ui/whoami', (c) => {
    const p = c.get('principal');
    return page(c, html`signed in as <b>${p.name}</b> (${p.role})`);
  });
  ui.get('/ui/live', async (c) => page(c, livePanels(await readLive(ctx.m), ctx.m)));
  ui.get('/ui/controls', async (c) => {
    const s = await readMigrationStatus(ctx.m).catch(() => null);
    return page(c, controlsPanel(c.get('principal'), s));
  });
  ui.get('/ui/confirm/:action{.+}', async (c) => {
    const action = c.req.param('action');
    if (!isUiAction(action)) throw new TandemError('ROUTE_NOT_FOUND', `no dashboard action ${action}`);
    const s = await readMigrationStatus(ctx.m);
    return page(c, await confirmDialog(ctx, action, s, { to: c.req.query('to') }));
  });
  ui.post('/ui/actions/:action{.+}', async (c) => {
    const action = c.req.param('action');
    if (!isUiAction(action)) throw new TandemError('ROUTE_NOT_FOUND', `no dashboard action ${action}`);
    try {
      const form = await c.req.parseBody().catch(() => {
        throw new TandemError('REQUEST_INVALID', 'the form could not be read', {
          problems: [{ field: '(body)', message: 'not a form' }],
        });
      });
      const r = await runUiAction(ctx, action, c.get('principal'), bodyOf(action, form));
      c.header('HX-Trigger', 'tandem:changed');
      return page(c, resultView(action, r));
    } catch (e) {
      const status = e instanceof TandemError ? statusOf(e) : 500;
      if (!(e instanceof TandemError))
        ctx.log.error({ event: 'server.error', action, err: errorLine(e) }, 'dashboard: an action failed unexpectedly');
      return page(c, errorView(action, e), status);
    }
  });
  return ui;
}

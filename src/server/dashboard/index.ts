/**
 * The dashboard (docs/api.md "Dashboard"): server-rendered pages, live through htmx (vendored, vendor/), no build
 * step. The shell page is public and holds no data; it asks for the token once, keeps it in session storage and
 * sends it as a bearer header with every fragment request, which need a `viewer` token (actions an `operator`).
 */
import { Hono } from 'hono';
import type { ServerContext, ServerEnv } from '../context.js';

/** The dashboard's routes, mounted at `/` (public shell) — fragments under `/ui` go through the token check. */
export function dashboardRoutes(_ctx: ServerContext): Hono<ServerEnv> {
  const ui = new Hono<ServerEnv>();
  ui.get('/', (c) => c.html('<!doctype html><title>Tandem</title><p>Tandem dashboard</p>'));
  return ui;
}

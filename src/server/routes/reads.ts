/**
 * The GET routes of the API (docs/api.md "Reads"): any token (`viewer` or `operator`). Query strings are checked
 * (src/server/input.ts): a bad one is 400 TANDEM_ERR_REQUEST_INVALID naming the parameter.
 */
import { Hono } from 'hono';
import type { ServerContext, ServerEnv } from '../context.js';
import { auditRead, gatesRead, mismatchesRead, statusRead } from '../reads.js';

/** `GET /status`, `/gates`, `/audit`, `/mismatches` (mounted under `/api`). */
export function readRoutes(ctx: ServerContext): Hono<ServerEnv> {
  const r = new Hono<ServerEnv>();
  r.get('/status', async (c) => c.json(await statusRead(ctx)));
  r.get('/gates', async (c) => c.json(await gatesRead(ctx, c.req.query())));
  r.get('/audit', async (c) => c.json(await auditRead(ctx, c.req.query())));
  r.get('/mismatches', async (c) => c.json(await mismatchesRead(ctx, c.req.query())));
  return r;
}

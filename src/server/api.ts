/**
 * The JSON API under `/api` (docs/api.md): every route needs a bearer token (src/server/auth.ts); reads need a
 * `viewer`, actions an `operator`. Actions are POST with a JSON body checked by zod, and every action is audited
 * with the name of the token that asked. The reads are src/server/reads.ts, the actions src/server/actions.ts
 * (the dashboard calls the same functions).
 */
import { Hono } from 'hono';
import type { ServerContext, ServerEnv } from './context.js';
import { actionRoutes } from './routes/actions.js';
import { readRoutes } from './routes/reads.js';

/** The `/api` routes. */
export function apiRoutes(ctx: ServerContext): Hono<ServerEnv> {
  const api = new Hono<ServerEnv>();
  api.route('/', readRoutes(ctx));
  api.route('/', actionRoutes(ctx));
  return api;
}

/**
 * The JSON API under `/api` (docs/api.md): every route needs a bearer token (src/server/auth.ts); reads need a
 * `viewer`, actions an `operator`. Actions are POST with a JSON body checked by zod, and every action is audited
 * with the name of the token that asked.
 */
import { Hono } from 'hono';
import { readMigrationStatus } from '../runtime/status.js';
import type { ServerContext, ServerEnv } from './context.js';

/** The `/api` routes. */
export function apiRoutes(ctx: ServerContext): Hono<ServerEnv> {
  const api = new Hono<ServerEnv>();
  /** The status model (docs/status.md): the same JSON as `tandem status --json`. */
  api.get('/status', async (c) => c.json(await readMigrationStatus(ctx.m)));
  return api;
}

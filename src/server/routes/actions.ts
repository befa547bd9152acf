/**
 * The POST routes of the API (docs/api.md "Actions"): one per action of src/server/actions.ts, each needing an
 * `operator` token (403 TANDEM_ERR_AUTH_FORBIDDEN for a viewer) and a JSON body (none, or `{}`, where the action
 * takes no field). The body's size is limited before it is read (413, src/server/app.ts); text that is not JSON, or
 * JSON of the wrong shape, is 400 TANDEM_ERR_REQUEST_INVALID naming the field.
 */
import { Hono } from 'hono';
import { ACTIONS } from '../actions.js';
import { requireRole } from '../auth.js';
import type { ServerContext, ServerEnv } from '../context.js';
import { parseJsonBody } from '../input.js';

/** `POST /<action>` for every action (mounted under `/api`). */
export function actionRoutes(ctx: ServerContext): Hono<ServerEnv> {
  const r = new Hono<ServerEnv>();
  for (const [path, action] of Object.entries(ACTIONS))
    r.post(`/${path}`, requireRole('operator'), async (c) => {
      const body = parseJsonBody(await c.req.text());
      return c.json(await action(ctx, c.get('principal'), body));
    });
  return r;
}

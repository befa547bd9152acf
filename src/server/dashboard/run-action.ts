/**
 * Runs a dashboard action through the API's action of the same path (src/server/actions.ts): the same role check
 * (operator), zod body check and audit (`token:<name>`, command `api …`) as `POST /api/<action>`.
 */
import { ACTIONS } from '../actions.js';
import type { Principal, ServerContext } from '../context.js';
import type { UiAction } from './controls.js';

/** Calls the API action `action` with `body` as `principal`. Throws what the action throws (a TandemError). */
export function runUiAction(
  ctx: ServerContext,
  action: UiAction,
  p: Principal,
  body: Record<string, unknown>,
): Promise<unknown> {
  return ACTIONS[action](ctx, p, body);
}

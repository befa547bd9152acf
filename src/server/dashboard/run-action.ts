/**
 * Runs a dashboard action through the API's action of the same path (src/server/actions.ts).
 */
import { TandemError } from '../../core/errors.js';
import type { Principal, ServerContext } from '../context.js';
import type { UiAction } from './controls.js';

/** Calls the API action `action` with `body` as `principal`. Throws what the action throws. */
export async function runUiAction(
  _ctx: ServerContext,
  action: UiAction,
  _p: Principal,
  _body: Record<string, unknown>,
): Promise<unknown> {
  throw new TandemError('ROUTE_NOT_FOUND', `the action ${action} is not available yet`);
}

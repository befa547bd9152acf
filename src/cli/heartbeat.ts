import { DEFAULT_HEARTBEAT_SECONDS, startHeartbeat, type Heartbeat } from '../control/heartbeat.js';
import type { CommandContext } from './context.js';

/**
 * Starts the heartbeat of a long-running command in the context's control store, every
 * `config.heartbeatSeconds` (default 5 s); `role` is the command (`backfill`, `relay`, …). Never throws (see
 * `startHeartbeat`). The caller stops it (`await hb.stop()`) when the command ends, however it ends.
 */
export function commandHeartbeat(
  ctx: CommandContext,
  role: string,
  info?: Record<string, unknown>,
): Promise<Heartbeat> {
  return startHeartbeat(ctx.control, {
    role,
    intervalMs: (ctx.config.heartbeatSeconds ?? DEFAULT_HEARTBEAT_SECONDS) * 1000,
    info,
    log: ctx.log,
  });
}

import type { GuardVerdict, RoutingState } from './types.js';

/**
 * OpenFeature as the source of the canary decision (issue 11 item 6; docs/guard.md "OpenFeature"). Teams that run
 * their flags through OpenFeature (`@openfeature/server-sdk`, an optional peer dependency of Tandem) let their flag
 * provider decide, per key, whether a read in the `canary` phase is served by the new store — with Tandem's own
 * switches still overriding it.
 *
 * Precedence, first match wins (the reader applies it; {@link withRoutingOverrides} is the rule as code):
 * 1. the phase — outside `canary` the flag is never asked (`prepare`, `dual_write`, `shadow`: legacy serves;
 *    `new_primary` and later: new serves);
 * 2. the kill switch (`routing.killed`): legacy;
 * 3. the guard tripped (`routing.guard`): legacy;
 * 4. `routing.canary_percent` = 0 (what the guard writes when it trips, and `tandem canary 0`): legacy;
 * 5. the OpenFeature flag, evaluated with targeting key = the canonical key: `true` → new, `false` → legacy.
 *    It replaces the bucket test (`bucket < canaryPercent × 100`) — a percentage above 0 only enables it.
 * A flag evaluation that fails (provider not ready, flag missing, a throw) is `false`: legacy.
 *
 * Tandem does not import the SDK: {@link OpenFeatureClientLike} is the one method it calls, so the SDK's `Client`
 * (from `OpenFeature.getClient()`) fits without Tandem depending on it.
 */

/** The part of an OpenFeature client Tandem calls: `Client.getBooleanValue` of `@openfeature/server-sdk`. */
export interface OpenFeatureClientLike {
  getBooleanValue(
    flagKey: string,
    defaultValue: boolean,
    context?: { targetingKey?: string; [attribute: string]: unknown },
  ): Promise<boolean>;
}

/**
 * Decides whether the read of one key goes to the canary: `(entity, canonicalKey, bucket?) => Promise<boolean>` —
 * the shape of the reader's `canaryDecision` option (src/routing/reader.ts), so it can be passed as it is.
 */
export type CanaryDecision = (entity: string, canonicalKey: string, bucket?: number) => Promise<boolean>;

/**
 * The canary decision from an OpenFeature boolean flag `flagKey`: evaluated with the evaluation context
 * `{ targetingKey: canonicalKey, entity }` (so a provider can target by key or by entity, and its own percentage
 * rollouts hash the canonical key), default `false`. Never throws: an evaluation error is `false` (legacy).
 *
 * ```ts
 * import { OpenFeature } from '@openfeature/server-sdk';
 * const canary = openFeatureCanary(OpenFeature.getClient(), 'users-new-store');
 * const users = migration.reads('users', { legacy, new: fromNew, canaryDecision: canary });
 * ```
 */
export function openFeatureCanary(client: OpenFeatureClientLike, flagKey: string): CanaryDecision {
  if (!client || typeof client.getBooleanValue !== 'function')
    throw new TypeError('openFeatureCanary: expected an OpenFeature client (getBooleanValue)');
  if (typeof flagKey !== 'string' || !flagKey) throw new TypeError('openFeatureCanary: expected a flag key');
  return async (entity, canonicalKey) => {
    try {
      return (await client.getBooleanValue(flagKey, false, { targetingKey: canonicalKey, entity })) === true;
    } catch {
      return false;
    }
  };
}

/** The routing state a canary decision is overridden by (a snapshot the reader holds, read from the control plane). */
export interface CanaryOverrides {
  killed: RoutingState['killed'];
  canaryPercent: RoutingState['canaryPercent'];
  guard: GuardVerdict | null;
}

/**
 * `decide` under Tandem's switches (steps 2–4 of the precedence above): `false` without asking `decide` when the
 * kill switch is on, the guard is tripped or the canary is at 0; otherwise what `decide` says (`false` when it
 * throws). `state` is read on every call, so a change reaches the next read.
 */
export function withRoutingOverrides(decide: CanaryDecision, state: () => CanaryOverrides): CanaryDecision {
  return async (entity, canonicalKey, bucket) => {
    try {
      const s = state();
      if (s.killed || s.guard?.state === 'tripped' || !(s.canaryPercent > 0)) return false;
      return (await decide(entity, canonicalKey, bucket)) === true;
    } catch {
      return false;
    }
  };
}

import { OpenFeature, TypedInMemoryProvider } from '@openfeature/server-sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { type CanaryOverrides, openFeatureCanary, withRoutingOverrides } from '../../src/routing/openfeature.js';

/**
 * OpenFeature as the source of the canary decision, with the real `@openfeature/server-sdk` and its in-memory
 * provider (no mock of Tandem or of the SDK): targeting key = the canonical key, errors are legacy, and Tandem's
 * kill switch, guard and canary 0 override the flag.
 */
describe('openFeatureCanary', () => {
  const seen: { targetingKey?: string; entity?: unknown }[] = [];
  const provider = new TypedInMemoryProvider({
    'users-new-store': {
      variants: { on: true, off: false },
      defaultVariant: 'off',
      disabled: false,
      contextEvaluator: (ctx) => {
        seen.push({ targetingKey: ctx.targetingKey, entity: ctx.entity });
        return ctx.targetingKey === '42' || ctx.targetingKey === '7|ü-ñ' ? 'on' : 'off';
      },
    },
  });
  afterAll(async () => {
    await OpenFeature.clearProviders();
  });

  it('asks the flag per key with targeting key = canonical key (composite, non-ASCII included)', async () => {
    await OpenFeature.setProviderAndWait('tandem-test', provider);
    const client = OpenFeature.getClient('tandem-test');
    const canary = openFeatureCanary(client, 'users-new-store');
    expect(await canary('users', '42')).toBe(true);
    expect(await canary('users', '41')).toBe(false);
    expect(await canary('memberships', '7|ü-ñ')).toBe(true);
    expect(seen).toEqual([
      { targetingKey: '42', entity: 'users' },
      { targetingKey: '41', entity: 'users' },
      { targetingKey: '7|ü-ñ', entity: 'memberships' },
    ]);
    // a change of the flag reaches the next decision
    provider.putConfiguration({
      'users-new-store': { variants: { on: true, off: false }, defaultVariant: 'on', disabled: false },
    });
    expect(await canary('users', '41')).toBe(true);
  });

  it('is false (legacy) when the flag is missing, the provider fails or the client throws; bad arguments are refused', async () => {
    await OpenFeature.setProviderAndWait(
      'tandem-test-2',
      new TypedInMemoryProvider({
        'broken-flag': {
          variants: { on: true, off: false },
          defaultVariant: 'on',
          disabled: false,
          contextEvaluator: () => {
            throw new Error('provider failure');
          },
        },
      }),
    );
    const client = OpenFeature.getClient('tandem-test-2');
    expect(await openFeatureCanary(client, 'no-such-flag')('1', 'users')).toBe(false);
    expect(await openFeatureCanary(client, 'broken-flag')('1', 'users')).toBe(false);
    const throwing = {
      getBooleanValue: async () => {
        throw new Error('boom');
      },
    };
    expect(await openFeatureCanary(throwing, 'f')('1', 'users')).toBe(false);
    expect(() => openFeatureCanary({} as never, 'f')).toThrow(/OpenFeature client/);
    expect(() => openFeatureCanary(client, '')).toThrow(/flag key/);
  });

  it('kill switch, tripped guard and canary 0 override the flag without asking it', async () => {
    await OpenFeature.setProviderAndWait(
      'tandem-test-3',
      new TypedInMemoryProvider({
        always: { variants: { on: true, off: false }, defaultVariant: 'on', disabled: false },
      }),
    );
    let asked = 0;
    const flag = openFeatureCanary(OpenFeature.getClient('tandem-test-3'), 'always');
    const counted = async (k: string, e: string) => {
      asked++;
      return flag(k, e);
    };
    const state: CanaryOverrides = {
      killed: false,
      canaryPercent: 5,
      guard: { state: 'green', reason: null, atMs: 1, cooldownUntilMs: null },
    };
    const decide = withRoutingOverrides(counted, () => state);
    expect(await decide('users', '1')).toBe(true);
    state.killed = true;
    expect(await decide('users', '1')).toBe(false);
    state.killed = false;
    state.guard = { state: 'tripped', reason: 'error rate 5% > 1% over 200 reads of new', atMs: 2, cooldownUntilMs: 3 };
    expect(await decide('users', '1')).toBe(false);
    state.guard = null;
    state.canaryPercent = 0;
    expect(await decide('users', '1')).toBe(false);
    state.canaryPercent = 0.01;
    expect(await decide('users', '1')).toBe(true);
    expect(asked).toBe(2);
    // a state reader that throws is legacy too
    expect(
      await withRoutingOverrides(counted, () => {
        throw new Error('no state');
      })('1', 'users'),
    ).toBe(false);
  });
});

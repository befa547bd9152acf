import type { Command } from 'commander';
import { audit, controlSchemaVersion } from '../control/control.js';
import { loadConfig } from '../config/load.js';
import { TandemError } from '../core/errors.js';
import { bucketKeyFn, bucketOf, canonicalKeyOf } from '../routing/bucket.js';
import { routeOf } from '../routing/reader.js';
import { readRoutingSnapshot, type RoutingSnapshot } from '../routing/state.js';
import { openMigration, type Migration } from '../runtime/migration.js';
import { EXIT, reportError } from './context.js';

const HELP = `
<key> is the entity key: one value ("42", "alice@example.com"), or a JSON array with one value per key column, in
key-column order, for a composite key ('[7, 42]'). It prints the canonical key, its bucket (0…9999) and what a
read of it is served by now, and why: the phase, the percentages, the kill switch, the guard. Reads only.`;

/** What `tandem bucket` prints as JSON. */
export interface BucketReport {
  entity: string;
  key: string;
  bucketKey: string;
  bucket: number;
  salt: string;
  phase: string;
  shadowPercent: number;
  canaryPercent: number;
  killed: boolean;
  guard: string;
  servedBy: 'legacy' | 'new';
  fallback: boolean;
  shadowed: boolean;
  why: string;
}

/**
 * The raw key values of a command-line key: a JSON array for a composite key, else the text itself as the one
 * value. Throws TANDEM_ERR_ROUTING_KEY_INVALID for an array that is not JSON, empty, or holds other than strings
 * and numbers.
 */
export function parseKeyArgument(text: string): unknown[] {
  const t = text.trim();
  if (t === '') throw new TandemError('ROUTING_KEY_INVALID', 'the key is empty');
  if (!t.startsWith('[')) return [text];
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch {
    throw new TandemError(
      'ROUTING_KEY_INVALID',
      "a key starting with [ must be a JSON array of the key's values, e.g. [7, 42]",
    );
  }
  if (
    !Array.isArray(v) ||
    v.length === 0 ||
    !v.every((x) => typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x)))
  )
    throw new TandemError(
      'ROUTING_KEY_INVALID',
      'a composite key must be a non-empty JSON array of strings and numbers, one per key column',
    );
  return v;
}

/** Registers `tandem bucket <key> [--entity <name>] [--json]`. */
export function registerBucket(program: Command): void {
  program
    .command('bucket')
    .description("print a key's bucket and what its reads are served by now, and why")
    .argument('<key>', 'the key: a value, or a JSON array of values for a composite key')
    .option('--entity <name>', 'the entity (default: the only one in the config)')
    .option('--json', 'print as JSON')
    .addHelpText('after', HELP)
    .action(async (keyText: string, opts: { entity?: string; json?: boolean }, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string;
      let m: Migration | undefined;
      try {
        const values = parseKeyArgument(keyText);
        const names = Object.keys((await loadConfig(configPath)).entities);
        const entity = opts.entity ?? (names.length === 1 ? names[0]! : undefined);
        if (!entity)
          throw new TandemError(
            'USAGE',
            `the config has several entities (${names.join(', ')}); name one with --entity`,
          );
        if (!names.includes(entity))
          throw new TandemError('ROUTING_UNKNOWN_ENTITY', `unknown entity "${entity}" (entities: ${names.join(', ')})`);
        // the key's column types decide its canonical text: the entity is resolved against both schemas
        m = await openMigration(configPath, { entities: [entity] });
        const e = m.entities.find((x) => x.name === entity)!;
        const key = canonicalKeyOf(e, values);
        const bucketKey = bucketKeyFn(e, m.config.routing.bucketBy?.[entity])(key);
        const bucket = bucketOf(m.config.routing.salt, bucketKey);
        const control = m.stores.control;
        const snap: RoutingSnapshot =
          (await controlSchemaVersion(control)) >= 2
            ? await readRoutingSnapshot(control)
            : { phase: 'prepare', shadowPercent: 0, canaryPercent: 0, killed: false, guard: null };
        const route = routeOf({ ...snap, failsafe: false }, bucket);
        const guard = snap.guard ? `${snap.guard.state}${snap.guard.reason ? ` (${snap.guard.reason})` : ''}` : 'green';
        const r: BucketReport = {
          entity,
          key,
          bucketKey,
          bucket,
          salt: m.config.routing.salt,
          phase: snap.phase,
          shadowPercent: snap.shadowPercent,
          canaryPercent: snap.canaryPercent,
          killed: snap.killed,
          guard,
          servedBy: route.serve,
          fallback: route.fallback,
          shadowed: route.shadow,
          why: route.why,
        };
        const lines = [
          `entity: ${entity}`,
          `key: ${key}${bucketKey !== key ? ` (bucketed by ${bucketKey})` : ''}`,
          `bucket: ${bucket} (0…9999; in a sample of p% when bucket < p × 100)`,
          `phase: ${snap.phase}; shadow ${snap.shadowPercent}%, canary ${snap.canaryPercent}%, killed: ${snap.killed ? 'yes' : 'no'}, guard: ${guard}`,
          `served by: ${route.serve}${route.fallback ? ' (falling back to legacy on an error or past the budget)' : ''}${route.shadow ? ', shadowed by new' : ''}`,
          `why: ${route.why}`,
        ];
        process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : `${lines.join('\n')}\n`);
        // the key itself is not audited (it may be an e-mail address)
        if ((await controlSchemaVersion(control)) >= 1)
          await audit(control, { command: 'bucket', args: { entity }, outcome: 'ok' }).catch(() => {});
        process.exitCode = EXIT.ok;
      } catch (e) {
        process.exitCode = reportError(e);
      } finally {
        await m?.close();
      }
    });
}

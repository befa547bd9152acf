import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createJiti } from 'jiti';
import type { ZodError } from 'zod';
import { TandemError } from '../core/errors.js';
import { configSchema, type TandemConfig } from './schema.js';

/** The path `import … from 'tandem'` resolves to inside a config file: this build's own entry point. */
function selfEntry(): string {
  const js = fileURLToPath(new URL('../index.js', import.meta.url));
  return existsSync(js) ? js : fileURLToPath(new URL('../index.ts', import.meta.url));
}

/** One line naming the first problem of a zod error: `entities.users.key: expected …`. */
export function formatZodError(e: ZodError): string {
  const issue = e.issues[0];
  if (!issue) return 'invalid config';
  const path = issue.path.map(String).join('.') || '(root)';
  const more = e.issues.length > 1 ? ` (and ${e.issues.length - 1} more problem${e.issues.length > 2 ? 's' : ''})` : '';
  return `${path}: ${issue.message}${more}`;
}

/** Validates a config object (defaults applied). Throws `TANDEM_ERR_CONFIG_INVALID` naming the first problem. */
export function parseConfig(input: unknown, origin = 'config'): TandemConfig {
  const r = configSchema.safeParse(input);
  if (!r.success) throw new TandemError('CONFIG_INVALID', `${origin}: ${formatZodError(r.error)}`);
  return r.data;
}

/**
 * Loads `tandem.config.ts` (or .js/.mjs) with jiti and validates it. `import { defineConfig } from 'tandem'`
 * inside the file resolves to this build. Throws `TANDEM_ERR_CONFIG_NOT_FOUND` when the file is missing,
 * `TANDEM_ERR_CONFIG_SYNTAX` when it cannot be parsed or throws while evaluated, `TANDEM_ERR_CONFIG_INVALID`
 * when its export does not match the schema.
 */
export async function loadConfig(file: string): Promise<TandemConfig> {
  const path = resolve(file);
  if (!existsSync(path))
    throw new TandemError(
      'CONFIG_NOT_FOUND',
      `config file ${file} does not exist (run \`tandem init\` to write one, or pass --config)`,
    );
  // `import … from 'tandem'` in the config gets this very module instance (loading Tandem a second time
  // through jiti would cost seconds); the alias covers deep imports of it
  const self = await import('../index.js');
  const jiti = createJiti(import.meta.url, {
    virtualModules: { tandem: self },
    alias: { tandem: selfEntry() },
    moduleCache: false,
    fsCache: false,
    interopDefault: true,
  });
  let mod: unknown;
  try {
    mod = await jiti.import(path, { default: true });
  } catch (e) {
    const msg = (e as Error)?.message?.split('\n')[0] ?? String(e);
    // a parse failure is a syntax error; anything else was thrown by the config's own code while it ran
    if (
      e instanceof SyntaxError ||
      /ParseError|Unexpected token|Expected|Unterminated|SyntaxError/.test(`${(e as Error)?.name} ${msg}`)
    )
      throw new TandemError('CONFIG_SYNTAX', `config file ${file} has a syntax error: ${msg}`, {}, { cause: e });
    throw new TandemError('CONFIG_INVALID', `config file ${file} threw while loading: ${msg}`, {}, { cause: e });
  }
  if (mod === undefined || mod === null)
    throw new TandemError(
      'CONFIG_INVALID',
      `config file ${file} has no default export (export default defineConfig({...}))`,
    );
  return parseConfig(mod, file);
}

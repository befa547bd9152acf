import { orderEntities } from '../config/resolve.js';
import { TandemError, redactUrl } from '../core/errors.js';
import type { ResolvedEntity } from '../core/mapping.js';
import { snakeCase } from '../core/naming.js';
import type { SchemaInfo, TableInfo } from '../stores/types.js';

/** One entity proposed by `tandem init`. */
export interface ProposedEntity {
  name: string;
  sourceTable: string;
  targetTable: string;
  key: string[];
  version: string | null;
  /** targetColumn → sourceColumn */
  columns: [string, string][];
  unmappedSource: string[];
  unmappedTarget: string[];
  /** Source columns proposed as `sensitive` (names that hold secrets; values recognised as password hashes). */
  sensitive: string[];
}

export interface Proposal {
  entities: ProposedEntity[];
  order: string[] | null;
  skipped: { table: string; reason: string }[];
}

const squash = (s: string) => s.toLowerCase().replace(/_/g, '');

/** Finds the target name for a source name: same name, then snake_case, then case/underscore-insensitive. */
function match(name: string, candidates: string[]): string | null {
  return (
    candidates.find((c) => c === name) ??
    candidates.find((c) => c === snakeCase(name)) ??
    candidates.find((c) => squash(c) === squash(name)) ??
    null
  );
}

const VERSION_NAMES = ['version', 'lock_version', 'row_version', 'rowversion', 'revision'];

/**
 * Column names that hold secrets: password, passwd, pwd, hash, salt, token, secret, api_key, private key, otp,
 * credential.
 */
export const SECRET_NAME = /pass(word|wd)?|pwd|hash|salt|token|secret|api_?key|private_?key|otp|credential|pin_?code/i;

/**
 * Proposes entities from two introspected schemas: one entity per source table that has a matching target
 * table (same name, snake_case, or equal ignoring case and `_`), keyed by the source primary key (or its first
 * NOT NULL unique key), columns matched the same way, an integer column named like `version` as the version,
 * and the fill order from the target's foreign keys (parents first).
 */
export function propose(source: SchemaInfo, target: SchemaInfo): Proposal {
  const targetNames = [...target.tables.keys()].filter((n) => !n.startsWith('tandem_'));
  const entities: ProposedEntity[] = [];
  const skipped: Proposal['skipped'] = [];
  for (const [name, st] of [...source.tables].sort(([a], [b]) => a.localeCompare(b))) {
    if (name.startsWith('tandem_')) continue;
    const tn = match(name, targetNames);
    if (!tn) {
      skipped.push({ table: name, reason: 'no matching target table' });
      continue;
    }
    const tt = target.tables.get(tn)!;
    const key = st.primaryKey.length
      ? st.primaryKey
      : st.uniqueKeys.find((u) => u.every((c) => !st.columns.find((x) => x.name === c)?.nullable));
    if (!key?.length) {
      skipped.push({ table: name, reason: 'no primary key or NOT NULL unique key' });
      continue;
    }
    const tcols = tt.columns.map((c) => c.name);
    const columns: [string, string][] = [];
    const unmappedSource: string[] = [];
    for (const c of st.columns) {
      const t = match(c.name, tcols);
      if (t && !columns.some(([x]) => x === t)) columns.push([t, c.name]);
      else unmappedSource.push(c.name);
    }
    if (key.some((k) => !columns.some(([, s]) => s === k))) {
      skipped.push({ table: name, reason: `key column(s) ${key.join(', ')} have no matching target column` });
      continue;
    }
    const unmappedTarget = tcols.filter((t) => !columns.some(([x]) => x === t));
    const version =
      st.columns.find((c) => VERSION_NAMES.includes(c.name.toLowerCase()) && c.category === 'integer')?.name ?? null;
    const sensitive = st.columns.filter((c) => SECRET_NAME.test(c.name)).map((c) => c.name);
    entities.push({
      name: snakeCase(name),
      sourceTable: name,
      targetTable: tn,
      key,
      version,
      columns,
      unmappedSource,
      unmappedTarget,
      sensitive,
    });
  }
  let order: string[] | null = null;
  try {
    const fake = entities.map(
      (e) =>
        ({
          name: e.name,
          targets: [{ table: target.tables.get(e.targetTable) as TableInfo }],
        }) as unknown as ResolvedEntity,
    );
    order = orderEntities(fake).map((e) => e.name);
  } catch (e) {
    if (!(e instanceof TandemError)) throw e;
  }
  return { entities, order, skipped };
}

const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const prop = (s: string) => (/^[A-Za-z_$][\w$]*$/.test(s) ? s : q(s));

/**
 * Renders a proposal as a `tandem.config.ts` that runs as it is. A URL without a secret is written as the
 * fallback of `process.env.SOURCE_URL` / `TARGET_URL`; a URL that holds one (a password, a secret query
 * parameter) is not written at all: the file reads it with `env('SOURCE_URL')`, which fails naming the variable
 * when it is unset, so no part of a password and no `***` placeholder ever lands in the file.
 */
export function renderConfig(p: Proposal, sourceUrl: string, targetUrl: string): string {
  const url = (u: string, name: string) => (redactUrl(u) === u ? `process.env.${name} ?? ${q(u)}` : `env(${q(name)})`);
  const secret = redactUrl(sourceUrl) !== sourceUrl || redactUrl(targetUrl) !== targetUrl;
  const lines: string[] = [];
  lines.push(
    `// Written by \`tandem init\`. Review it: every entity, key, column and the fill order were guessed from the schemas.`,
  );
  lines.push(`import { defineConfig${secret ? ', env' : ''} } from 'tandem';`, '');
  if (secret)
    lines.push(
      '// store URLs with a password are read from the environment (SOURCE_URL, TARGET_URL), never written here',
      '',
    );
  lines.push('export default defineConfig({');
  lines.push(`  source: ${url(sourceUrl, 'SOURCE_URL')},`);
  lines.push(`  target: ${url(targetUrl, 'TARGET_URL')},`);
  if (p.order)
    lines.push(`  // parents first, from the target's foreign keys`, `  order: [${p.order.map(q).join(', ')}],`);
  else lines.push(`  // the target's foreign keys form a cycle: list the fill order here`, `  // order: [],`);
  lines.push('  entities: {');
  const byName = new Map(p.entities.map((e) => [e.name, e]));
  const ordered = p.order ? p.order.map((n) => byName.get(n)!) : p.entities;
  for (const e of ordered) {
    lines.push(`    ${prop(e.name)}: {`);
    lines.push(`      table: ${q(e.sourceTable)},`);
    lines.push(`      key: ${e.key.length === 1 ? q(e.key[0]!) : `[${e.key.map(q).join(', ')}]`},`);
    if (e.version) lines.push(`      version: ${q(e.version)},`);
    else lines.push(`      // version: 'version', // no version column found: the apply uses last-writer-wins`);
    if (e.sensitive.length)
      lines.push(
        `      sensitive: [${e.sensitive.map(q).join(', ')}], // secrets: verify, errors and logs never show these values`,
      );
    lines.push('      targets: [');
    lines.push(`        {`);
    lines.push(`          table: ${q(e.targetTable)},`);
    lines.push('          columns: {');
    for (const [t, s] of e.columns) lines.push(`            ${prop(t)}: ${q(s)},`);
    for (const s of e.unmappedSource)
      lines.push(`            // ?: ${q(s)}, // source column with no matching target column`);
    for (const t of e.unmappedTarget)
      lines.push(`            // ${prop(t)}: { value: null }, // target column with no matching source column`);
    lines.push('          },');
    lines.push('        },');
    lines.push('      ],');
    lines.push('    },');
  }
  lines.push('  },');
  lines.push('});');
  if (p.skipped.length) {
    lines.push('', '// Source tables left out:');
    for (const s of p.skipped) lines.push(`//   ${s.table}: ${s.reason}`);
  }
  return `${lines.join('\n')}\n`;
}

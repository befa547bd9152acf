import { orderEntities } from '../config/resolve.js';
import { TandemError, redactUrl } from '../core/errors.js';
import { staticFit, type ResolvedEntity } from '../core/mapping.js';
import { snakeCase } from '../core/naming.js';
import type { ColumnInfo, SchemaInfo, TableInfo } from '../stores/types.js';

/** One entity proposed by `tandem init`. */
export interface ProposedEntity {
  name: string;
  sourceTable: string;
  targetTable: string;
  key: string[];
  /** Why the key is not the source's primary key (the target's key is chosen instead), for the key's line. */
  keyNote?: string;
  version: string | null;
  /** targetColumn → sourceColumn */
  columns: [string, string][];
  /** targetColumn → the cast its mapping needs (`array`, `wkt`, `wkb`): written as `{ from, cast }`. */
  casts: Record<string, string>;
  /** targetColumn → what init could not be sure of (types, NULLs, target triggers), for that column's line. */
  notes: Record<string, string>;
  unmappedSource: string[];
  unmappedTarget: string[];
  /** Unmapped target columns the database fills (default, trigger, identity), column → how. */
  filledByDatabase: Record<string, string>;
  /** Unmapped target columns that are NOT NULL with no default and no source column: the user must decide. */
  undecided: string[];
  /** Source columns proposed as `sensitive` (names that hold secrets; values recognised as password hashes). */
  sensitive: string[];
}

/** One thing `tandem init` could not decide or is unsure of (also a comment in the config it writes). */
export interface InitProblem {
  /** The entity, or null for a source table left out. */
  entity: string | null;
  /** The source table (left out) or the target table (entity). */
  table: string;
  column: string | null;
  problem: string;
}

export interface Proposal {
  entities: ProposedEntity[];
  order: string[] | null;
  skipped: { table: string; reason: string }[];
  /** Everything init could not decide, in entity and column order (`tandem init --dry-run` prints them). */
  problems: InitProblem[];
}

/** What `propose` knows of the two stores beyond their schemas. */
export interface ProposeOptions {
  /** The source may hold zero dates (`StoreCapabilities.zeroDates`). */
  sourceZeroDates?: boolean;
  /** The target accepts zero dates. */
  targetZeroDates?: boolean;
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

const SPATIAL =
  /^(geometry|point|linestring|polygon|multipoint|multilinestring|multipolygon|geometrycollection|geomcollection)\b/;
const isSet = (c: ColumnInfo) => c.isSet === true || /^set\(/.test(c.dataType);
const isEnum = (c: ColumnInfo) => !isSet(c) && (c.enumValues !== undefined || /^enum\(/.test(c.dataType));
const isSpatial = (c: ColumnInfo) => c.category === 'geometry' || SPATIAL.test(c.dataType);
const isArray = (c: ColumnInfo) => c.category === 'array' || c.dataType.endsWith('[]');
const isYear = (c: ColumnInfo) => /^year\b/.test(c.dataType);
/** MySQL `enum('a','b')` / `set(…)` labels, or the introspected ones. */
function labels(c: ColumnInfo): string[] | null {
  if (c.enumValues) return c.enumValues;
  const m = /^(?:enum|set)\((.*)\)$/s.exec(c.dataType);
  if (!m) return null;
  return [...m[1]!.matchAll(/'((?:[^']|'')*)'/g)].map((x) => x[1]!.replace(/''/g, "'"));
}

/**
 * What a column copied from `s` into `t` needs: a cast the mapping must name (a MySQL SET into an array or JSON
 * column: `array`; a spatial column into text: `wkt`, into binary: `wkb`) and a note when init cannot be sure
 * every value fits (type families or widths differ, zero dates, NULLs into NOT NULL, a target trigger).
 */
export function columnAdvice(
  s: ColumnInfo,
  t: ColumnInfo,
  opts: ProposeOptions = {},
  targetTriggers: string[] = [],
): { cast?: string; note?: string } {
  const notes: string[] = [];
  let cast: string | undefined;
  let typed = false;
  if (isSet(s)) {
    typed = true;
    if (isArray(t) || t.category === 'json') {
      cast = 'array';
      notes.push(`MySQL SET → ${t.dataType}: cast 'array' splits the comma-separated labels`);
    } else if (t.category !== 'text') notes.push(`MySQL SET → ${t.dataType}: map it to an array, JSON or text column`);
  } else if (isSpatial(s)) {
    typed = true;
    if (isSpatial(t)) {
      // spatial into spatial: carried as it is
    } else if (t.category === 'text') {
      cast = 'wkt';
      notes.push(`spatial ${s.dataType} → ${t.dataType}: cast 'wkt' writes it as WKT text`);
    } else if (t.category === 'binary') {
      cast = 'wkb';
      notes.push(`spatial ${s.dataType} → ${t.dataType}: cast 'wkb' writes it as WKB bytes`);
    } else
      notes.push(
        `spatial ${s.dataType} → ${t.dataType}: no cast fits; map it to a text (cast 'wkt') or binary (cast 'wkb') column, or leave it out`,
      );
  } else if (isEnum(s)) {
    typed = true;
    const from = labels(s);
    const to = labels(t);
    if (from && to) {
      const missing = from.filter((l) => !to.includes(l));
      if (missing.length)
        notes.push(`target ${t.dataType} lacks the label(s) ${missing.map((l) => `'${l}'`).join(', ')}`);
    } else if (t.category !== 'text') notes.push(`ENUM → ${t.dataType}: the labels are text; map a transform`);
    else if (from && t.maxLength !== undefined && Math.max(...from.map((l) => [...l].length)) > t.maxLength)
      notes.push(`the longest label does not fit ${t.dataType}`);
  } else if (isYear(s)) {
    typed = true;
    if (t.category !== 'integer' && t.category !== 'text' && !isYear(t))
      notes.push(`YEAR → ${t.dataType}: map it to an integer column or a transform`);
  }
  const dateLike = (c: ColumnInfo) =>
    c.category === 'date' || c.category === 'timestamp' || c.category === 'timestamptz';
  if (opts.sourceZeroDates && !opts.targetZeroDates && dateLike(s) && dateLike(t))
    notes.push(
      `if the source holds zero dates (0000-00-00), map { from: '${s.name}', cast: 'zero-date-null' } to write NULL`,
    );
  if (!typed) {
    if (
      s.category === 'text' &&
      t.category === 'text' &&
      t.maxLength !== undefined &&
      (s.maxLength ?? Infinity) > t.maxLength
    )
      notes.push(`source ${s.dataType} is wider than target ${t.dataType}: longer values fail`);
    else if (s.dataType !== t.dataType && staticFit(s, t, true) === 'full')
      notes.push(
        `source ${s.dataType}, target ${t.dataType}: init cannot tell that every value fits (each is checked when written)`,
      );
  }
  if (s.nullable && !t.nullable && !t.generated)
    notes.push('source allows NULL, target is NOT NULL: a row holding NULL fails (map a transform or a value)');
  if (t.filledByTrigger)
    notes.push(
      `a trigger of the target${targetTriggers.length ? ` (${targetTriggers.join(', ')})` : ''} also assigns it: what it writes is what lands`,
    );
  return { ...(cast ? { cast } : {}), ...(notes.length ? { note: notes.join('; ') } : {}) };
}

/**
 * How the database fills an unmapped target column by itself (identity/serial/auto-increment or generated, a
 * trigger, a default), or null when it does not.
 */
function filledBy(c: ColumnInfo, triggers: string[]): string | null {
  if (c.generated) return 'filled by the database (identity, serial or generated)';
  if (c.filledByTrigger)
    return `filled by a trigger of the target${triggers.length ? ` (${triggers.join(', ')})` : ''}`;
  if (c.hasDefault) return 'left to its default';
  return null;
}

const same = (a: string[], b: string[]) => a.length === b.length && a.every((c) => b.includes(c));
const list = (cols: string[]) => `(${cols.join(', ')})`;

/**
 * Chooses the entity key: the source's primary key (or first NOT NULL unique key) when the target columns it
 * maps to by plain rename are a primary or unique key of the target table (what the upsert needs). Otherwise
 * the smallest target primary/unique key whose columns are all mapped by rename from NOT NULL source columns,
 * keyed on those source columns in the target key's order — preferring keys that contain a source key (a
 * superset of a unique key is unique on the source too). Null with a reason when no target key can be filled.
 */
export function chooseKey(
  st: TableInfo,
  tt: TableInfo,
  columns: [string, string][],
  casts: Record<string, string>,
): { key: string[]; note?: string } | { key: null; reason: string } {
  const notNull = (c: string) => st.columns.find((x) => x.name === c)?.nullable === false;
  const sourceKeys = [st.primaryKey, ...st.uniqueKeys.filter((u) => u.every(notNull))].filter((u) => u.length > 0);
  const sourceKey = sourceKeys[0] ?? [];
  const renamed = (src: string) => columns.find(([t, s]) => s === src && !casts[t])?.[0];
  const sourceOf = (tgt: string) => (casts[tgt] ? undefined : columns.find(([t]) => t === tgt)?.[1]);
  const targetKeys = [tt.primaryKey, ...tt.uniqueKeys].filter((u) => u.length > 0);
  if (!targetKeys.length)
    return { key: null, reason: `target table "${tt.name}" has no primary or unique key to upsert on` };
  const image = sourceKey.map(renamed);
  if (sourceKey.length && image.every((c) => c !== undefined) && targetKeys.some((u) => same(u, image as string[])))
    return { key: sourceKey };
  const candidates = targetKeys
    .map((u, i) => ({ u, i, src: u.map(sourceOf) }))
    .filter((c) => c.src.every((s) => s !== undefined && notNull(s)))
    .map((c) => ({ ...c, src: c.src as string[], superset: sourceKeys.some((k) => k.every((x) => c.src.includes(x))) }))
    .sort((a, b) => Number(b.superset) - Number(a.superset) || a.u.length - b.u.length || a.i - b.i);
  const best = candidates[0];
  if (!best)
    return {
      key: null,
      reason: `no primary or unique key of target table "${tt.name}" is mapped by name from NOT NULL source columns${sourceKey.length ? ` (the source key ${list(sourceKey)} maps to no target key)` : ''}`,
    };
  const what = best.i === 0 && tt.primaryKey.length ? 'primary key' : 'unique key';
  const subject = tt.partitioned
    ? `target "${tt.name}" is partitioned; its ${what}`
    : `the ${what} of target "${tt.name}"`;
  const shown = sourceKey.map((k, i) => image[i] ?? k);
  const why = sourceKey.length
    ? `${subject} is ${list(best.u)}, not ${list(shown)}`
    : `the source has no primary or NOT NULL unique key; ${subject} is ${list(best.u)}`;
  const proof = best.superset
    ? 'unique on the source too, as they contain its key'
    : 'not proven unique on the source: the backfill checks the data';
  return { key: best.src, note: `${why}: keyed on the source columns ${list(best.src)}, ${proof}` };
}

/**
 * Proposes entities from two introspected schemas: one entity per source table that has a matching target
 * table (same name, snake_case, or equal ignoring case and `_`), keyed by a key the target can upsert on
 * ({@link chooseKey}), columns matched the same way (with the cast a SET or spatial column needs, and a note
 * where a value may not fit — {@link columnAdvice}), unmapped target columns the database fills left out, an
 * integer column named like `version` as the version, and the fill order from the target's foreign keys
 * (parents first). Everything it could not decide is also in `problems`.
 */
export function propose(source: SchemaInfo, target: SchemaInfo, opts: ProposeOptions = {}): Proposal {
  const targetNames = [...target.tables.keys()].filter((n) => !n.startsWith('tandem_'));
  const entities: ProposedEntity[] = [];
  const skipped: Proposal['skipped'] = [];
  const problems: InitProblem[] = [];
  for (const [name, st] of [...source.tables].sort(([a], [b]) => a.localeCompare(b))) {
    if (name.startsWith('tandem_')) continue;
    const tn = match(name, targetNames);
    if (!tn) {
      skipped.push({ table: name, reason: 'no matching target table' });
      continue;
    }
    const tt = target.tables.get(tn)!;
    const tcols = tt.columns.map((c) => c.name);
    const columns: [string, string][] = [];
    const unmappedSource: string[] = [];
    for (const c of st.columns) {
      const t = match(c.name, tcols);
      if (t && !columns.some(([x]) => x === t)) columns.push([t, c.name]);
      else unmappedSource.push(c.name);
    }
    const triggers = tt.triggers ?? [];
    const casts: Record<string, string> = {};
    const notes: Record<string, string> = {};
    for (const [t, s] of columns) {
      const advice = columnAdvice(
        st.columns.find((c) => c.name === s)!,
        tt.columns.find((c) => c.name === t)!,
        opts,
        triggers,
      );
      if (advice.cast) casts[t] = advice.cast;
      if (advice.note) notes[t] = advice.note;
    }
    const chosen = chooseKey(st, tt, columns, casts);
    if (chosen.key === null) {
      skipped.push({ table: name, reason: chosen.reason });
      continue;
    }
    const entityName = snakeCase(name);
    const unmappedTarget = tcols.filter((t) => !columns.some(([x]) => x === t));
    const filledByDatabase: Record<string, string> = {};
    const undecided: string[] = [];
    for (const t of unmappedTarget) {
      const c = tt.columns.find((x) => x.name === t)!;
      const how = filledBy(c, triggers);
      if (how) filledByDatabase[t] = how;
      else if (!c.nullable) undecided.push(t);
    }
    const version =
      st.columns.find((c) => VERSION_NAMES.includes(c.name.toLowerCase()) && c.category === 'integer')?.name ?? null;
    const sensitive = st.columns.filter((c) => SECRET_NAME.test(c.name)).map((c) => c.name);
    const problem = (column: string | null, text: string) =>
      problems.push({ entity: entityName, table: tn, column, problem: text });
    if (chosen.note) problem(null, `key (${chosen.key.join(', ')}): ${chosen.note}`);
    for (const [t] of columns) if (notes[t]) problem(t, notes[t]);
    for (const t of undecided) problem(t, UNDECIDED);
    for (const s of unmappedSource) problem(null, `source column "${s}" has no matching target column`);
    entities.push({
      name: entityName,
      sourceTable: name,
      targetTable: tn,
      key: chosen.key,
      ...(chosen.note ? { keyNote: chosen.note } : {}),
      version,
      columns,
      casts,
      notes,
      unmappedSource,
      unmappedTarget,
      filledByDatabase,
      undecided,
      sensitive,
    });
  }
  for (const s of skipped)
    problems.push({ entity: null, table: s.table, column: null, problem: `left out: ${s.reason}` });
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
    problems.push({
      entity: null,
      table: '',
      column: null,
      problem: "the target's foreign keys form a cycle: list the fill order in `order`",
    });
  }
  return { entities, order, skipped, problems };
}

const UNDECIDED = 'NOT NULL without a default and no source column: give a value or a transform';

/** Text safe inside a `//` comment: one line. */
const comment = (s: string) => s.replace(/[\r\n\u2028\u2029]+/g, ' ');
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
    lines.push(
      `      key: ${e.key.length === 1 ? q(e.key[0]!) : `[${e.key.map(q).join(', ')}]`},${e.keyNote ? ` // ${comment(e.keyNote)}` : ''}`,
    );
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
    for (const [t, s] of e.columns) {
      const spec = e.casts[t] ? `{ from: ${q(s)}, cast: ${q(e.casts[t]!)} }` : q(s);
      lines.push(`            ${prop(t)}: ${spec},${e.notes[t] ? ` // ${comment(e.notes[t]!)}` : ''}`);
    }
    for (const t of e.unmappedTarget) {
      if (e.filledByDatabase[t]) lines.push(`            // ${prop(t)}: ${comment(e.filledByDatabase[t]!)}`);
      else if (e.undecided.includes(t)) lines.push(`            // ${prop(t)}: { value: … }, // ${UNDECIDED}`);
      else lines.push(`            // ${prop(t)}: { value: null }, // no source column: left NULL`);
    }
    for (const s of e.unmappedSource)
      lines.push(
        `            // source column ${q(s)} has no matching target column: map it (someColumn: ${q(s)}) or leave it out`,
      );
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

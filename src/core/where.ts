import type { WhereConfig } from '../config/schema.js';
import type { SourcePredicate, Store } from '../stores/types.js';
import { TandemError } from './errors.js';

export type { SourcePredicate };

/** The SQL text of `p` split at its `?` placeholders (outside quotes): n placeholders give n + 1 parts. */
function splitPlaceholders(sql: string): { parts: string[]; problem: string | null } {
  const parts: string[] = [];
  let cur = '';
  let quote: string | null = null;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i]!;
    if (quote) {
      cur += ch;
      if (ch === quote) {
        // a doubled quote is an escaped one
        if (sql[i + 1] === quote) {
          cur += sql[++i];
          continue;
        }
        quote = null;
      }
      continue;
    }
    if (ch === "'" || ch === '"' || ch === '`') {
      quote = ch;
      cur += ch;
    } else if (ch === ';') return { parts, problem: 'contains ";" (one predicate, not statements)' };
    else if ((ch === '-' && sql[i + 1] === '-') || (ch === '/' && sql[i + 1] === '*'))
      return { parts, problem: 'contains an SQL comment' };
    else if (ch === '?') {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (quote) return { parts, problem: `has an unbalanced ${quote} quote` };
  parts.push(cur);
  return { parts, problem: null };
}

/**
 * Checks an entity's `where` (plain text, or `{ sql, params }`) and returns it as a {@link SourcePredicate}.
 * Throws TANDEM_ERR_WHERE_INVALID naming the entity when it is empty, contains `;` or a comment outside quotes,
 * has an unbalanced quote, or its `?` count differs from its params (the text and the values are never quoted).
 */
export function compileWhere(entity: string, where: WhereConfig): SourcePredicate {
  const sql = typeof where === 'string' ? where : where.sql;
  const params = typeof where === 'string' ? [] : [...(where.params ?? [])];
  const fail = (why: string) =>
    new TandemError('WHERE_INVALID', `entity ${entity}: where ${why}`, { entity, problem: why });
  if (!sql.trim()) throw fail('is empty');
  const { parts, problem } = splitPlaceholders(sql);
  if (problem) throw fail(problem);
  const marks = parts.length - 1;
  if (marks !== params.length)
    throw fail(
      `has ${marks} ? placeholder${marks === 1 ? '' : 's'} but ${params.length} param${params.length === 1 ? '' : 's'}`,
    );
  return { sql, params };
}

/**
 * The predicate's SQL with each `?` replaced by the dialect's placeholder, its params appended to `params` (so
 * `param(params.length)` numbers them after the statement's own): `status <> $3` on PostgreSQL, `status <> ?`
 * elsewhere. Wrapped in parentheses.
 */
export function predicateSql(p: SourcePredicate, param: (i: number) => string, params: unknown[]): string {
  const { parts } = splitPlaceholders(p.sql);
  let out = parts[0]!;
  for (let i = 1; i < parts.length; i++) {
    params.push(p.params[i - 1]);
    out += param(params.length) + parts[i]!;
  }
  return `(${out})`;
}

/** `where` (empty or ` WHERE …`) with `pred` ANDed on; `where` unchanged when there is no predicate. */
export function andPredicate(where: string, pred: string | null): string {
  if (!pred) return where;
  return where ? `${where} AND ${pred}` : ` WHERE ${pred}`;
}

/**
 * The statement counting an entity's source rows (`n`): the dialect's `count` without a `where`, otherwise
 * `SELECT count(*) AS n FROM t WHERE (pred)` with the predicate's placeholders rewritten for the store.
 */
export function sourceCount(
  store: Pick<Store, 'sql'>,
  entity: { source: { name: string }; where?: SourcePredicate | null },
): { sql: string; params: unknown[] } {
  if (!entity.where) return store.sql.count(entity.source.name);
  const params: unknown[] = [];
  const pred = predicateSql(entity.where, (i) => store.sql.param(i), params);
  return { sql: `SELECT count(*) AS n FROM ${store.sql.table(entity.source.name)} WHERE ${pred}`, params };
}

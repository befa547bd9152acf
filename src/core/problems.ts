import { type ErrorCode, TandemError } from './errors.js';

/**
 * One problem of a config against the schemas or the data, found by entity resolution (src/config/resolve.ts) or
 * the pre-flight (src/backfill/preflight.ts). All of them are collected before anything fails, so that one run
 * shows every fix. Never holds a value: names, types, counts and (redacted where sensitive) keys only.
 */
export interface Problem {
  entity: string;
  /** The table concerned (source or target), or '' when none. */
  table: string;
  /** The column concerned, or '' when none. */
  column: string;
  /** What is wrong, value-free. */
  problem: string;
  /** The change to the config that fixes it (`cast: 'date'`, `{ value: … }`, `where: …`). */
  fix: string;
  /** The code the problem raises on its own (`TARGET_KEY_MISSING`, `VALUE_DOES_NOT_FIT`, …). */
  code: ErrorCode;
  /** The problem's own one-line message (what a single problem throws). */
  message: string;
  /** Extra machine-readable detail of the problem's own error (side, key). */
  detail?: Record<string, unknown>;
}

/**
 * The one error for a list of problems (at least one): a single problem throws its own code and message (callers
 * testing `TANDEM_ERR_TARGET_KEY_MISSING` and the like keep working); several throw TANDEM_ERR_PREFLIGHT_FAILED.
 * Either way `detail.problems` lists them all as `{ entity, table, column, problem, fix, code }`.
 */
export function problemsError(problems: Problem[]): TandemError {
  const list = problems.map(({ entity, table, column, problem, fix, code }) => ({
    entity,
    table,
    column,
    problem,
    fix,
    code: `TANDEM_ERR_${code}`,
  }));
  if (problems.length === 1) {
    const p = problems[0]!;
    return new TandemError(p.code, p.message, { ...p.detail, entity: p.entity, problems: list });
  }
  const entities = [...new Set(problems.map((p) => p.entity))];
  return new TandemError(
    'PREFLIGHT_FAILED',
    `${problems.length} problems in ${entities.length} entit${entities.length === 1 ? 'y' : 'ies'} (${entities.join(', ')}); nothing was written — fix them all and run again`,
    { problems: list },
  );
}

/** The problems listed in an error's detail (see {@link problemsError}), or null. */
export function problemsOf(e: unknown): Omit<Problem, 'message' | 'code' | 'detail'>[] | null {
  if (!(e instanceof TandemError)) return null;
  const p = (e.detail as { problems?: unknown }).problems;
  return Array.isArray(p) && p.length ? (p as Omit<Problem, 'message' | 'code' | 'detail'>[]) : null;
}

/**
 * The problems as one aligned text table with the columns entity, table, column, problem, fix (values are never
 * in it). Cells longer than 70 characters are cut with `…`.
 */
export function formatProblems(problems: Pick<Problem, 'entity' | 'table' | 'column' | 'problem' | 'fix'>[]): string {
  const head = ['entity', 'table', 'column', 'problem', 'fix'];
  const cut = (s: string) => (s.length > 70 ? `${s.slice(0, 69)}…` : s);
  const rows = problems.map((p) => [p.entity, p.table || '-', p.column || '-', cut(p.problem), p.fix]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((x, i) => (i === c.length - 1 ? x : x.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
}

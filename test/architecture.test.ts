import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layout rules of docs/architecture.md, checked on the source text (issue 10):
 * - engine differences live in src/stores/: no `dialect ===`/`!==`, `switch (…dialect)` or `familyOf(` elsewhere
 *   (callers use `store.capabilities`, `store.sql.*` and `store.classifyError`), and no driver error code
 *   (`errno`, SQLSTATE, `SQLITE_*`) is read elsewhere;
 * - capture/ and apply/ do not import each other both ways (the outbox is src/outbox/, the broker contract core);
 * - stores/ does not import verify/ (the canonical encoding is core's);
 * - `sleep`, backoff and `groupBy` are defined once (src/core/async.ts).
 * Every rule runs on a planted violation first, so a scanner that matches nothing cannot pass.
 */

const SRC = resolve(__dirname, '../src');

interface SourceFile {
  /** Path relative to src/, with `/`. */
  path: string;
  text: string;
}

function sources(dir = SRC): SourceFile[] {
  const out: SourceFile[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(full));
    else if (e.name.endsWith('.ts'))
      out.push({ path: relative(SRC, full).split('\\').join('/'), text: readFileSync(full, 'utf8') });
  }
  return out;
}

/** Source without comments, so a rule quoted in a doc comment is not a violation. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

const DIALECT_BRANCH =
  /\bdialect\s*[!=]==|[!=]==\s*[\w.]*\bdialect\b|switch\s*\([^)]*\bdialect\b[^)]*\)|\bfamilyOf\s*\(/;

/** Lines outside src/stores/ that branch on the dialect. */
function dialectBranches(files: SourceFile[]): string[] {
  const hits: string[] = [];
  for (const f of files) {
    if (f.path.startsWith('stores/')) continue;
    code(f.text)
      .split('\n')
      .forEach((line, i) => {
        if (DIALECT_BRANCH.test(line)) hits.push(`src/${f.path}:${i + 1}: ${line.trim()}`);
      });
  }
  return hits;
}

const DRIVER_CODE = /\b(?:errno|sqlstate|sqliteCode)\b|\bSQLITE_[A-Z]|'(?:23505|40P01|40001|55P03)'/i;

/**
 * Lines outside src/stores/ that read driver error codes (callers use `classifyError`). src/core/redact.ts names
 * the fields of a driver error it keeps when scrubbing one, which is not reading them.
 */
function driverCodeReads(files: SourceFile[]): string[] {
  const hits: string[] = [];
  for (const f of files) {
    if (f.path.startsWith('stores/') || f.path === 'core/redact.ts') continue;
    code(f.text)
      .split('\n')
      .forEach((line, i) => {
        if (DRIVER_CODE.test(line)) hits.push(`src/${f.path}:${i + 1}: ${line.trim()}`);
      });
  }
  return hits;
}

/** The src/-relative paths a file imports (static, re-exports and dynamic imports; relative specifiers only). */
function importsOf(f: SourceFile): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.[^'"]+)['"]/g;
  for (const m of code(f.text).matchAll(re)) {
    out.push(
      relative(SRC, resolve(SRC, dirname(f.path), m[1]!))
        .split('\\')
        .join('/'),
    );
  }
  return out;
}

/** `from` → `to` import edges between two top-level folders of src/. */
function edges(files: SourceFile[], from: string, to: string): string[] {
  return files
    .filter((f) => f.path.startsWith(`${from}/`))
    .flatMap((f) =>
      importsOf(f)
        .filter((p) => p.startsWith(`${to}/`))
        .map((p) => `src/${f.path} → src/${p}`),
    );
}

/** Where `name` is defined as a function (declaration, or a const/let holding an arrow or function). */
function definitions(files: SourceFile[], name: RegExp): string[] {
  const n = name.source;
  const re = new RegExp(
    `(?:\\bfunction\\s+(${n})\\s*[<(]|\\b(?:const|let|var)\\s+(${n})\\s*(?::[^=]+)?=\\s*(?:async\\s*)?(?:function\\b|(?:<[^>]*>\\s*)?\\([^)]*\\)\\s*(?::[^=]+)?=>|\\w+\\s*=>))`,
    'g',
  );
  const hits: string[] = [];
  for (const f of files) for (const m of code(f.text).matchAll(re)) hits.push(`src/${f.path}: ${m[1] ?? m[2]}`);
  return hits;
}

const SLEEP = /sleep/;
const BACKOFF = /\w*[bB]ackoff\w*/;
const GROUP_BY = /groupBy/;

describe('architecture: the scanners catch planted violations', () => {
  const planted: SourceFile[] = [
    {
      path: 'apply/x.ts',
      text: "import { a } from '../capture/y.js';\nif (store.dialect === 'mysql') f();\nconst fam = familyOf(d);\nswitch (store.dialect) {}\n",
    },
    { path: 'capture/y.ts', text: "export { b } from '../apply/x.js';\nconst m = await import('../apply/z.js');\n" },
    {
      path: 'stores/z.ts',
      text: "import { rowHash } from '../verify/encoding.js';\nif (dialect === 'pg') g(); // allowed here\n",
    },
    {
      path: 'core/a.ts',
      text: 'export function sleep(ms: number) {}\nexport const groupBy = <T,>(xs: T[]) => xs;\nfunction backoffMs(n: number) {}\n',
    },
    {
      path: 'verify/b.ts',
      text: 'const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));\nconst relayBackoff = (n: number): number => n;\n// const groupBy = () => 1\n',
    },
  ];
  it('finds dialect branches outside stores/, not inside it, not in comments', () => {
    expect(dialectBranches(planted)).toEqual([
      "src/apply/x.ts:2: if (store.dialect === 'mysql') f();",
      'src/apply/x.ts:3: const fam = familyOf(d);',
      'src/apply/x.ts:4: switch (store.dialect) {}',
    ]);
  });
  it('finds driver error codes read outside stores/', () => {
    const files: SourceFile[] = [
      {
        path: 'apply/r.ts',
        text: "const d = e.detail as { errno?: number };\nif (d.sqlstate === '40P01') retry();\n// errno 1213 in a comment\n",
      },
      { path: 'stores/mysql/errors.ts', text: 'if (d.errno === 1213) return;\n' },
    ];
    expect(driverCodeReads(files)).toEqual([
      'src/apply/r.ts:1: const d = e.detail as { errno?: number };',
      "src/apply/r.ts:2: if (d.sqlstate === '40P01') retry();",
    ]);
  });
  it('finds import edges both ways, re-exports and dynamic imports included', () => {
    expect(edges(planted, 'apply', 'capture')).toEqual(['src/apply/x.ts → src/capture/y.js']);
    expect(edges(planted, 'capture', 'apply')).toEqual([
      'src/capture/y.ts → src/apply/x.js',
      'src/capture/y.ts → src/apply/z.js',
    ]);
    expect(edges(planted, 'stores', 'verify')).toEqual(['src/stores/z.ts → src/verify/encoding.js']);
  });
  it('finds every definition of sleep, backoff and groupBy, not commented ones', () => {
    expect(definitions(planted, SLEEP)).toEqual(['src/core/a.ts: sleep', 'src/verify/b.ts: sleep']);
    expect(definitions(planted, BACKOFF)).toEqual(['src/core/a.ts: backoffMs', 'src/verify/b.ts: relayBackoff']);
    expect(definitions(planted, GROUP_BY)).toEqual(['src/core/a.ts: groupBy']);
  });
});

describe('architecture of src/', () => {
  const files = sources();

  it('reads the source tree', () => {
    // a wrong SRC would make every rule below pass on nothing
    expect(files.some((f) => f.path === 'stores/types.ts')).toBe(true);
    expect(files.length).toBeGreaterThan(50);
  });

  it('keeps engine differences in src/stores/ (no dialect tests, switches or familyOf elsewhere)', () => {
    expect(dialectBranches(files)).toEqual([]);
  });

  it('reads driver error codes only in src/stores/ (everyone else asks classifyError)', () => {
    expect(driverCodeReads(files)).toEqual([]);
  });

  it('has no import cycle between capture/ and apply/', () => {
    const forward = edges(files, 'capture', 'apply');
    const back = edges(files, 'apply', 'capture');
    expect(forward.length && back.length ? { forward, back } : null).toBeNull();
  });

  it('keeps stores/ free of imports from verify/', () => {
    expect(edges(files, 'stores', 'verify')).toEqual([]);
  });

  it('defines sleep, backoff and groupBy once, in src/core/async.ts', () => {
    expect(definitions(files, SLEEP)).toEqual(['src/core/async.ts: sleep']);
    expect(definitions(files, BACKOFF)).toEqual(['src/core/async.ts: backoffMs']);
    expect(definitions(files, GROUP_BY)).toEqual(['src/core/async.ts: groupBy']);
  });
});

/**
 * Values with structure that cross stores as text in some engines and as JS values in others: arrays
 * (PostgreSQL array literals `{a,"b c",NULL}` ↔ JS arrays; MySQL SET / delimited strings ↔ arrays) and JSON
 * (read without losing numbers: `JSON.parse` rounds integers beyond 2^53). Used by canonical encoding
 * (src/core/canonical.ts), declarative casts (src/core/mapping.ts) and the reverse mapping (src/core/reverse.ts).
 * Pure functions; docs/canonical-encoding.md states the rules.
 */

/**
 * Parses a PostgreSQL array literal (`{1,2}`, `{"a b","c\\"d",NULL}`, `{{1,2},{3,4}}`, `[0:1]={a,b}`) into
 * nested JS arrays of element texts (strings), unquoted `NULL` as null. The elements stay text: their category
 * reads them. Throws `TypeError` for text that is not an array literal.
 */
export function parsePgArray(text: string, delimiter = ','): unknown[] {
  let s = text.trim();
  // explicit bounds: `[1:2][1:2]={{…}}`
  if (s.startsWith('[')) {
    const eq = s.indexOf('=');
    if (eq < 0) throw new TypeError('not an array literal');
    s = s.slice(eq + 1).trim();
  }
  if (!s.startsWith('{')) throw new TypeError('not an array literal');
  let i = 0;
  const parse = (): unknown[] => {
    // at '{'
    i++;
    const out: unknown[] = [];
    const skip = () => {
      while (i < s.length && /\s/.test(s[i]!)) i++;
    };
    skip();
    if (s[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      skip();
      if (s[i] === '{') out.push(parse());
      else if (s[i] === '"') {
        i++;
        let v = '';
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\') i++;
          v += s[i] ?? '';
          i++;
        }
        if (s[i] !== '"') throw new TypeError('unterminated quoted element');
        i++;
        out.push(v);
      } else {
        let v = '';
        while (i < s.length && s[i] !== delimiter && s[i] !== '}') {
          if (s[i] === '\\') i++;
          v += s[i] ?? '';
          i++;
        }
        v = v.trim();
        out.push(/^null$/i.test(v) ? null : v);
      }
      skip();
      if (s[i] === delimiter) {
        i++;
        continue;
      }
      if (s[i] === '}') {
        i++;
        return out;
      }
      throw new TypeError('malformed array literal');
    }
  };
  const out = parse();
  if (s.slice(i).trim() !== '') throw new TypeError('malformed array literal');
  return out;
}

/**
 * A JS array (nested for more dimensions) as a PostgreSQL array literal: every element quoted (`\` and `"`
 * escaped), NULL unquoted, nested arrays nested. Elements are written as `String(x)` (bigints, numbers,
 * booleans `true`/`false`), `Buffer`s as `\x…` hex, objects as JSON.
 */
export function pgArrayLiteral(xs: readonly unknown[]): string {
  const parts = xs.map((x) => {
    if (x === null || x === undefined) return 'NULL';
    if (Array.isArray(x)) return pgArrayLiteral(x);
    let t: string;
    if (Buffer.isBuffer(x)) t = `\\x${x.toString('hex')}`;
    else if (x instanceof Date) t = x.toISOString();
    else if (typeof x === 'object') t = JSON.stringify(x, (_k, y: unknown) => (typeof y === 'bigint' ? String(y) : y));
    else t = String(x);
    return `"${t.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  });
  return `{${parts.join(',')}}`;
}

/**
 * Reads a value of an array column or an array cast as a JS array: a JS array as it is; a PostgreSQL array
 * literal parsed ({@link parsePgArray}); a JSON array text (`["a","b"]`, what MySQL/MariaDB/SQLite JSON columns
 * hold) parsed. Throws `TypeError` for anything else.
 */
export function readArray(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  const s = (Buffer.isBuffer(v) ? v.toString('utf8') : String(v)).trim();
  if (s.startsWith('{') || /^(\[-?\d+:-?\d+\])+\s*=/.test(s)) return parsePgArray(s);
  if (s.startsWith('[')) {
    const parsed = parseJsonExact(s);
    if (Array.isArray(parsed)) return parsed.map((x) => (x instanceof JsonNumber ? x.text : x));
  }
  throw new TypeError('not an array');
}

/**
 * A delimited string (a MySQL/MariaDB `SET` value is comma-separated) as an array of its parts: `''` is the
 * empty array (the empty SET), otherwise the parts between separators, kept exactly (no trimming). A value that
 * is already an array passes through.
 */
export function splitDelimited(v: unknown, separator = ','): unknown[] {
  if (Array.isArray(v)) return v;
  const s = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  if (separator === '') throw new TypeError('empty separator');
  return s === '' ? [] : s.split(separator);
}

/**
 * The reverse of {@link splitDelimited}: an array (or an array literal / JSON array text) joined with the
 * separator; NULL elements are left out (a SET has none). A string that is no array passes through.
 */
export function joinDelimited(v: unknown, separator = ','): unknown {
  if (v === null || v === undefined) return null;
  let xs: unknown[];
  try {
    xs = readArray(v);
  } catch {
    return v;
  }
  return xs
    .flat(Infinity)
    .filter((x) => x !== null && x !== undefined)
    .map(String)
    .join(separator);
}

/** A JSON number kept as its exact text, normalised ({@link normalizeJsonNumber}). */
export class JsonNumber {
  readonly text: string;
  constructor(raw: string) {
    this.text = normalizeJsonNumber(raw);
  }
  toJSON(): string {
    return this.text;
  }
}

/** Beyond this many digits a normalised number is written in exponent form (`1e400`) instead of spelled out. */
const MAX_SPELLED = 400;

/**
 * One exact text per JSON number value: `1.0` → `1`, `1e2` → `100`, `-0` → `0`, `1.50E-3` → `0.0015`, integers of
 * any size exact (`12345678901234567890`). The value is never rounded; numbers that would take more than 400
 * digits spelled out are written `<digits>e<exponent>` with no trailing zero in the digits (`1e400`).
 * Throws `TypeError` for text that is not a JSON number.
 */
export function normalizeJsonNumber(raw: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(raw.trim());
  if (!m) throw new TypeError('not a JSON number');
  const neg = m[1] === '-';
  const frac = m[3] ?? '';
  let digits = (m[2]! + frac).replace(/^0+/, '');
  let exp = Number(m[4] ?? 0) - frac.length;
  if (digits === '') return '0';
  const trailing = /0*$/.exec(digits)![0].length;
  digits = digits.slice(0, digits.length - trailing);
  exp += trailing;
  let body: string;
  if (exp >= 0) body = digits.length + exp > MAX_SPELLED ? `${digits}e${exp}` : digits + '0'.repeat(exp);
  else if (-exp >= digits.length)
    body = -exp > MAX_SPELLED ? `${digits}e${exp}` : `0.${'0'.repeat(-exp - digits.length)}${digits}`;
  else body = `${digits.slice(0, digits.length + exp)}.${digits.slice(digits.length + exp)}`;
  return neg ? `-${body}` : body;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * Parses JSON text like `JSON.parse`, except that every number is a {@link JsonNumber} (its exact text,
 * normalised) instead of a double. Duplicate object keys: the last one wins (as `JSON.parse` and jsonb do).
 * Throws `SyntaxError` for text that is not JSON.
 */
export function parseJsonExact(text: string): unknown {
  let i = 0;
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  };
  const fail = (): never => {
    throw new SyntaxError(`invalid JSON at position ${i}`);
  };
  const str = (): string => {
    // JSON.parse reads one string token exactly: find its end, then let it decode the escapes
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      i++;
    }
    if (text[i] !== '"') fail();
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): unknown => {
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++;
      const out: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') {
        i++;
        return out;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        const k = str();
        ws();
        if (text[i] !== ':') fail();
        i++;
        const v = value();
        Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return out;
        }
        fail();
      }
    }
    if (ch === '[') {
      i++;
      const out: unknown[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return out;
      }
      for (;;) {
        out.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return out;
        }
        fail();
      }
    }
    if (ch === '"') return str();
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m?.[0].length) {
      i += m[0].length;
      return new JsonNumber(m[0]);
    }
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const)
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    return fail();
  };
  const out = value();
  ws();
  if (i !== text.length) fail();
  return out;
}

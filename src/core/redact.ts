/**
 * The one redaction of Tandem: every error, log line, audit entry, status line and generated file that can hold
 * a URL or a database's message goes through these functions, so a password, token or row value never leaves.
 *
 * - {@link redactUrl}: one URL → the same URL with its password (userinfo after the first `:`, whatever it holds:
 *   `@`, `:`, `/`, percent-encoding) and its secret query parameters (`password`, `sslpassword`, `sslkey`,
 *   `token`, `access_token`, `api_key`, …) replaced by `***`.
 * - {@link redactText}: free text (an error message, a log line) → every URL in it redacted, and `password=…`
 *   style pairs of connection strings too.
 * - {@link scrubMessage}: a database's message → the values it echoes (`invalid input syntax for type uuid: "…"`,
 *   `Duplicate entry '…'`) replaced by `…`, by the dialect's own patterns (each `src/stores/<dialect>/connection.ts`
 *   declares them) and then a fallback that keeps quoted text only where it names something (a column, a table).
 * - {@link safeDriverError}: a driver's error object → a copy safe to attach as a `cause` (loggers serialize
 *   causes): scrubbed message, detail, hint and where; no statement, parameters or internal query.
 */

/** What replaces a secret in a URL or text. */
export const SECRET_MASK = '***';
/** What replaces a value a database's message echoed. */
export const VALUE_MASK = '…';

/**
 * Query parameter names whose value is a secret, compared lower-cased with `-`, `_` and `.` removed:
 * anything naming a password, secret, token, key, credential, signature or authorisation.
 */
const SECRET_PARAM = /pass|pwd|secret|token|key|cred|auth|sig|session|cookie|bearer/;

/** True when a query parameter (or `key=value` pair) of this name holds a secret. */
export function isSecretParam(name: string): boolean {
  let n = name;
  try {
    n = decodeURIComponent(name);
  } catch {
    // not percent-encoded
  }
  return SECRET_PARAM.test(n.toLowerCase().replace(/[-_.\s]/g, ''));
}

/** Schemes whose userinfo without a `:` is itself a secret (a NATS token: `nats://<token>@host`). */
const TOKEN_USER_SCHEMES = new Set(['nats', 'tls', 'http', 'https', 'ws', 'wss']);

/**
 * Replaces the password of a URL (userinfo after its first `:`) and the values of its secret query parameters
 * with `***`. The username stays (it names who connects), except for schemes where a bare userinfo is a token
 * (`nats://<token>@host`). Works on text that `new URL` refuses (a password with an unencoded `@`, `/` or `#`):
 * the userinfo ends at the last `@` before the host, and when the authority is ambiguous, at the last `@` of the
 * URL (hiding more rather than less). Text without a scheme is returned with only its secret parameters hidden.
 */
export function redactUrl(url: string): string {
  if (typeof url !== 'string') return url;
  const m = /^([a-z][a-z0-9+.-]*:)(\/\/)?/i.exec(url);
  if (!m) return redactQuery(url);
  const scheme = m[1]!;
  if (!m[2]) return scheme + redactQuery(url.slice(scheme.length));
  const start = m[0].length;
  const rest = url.slice(start);
  const at = userinfoEnd(rest);
  if (at < 0) return url.slice(0, start) + redactQuery(rest);
  const info = rest.slice(0, at);
  const colon = info.indexOf(':');
  const user = colon >= 0 ? info.slice(0, colon) : info;
  const hidden =
    colon >= 0
      ? `${user}:${SECRET_MASK}`
      : TOKEN_USER_SCHEMES.has(scheme.slice(0, -1).toLowerCase())
        ? SECRET_MASK
        : user;
  return `${url.slice(0, start)}${hidden}@${redactQuery(rest.slice(at + 1))}`;
}

/**
 * Where the userinfo of `rest` (the URL after `scheme://`) ends: the index of its `@`, or -1 without userinfo.
 * The authority ends at the first `/`, `?` or `#`; its last `@` ends the userinfo. When the authority has no `@`
 * but the text has one further on with a `:` before it (a password holding a `/`, `?` or `#`), the last `@` of
 * the whole text is taken: an `@` in a query after a `host:port` then hides more than needed, never less.
 */
function userinfoEnd(rest: string): number {
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const at = authority.lastIndexOf('@');
  if (at >= 0) return at;
  const later = rest.lastIndexOf('@');
  return later >= 0 && rest.slice(0, later).includes(':') ? later : -1;
}

/** Hides the values of secret parameters in the query (`?a=1&password=x`) of a URL tail or path. */
function redactQuery(tail: string): string {
  const q = tail.indexOf('?');
  if (q < 0) return tail;
  const hash = tail.indexOf('#', q);
  const query = hash < 0 ? tail.slice(q + 1) : tail.slice(q + 1, hash);
  const parts = query.split(/([&;])/).map((p) => {
    const eq = p.indexOf('=');
    if (eq < 0) return p;
    const name = p.slice(0, eq);
    const value = p.slice(eq + 1);
    if (isSecretParam(name) || (name.toLowerCase() === 'ssl' && /^(%7b|\{)/i.test(value)))
      return `${name}=${SECRET_MASK}`;
    return p;
  });
  return `${tail.slice(0, q + 1)}${parts.join('')}${hash < 0 ? '' : tail.slice(hash)}`;
}

/** A URL inside free text: a scheme, `//` or not, up to white space or a quote. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'`<>]+/gi;
/** `password=…` / `sslpassword='…'` pairs of libpq-style connection strings and `key: value` options in text. */
const PAIR_IN_TEXT = /\b([a-z][\w.-]*)(\s*=\s*)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s&;,)]+)/gi;

/**
 * Redacts every URL in a text ({@link redactUrl}) and every `name=value` pair whose name is secret
 * (`password=hunter2` → `password=***`). For messages and log lines of unknown origin.
 */
export function redactText(text: string): string {
  if (typeof text !== 'string' || text === '') return text;
  return text
    .replace(URL_IN_TEXT, (u) => redactUrl(u))
    .replace(PAIR_IN_TEXT, (all, name: string, eq: string) =>
      isSecretParam(name) ? `${name}${eq}${SECRET_MASK}` : all,
    );
}

/**
 * One rule of a dialect's message scrubber: `re` finds an echoed value; `replace` is the text put instead
 * (`$1`… refer to the groups), or a function of the match.
 */
export interface ValueRule {
  re: RegExp;
  replace: string | ((match: string, ...groups: string[]) => string);
}

/**
 * How a dialect quotes text in its messages, for the fallback of {@link scrubMessage}: the quote character and
 * the words after which quoted text is a name (`column "email"`, `relation "users"`), kept. Any other quoted
 * text is taken for a value and replaced.
 */
export interface QuoteRule {
  quote: '"' | "'" | '`';
  /** Matches the text just before the opening quote when the quoted text is a name. */
  nameBefore: RegExp;
}

/**
 * Removes the values a database's message echoes: first the dialect's `rules` (exact shapes such as
 * `Key (email)=(…) already exists`), then, for each of `quotes`, any quoted text that does not follow a naming
 * word. Row values (a password hash, an email, a key) never survive; names of tables, columns, constraints,
 * types and users do. Finally {@link redactText} hides URLs and `password=` pairs.
 */
export function scrubMessage(message: string, rules: readonly ValueRule[], quotes: readonly QuoteRule[] = []): string {
  if (typeof message !== 'string' || message === '') return message;
  let out = message;
  for (const r of rules) out = out.replace(r.re, r.replace as string);
  for (const q of quotes) out = scrubQuoted(out, q);
  return redactText(out);
}

/**
 * Quoted text after a naming word is kept; any other quoted text is a value. A value may itself hold the quote
 * character (databases do not escape it), so it runs to the last quote before the next quoted name (or the
 * last quote of the text): more is hidden rather than a tail of the value shown.
 */
function scrubQuoted(text: string, q: QuoteRule): string {
  const marks: number[] = [];
  for (let k = text.indexOf(q.quote); k >= 0; k = text.indexOf(q.quote, k + 1)) marks.push(k);
  const opensName = (k: number) => q.nameBefore.test(text.slice(0, k));
  let out = '';
  let i = 0;
  let m = 0;
  while (m < marks.length) {
    const open = marks[m]!;
    if (m + 1 >= marks.length) {
      // an unterminated quote: what follows may be a value cut short; drop it
      return `${out}${text.slice(i, open)}${q.quote}${VALUE_MASK}`;
    }
    let closeAt = m + 1;
    const name = opensName(open);
    if (!name) {
      let next = marks.findIndex((k, n) => n > m + 1 && opensName(k));
      if (next < 0) next = marks.length;
      closeAt = Math.max(m + 1, next - 1);
    }
    const close = marks[closeAt]!;
    const inner = text.slice(open + 1, close);
    out += `${text.slice(i, open)}${q.quote}${name || inner === VALUE_MASK ? inner : VALUE_MASK}${q.quote}`;
    i = close + 1;
    m = closeAt + 1;
  }
  return out + text.slice(i);
}

/** Fields of driver errors whose text can echo values: scrubbed in {@link safeDriverError}. */
const TEXT_FIELDS = ['detail', 'hint', 'where'] as const;
/** Fields copied as they are (codes and names, never values). */
const PLAIN_FIELDS = [
  'code',
  'errno',
  'sqlState',
  'severity',
  'schema',
  'table',
  'column',
  'dataType',
  'constraint',
  'routine',
  'fatal',
  'syscall',
  'address',
  'port',
] as const;

/**
 * A copy of a driver's error that is safe to attach as a `cause` and to serialize: same name, codes and stack
 * frames; message, `detail`, `hint` and `where` passed through `scrub`; no `sql`, `query`, `params`,
 * `parameters`, `internalQuery` or any other field (they hold statements with values). Non-errors become their
 * scrubbed text.
 */
export function safeDriverError(e: unknown, scrub: (text: string) => string): unknown {
  if (!(e instanceof Error))
    return typeof e === 'string' ? scrub(e) : e === null || typeof e !== 'object' ? e : scrub(String(e));
  const src = e as Error & Record<string, unknown>;
  const message = scrub(src.message ?? '');
  const copy = new Error(message) as Error & Record<string, unknown>;
  copy.name = src.name;
  for (const f of PLAIN_FIELDS) if (src[f] !== undefined) copy[f] = src[f];
  for (const f of TEXT_FIELDS) if (typeof src[f] === 'string') copy[f] = scrub(src[f] as string);
  if (typeof src.sqlMessage === 'string') copy.sqlMessage = scrub(src.sqlMessage);
  const stack = src.stack ?? '';
  const frames = stack.indexOf('\n    at ');
  copy.stack = `${src.name}: ${message}${frames >= 0 ? stack.slice(frames) : ''}`;
  return copy;
}

/**
 * Quoting of messages whose origin is unknown (an error that no dialect mapped): double- or single-quoted text
 * is a name only after a naming word (`column "c"`, `table 't'`, `user 'u'`); any other quoted text is hidden.
 */
export const GENERIC_QUOTES: readonly QuoteRule[] = [
  {
    quote: '"',
    nameBefore:
      /\b(column|relation|constraint|table|type|schema|database|role|user|index|sequence|view|function|trigger|encoding|extension|parameter|near|key|file|module|option|command|entity|config|directory|path|flag|package)\s+$/i,
  },
  {
    quote: "'",
    nameBefore:
      /(\b(column|key|table|database|user|in|function|index|constraint|field|variable|schema|file|module|option|command|entity|package|directory|path|flag|property)\s+|@)$/i,
  },
];

/**
 * The text of an error of unknown kind (not a TandemError) made safe to print or store: URLs and secret pairs
 * redacted ({@link redactText}), quoted text that could be a value removed ({@link GENERIC_QUOTES}).
 */
export function redactErrorText(e: unknown): string {
  return scrubMessage(thrownText(e), [], GENERIC_QUOTES);
}

/**
 * The text of anything thrown, never `[object Object]`: an Error's message (else its name); a string as it is;
 * an object that is not an Error (a WebAssembly runtime's file-system error, a driver's plain error object) by
 * its `message` when it has one, else by its `name`, `code` and `errno`; anything else as `String(e)`. Not
 * redacted: pass the result through the caller's scrubber. @internal
 */
export function thrownText(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (e === null || typeof e !== 'object') return String(e);
  const o = e as Record<string, unknown>;
  if (typeof o.message === 'string' && o.message) return o.message;
  const parts = (['name', 'code', 'errno'] as const)
    .filter((k) => typeof o[k] === 'string' || typeof o[k] === 'number')
    .map((k) => (k === 'name' ? String(o[k]) : `${k} ${String(o[k])}`));
  const text = String(e);
  if (parts.length) return parts.join(', ');
  if (text !== '[object Object]') return text;
  return `an error object without a message (${Object.keys(o).slice(0, 5).join(', ') || 'no fields'})`;
}

/**
 * Deep copy of a JSON-like value with every string passed through {@link redactText} (for audit `args`, log
 * fields). Depth-limited; non-plain objects are kept as they are.
 */
export function redactDeep<T>(value: T, depth = 6): T {
  if (typeof value === 'string') return redactText(value) as T;
  if (depth <= 0 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth - 1)) as T;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = redactDeep(v, depth - 1);
  return out as T;
}

/**
 * A tiny HTML tagged template that escapes: every interpolated value is escaped (`&`, `<`, `>`, `"`, `'`) unless it
 * is itself {@link Html} (the result of another `html` template or of {@link raw}); arrays are joined; `null`,
 * `undefined` and booleans render as nothing. Templates put attribute values in double quotes, so an escaped value
 * cannot leave its attribute.
 */

/** Markup that is already safe (escaped or written by Tandem itself). */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** What a template accepts between `${…}`. */
export type Part = Html | string | number | bigint | boolean | null | undefined | readonly Part[];

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** `s` with the five HTML-special characters replaced by entities (safe in text and in quoted attributes). */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

function render(p: Part): string {
  if (p === null || p === undefined || typeof p === 'boolean') return '';
  if (p instanceof Html) return p.value;
  if (Array.isArray(p)) return p.map(render).join('');
  return escapeHtml(String(p));
}

/** The template tag: literal parts as written, interpolations escaped ({@link Part}). */
export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** Marks `s` as safe markup, unescaped: only for text Tandem writes itself (CSS, generated SVG numbers). */
export function raw(s: string): Html {
  return new Html(s);
}

/**
 * Naming helpers for mappings.
 *
 * `snakeCase` follows the usual rules of ORMs (Rails' `underscore`, Django's table names): a lower→upper
 * boundary and an acronym→word boundary start a new word; spaces, dashes and dots become `_`.
 * `AlbumId` → `album_id`, `InvoiceLine` → `invoice_line`, `HTTPServer` → `http_server`, `userID2` → `user_id2`.
 */
export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[\s\-.]+/g, '_')
    .replace(/__+/g, '_')
    .toLowerCase();
}

/**
 * Builds a column map `{ targetColumn: sourceColumn }` for `sourceColumns`, naming each target column with
 * `naming` (default {@link snakeCase}); `overrides` wins for the source columns it names (a target name, or
 * `null` to leave the column out).
 */
export function renameColumns(
  sourceColumns: readonly string[],
  naming: (name: string) => string = snakeCase,
  overrides: Record<string, string | null> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of sourceColumns) {
    const o = overrides[c];
    if (o === null) continue;
    out[o ?? naming(c)] = c;
  }
  return out;
}

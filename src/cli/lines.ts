/**
 * A line splitter for untrusted input (`tandem identity check` reads JSON lines on stdin): it never holds more
 * than `maxBytes` of one line. A longer line is dropped as it streams past — only its length is kept — and
 * reported as `{ tooLong }`; the lines after it are read as usual. `readline` would buffer the whole line (a
 * 600 MB line ended in an uncaught RangeError).
 */

/** One line of input (without its `\n` or `\r\n`), or the size in bytes of a line over the cap. */
export type BoundedLine = { line: string; tooLong?: undefined } | { tooLong: number; line?: undefined };

/**
 * Splits `input` into lines of at most `maxBytes` bytes (UTF-8, the line ending not counted). Memory stays
 * within `maxBytes` plus one chunk of the input, whatever the line lengths.
 */
export async function* boundedLines(
  input: AsyncIterable<Buffer | string>,
  maxBytes: number,
): AsyncGenerator<BoundedLine> {
  let parts: Buffer[] = [];
  let size = 0;
  let over = false;
  const emit = (): BoundedLine => {
    const out: BoundedLine =
      over || size > maxBytes + 1 ? { tooLong: size } : { line: Buffer.concat(parts, size).toString('utf8') };
    if (out.line?.endsWith('\r')) out.line = out.line.slice(0, -1);
    if (out.line !== undefined && Buffer.byteLength(out.line) > maxBytes) return { tooLong: size };
    return out;
  };
  for await (const c of input) {
    const chunk = typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      const piece = chunk.subarray(start, nl === -1 ? chunk.length : nl);
      size += piece.length;
      if (!over && size > maxBytes + 1) {
        // over the cap (one byte of slack for a `\r`): drop what was kept, count the rest
        over = true;
        parts = [];
      } else if (!over && piece.length) parts.push(piece);
      if (nl === -1) break;
      yield emit();
      parts = [];
      size = 0;
      over = false;
      start = nl + 1;
    }
  }
  if (size > 0 || over) yield emit();
}

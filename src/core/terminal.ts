/**
 * The one progress line a command may keep open on a terminal (drawn with `\r`, no newline yet). Whatever else
 * is written to the terminal — a log line, a signal notice, an error, the summary — first ends that line with
 * `\n` through {@link endProgressLine}, so the display is never interleaved.
 */
let open: NodeJS.WritableStream | null = null;

/** Records that `out` now holds an unfinished progress line (or, with null, that none is open). */
export function setProgressLineOpen(out: NodeJS.WritableStream | null): void {
  open = out;
}

/** Ends the open progress line, if any, with a newline. Safe to call any time. */
export function endProgressLine(): void {
  const out = open;
  open = null;
  out?.write('\n');
}

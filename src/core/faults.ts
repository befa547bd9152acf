/**
 * **Test-only** fault injection: the crash windows of the backfill and the relay, made reachable on purpose.
 *
 * When the environment variable `TANDEM_TEST_FAULT` names a point (`<point>`, or `<point>:<n>` for its n-th
 * passage, 1-based), the process kills itself with SIGKILL when it gets there — no handler, no cleanup, no
 * flush, exactly what a crash or the OOM killer does. Without the variable a fault point costs one property
 * read. Never set it in production: it exists so that tests (test/faults/) can run the real CLI, let it die at a
 * named point, start it again and check the end state. The points (docs/backfill.md, docs/dual-writes.md):
 *
 * | point | where |
 * |---|---|
 * | `after-chunk-write` | backfill: the chunk's rows written in its target transaction, checkpoint not moved yet |
 * | `after-checkpoint` | backfill: rows and checkpoint move written, COMMIT not sent |
 * | `after-commit` | backfill: chunk committed, before the process records it (progress, next read) |
 * | `after-secondary-commit` | relay: the batch committed on the secondary, outbox rows not yet acknowledged |
 */
export type FaultPoint = 'after-chunk-write' | 'after-checkpoint' | 'after-commit' | 'after-secondary-commit';

/** Every fault point, for validation and docs. */
export const FAULT_POINTS: readonly FaultPoint[] = [
  'after-chunk-write',
  'after-checkpoint',
  'after-commit',
  'after-secondary-commit',
];

const passages = new Map<FaultPoint, number>();

/**
 * Marks a fault point: SIGKILLs this process when `TANDEM_TEST_FAULT` is `point` or `point:<n>` and this is the
 * n-th time the point is reached (the first when no n is given). Does nothing otherwise. Test-only.
 */
export function faultPoint(point: FaultPoint): void {
  const want = process.env.TANDEM_TEST_FAULT ?? '';
  if (!want.startsWith(point)) return;
  const rest = want.slice(point.length);
  if (rest !== '' && !/^:\d+$/.test(rest)) return;
  const n = (passages.get(point) ?? 0) + 1;
  passages.set(point, n);
  if (n !== (rest ? Number(rest.slice(1)) : 1)) return;
  process.kill(process.pid, 'SIGKILL');
}

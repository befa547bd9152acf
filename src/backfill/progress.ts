import type { Logger } from 'pino';
import { endProgressLine, setProgressLineOpen } from '../core/terminal.js';

/** One entity's progress, as shown by the progress line and logged as JSON. */
export interface ProgressState {
  entity: string;
  /** Rows done so far (copied by the backfill, compared by verify). */
  copied: number;
  total: number;
  /** Rows per second over the last few seconds. */
  rate: number;
  /** The current chunk size; left out of the line when undefined (verify). */
  chunkRows?: number;
  throttle: string | null;
  done: boolean;
  /** The verb of the line (default `copied`; verify says `compared`). */
  verb?: string;
}

/** Options of {@link ProgressReporter}. */
export interface ProgressOptions {
  /** The verb of the line: `copied` (default) or `compared`. */
  verb?: string;
  /** The `event` of the JSON log line off a TTY (default `backfill.progress`). */
  event?: string;
  /** Off a TTY, log a JSON line per second (default true); false prints nothing off a TTY. */
  logWhenNotTty?: boolean;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** Seconds as `1h02m03s`, `4m05s` or `6s`. */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600),
    m = Math.floor((s % 3600) / 60),
    sec = s % 60;
  return h
    ? `${h}h${String(m).padStart(2, '0')}m${String(sec).padStart(2, '0')}s`
    : m
      ? `${m}m${String(sec).padStart(2, '0')}s`
      : `${sec}s`;
}

/**
 * The gh-ost-style status line of one entity:
 * `users: copied 45,000/100,000 (45.0%), 12,345 rows/s, ETA 4s, chunk 5,000, state: running`.
 */
export function progressLine(p: ProgressState): string {
  const pct = p.total > 0 ? Math.min(100, (p.copied / p.total) * 100) : 100;
  const eta = p.done ? 'done' : p.rate > 0 ? formatDuration(Math.max(0, p.total - p.copied) / p.rate) : '?';
  const state = p.done ? 'done' : p.throttle ? `throttled (${p.throttle})` : 'running';
  const chunk = p.chunkRows === undefined ? '' : `, chunk ${fmt(p.chunkRows)}`;
  return `${p.entity}: ${p.verb ?? 'copied'} ${fmt(p.copied)}/${fmt(p.total)} (${pct.toFixed(1)}%), ${fmt(p.rate)} rows/s, ETA ${eta}${chunk}, state: ${state}`;
}

/**
 * Reports progress: on a TTY one line per entity rewritten in place (at most 10 times a second), ended with a
 * newline when the entity is done or by {@link ProgressReporter.close} (and before any log line or error, see
 * core/terminal.ts); otherwise a JSON log line per second and at the end of each entity (unless `logWhenNotTty`
 * is false). Used by the backfill (`copied`) and by verify (`compared`).
 */
export class ProgressReporter {
  private lastDraw = 0;
  private readonly samples: { t: number; copied: number }[] = [];

  constructor(
    private readonly out: NodeJS.WriteStream | null,
    private readonly log: Logger,
    private readonly options: ProgressOptions = {},
  ) {}

  /** Feeds a new position; computes the rate over a sliding 5 s window. */
  update(p: Omit<ProgressState, 'rate'>): ProgressState {
    const now = performance.now();
    this.samples.push({ t: now, copied: p.copied });
    while (this.samples.length > 2 && now - this.samples[0]!.t > 5000) this.samples.shift();
    const first = this.samples[0]!;
    const rate = now > first.t ? ((p.copied - first.copied) * 1000) / (now - first.t) : 0;
    const state: ProgressState = {
      ...p,
      rate,
      ...(this.options.verb && p.verb === undefined ? { verb: this.options.verb } : {}),
    };
    const tty = this.out?.isTTY;
    if (p.done || now - this.lastDraw >= (tty ? 100 : 1000)) {
      this.lastDraw = now;
      if (tty) {
        this.out!.write(`\r\x1b[2K${progressLine(state)}${p.done ? '\n' : ''}`);
        setProgressLineOpen(p.done ? null : this.out);
      } else if (this.options.logWhenNotTty !== false) {
        this.log.info(
          {
            event: this.options.event ?? 'backfill.progress',
            entity: p.entity,
            copied: p.copied,
            total: p.total,
            rowsPerSecond: Math.round(rate),
            chunkRows: p.chunkRows,
            throttle: p.throttle,
            done: p.done,
          },
          progressLine(state),
        );
      }
    }
    return state;
  }

  /** Ends an unfinished progress line with a newline (a stop, an error); nothing when none is open. */
  close(): void {
    endProgressLine();
  }

  /** Starts a new entity (resets the rate window). */
  reset(): void {
    this.samples.length = 0;
    this.lastDraw = 0;
  }
}

import type { Logger } from 'pino';
import { readPhase, type Phase } from '../control/phase.js';
import type { Store } from '../stores/types.js';

/**
 * The phase as a hot path sees it: served from a cache, refreshed in the background by at most one read in
 * flight once `ttlMs` has passed, so a write never waits on the control store beyond a short bound. A failed
 * read keeps the last known phase (and is retried after the same interval). With no phase known yet, a caller
 * waits at most `firstWaitMs` (200) for the first read and then assumes `dual_write` — recording a change that
 * is not needed is harmless, missing one would not be.
 * @internal
 */
export class PhaseCache {
  #cache: { phase: Phase; at: number } | null = null;
  #refresh: Promise<void> | undefined;
  /** The last phase actually read (an assumed one is not "seen": changes are reported against reads). */
  #read: Phase | null = null;

  constructor(
    private readonly control: Store,
    private readonly log: Logger,
    private readonly ttlMs: number,
    private readonly onChange: (from: Phase | null, to: Phase) => void,
    private readonly firstWaitMs = 200,
  ) {}

  /** The last phase known, or null before the first read. */
  get known(): Phase | null {
    return this.#cache?.phase ?? null;
  }

  #set(phase: Phase): void {
    const from = this.#read;
    this.#read = phase;
    this.#cache = { phase, at: Date.now() };
    if (from !== phase) this.onChange(from, phase);
  }

  /** Reads the phase now (one read shared by concurrent callers); on a failure keeps the last known one. */
  refresh(): Promise<void> {
    this.#refresh ??= readPhase(this.control)
      .then(
        (phase) => this.#set(phase),
        (e) => {
          this.log.warn(
            { event: 'capture.phase_unreadable', err: (e as Error).message },
            'cannot read the phase; keeping the last known one',
          );
          this.#cache = { phase: this.#cache?.phase ?? 'dual_write', at: Date.now() };
        },
      )
      .finally(() => {
        this.#refresh = undefined;
      });
    return this.#refresh;
  }

  /** Reads the phase from the control store now; throws what the store throws (the cache is updated on success). */
  async readNow(): Promise<Phase> {
    const phase = await readPhase(this.control);
    this.#set(phase);
    return phase;
  }

  /** The current phase (see the class comment for the bound). */
  async get(): Promise<Phase> {
    const now = Date.now();
    if (this.#cache && now - this.#cache.at < this.ttlMs) return this.#cache.phase;
    const pending = this.refresh();
    if (this.#cache) return this.#cache.phase;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      pending,
      new Promise((r) => {
        timer = setTimeout(r, this.firstWaitMs);
      }),
    ]);
    clearTimeout(timer);
    return this.known ?? 'dual_write';
  }
}

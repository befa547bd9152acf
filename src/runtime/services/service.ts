import type { Migration } from '../migration.js';
import type { ServiceState } from '../events.js';
import { errorLine } from '../../core/errors.js';

/** What every long-running service offers: start it, stop it gracefully, read its state, wait for its end. */
export interface Service<R = unknown> {
  /** `backfill`, `relay`, `verify`, `supervisor`. */
  readonly name: string;
  readonly state: ServiceState;
  /** Starts the work in the background (no-op while it runs). Resolves once started. */
  start(): Promise<void>;
  /** Asks the work to stop after what is in flight (a chunk, a batch, a statement) and waits for it to end. */
  stop(): Promise<void>;
  /** Resolves with the result when the work ends (done, or stopped), rejects with its error when it failed. */
  wait(): Promise<R>;
}

/** Waits `ms`, or less when `signal` aborts. @internal */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((res) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      res();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The shared lifecycle of a service: state, events, stop signal. @internal */
export abstract class BaseService<R> implements Service<R> {
  abstract readonly name: string;
  #state: ServiceState = 'idle';
  #stop = new AbortController();
  #run: Promise<R> | null = null;

  constructor(protected readonly m: Migration) {}

  get state(): ServiceState {
    return this.#state;
  }

  /** Aborted by {@link stop}. */
  protected get signal(): AbortSignal {
    return this.#stop.signal;
  }

  protected setState(state: ServiceState, error?: unknown): void {
    if (state === this.#state && error === undefined) return;
    this.#state = state;
    this.m.events.emit('service:state', {
      service: this.name,
      state,
      ...(error !== undefined ? { error: errorLine(error) } : {}),
    });
  }

  protected abstract run(signal: AbortSignal): Promise<R>;

  async start(): Promise<void> {
    if (this.#run && (this.#state === 'running' || this.#state === 'waiting')) return;
    this.#stop = new AbortController();
    this.setState('running');
    this.#run = this.run(this.#stop.signal).then(
      (r) => {
        this.setState(this.#stop.signal.aborted ? 'stopped' : 'done');
        return r;
      },
      (e) => {
        this.setState('failed', e);
        throw e;
      },
    );
    this.#run.catch(() => {});
  }

  wait(): Promise<R> {
    if (!this.#run) return Promise.reject(new Error(`${this.name} was not started`));
    return this.#run;
  }

  async stop(): Promise<void> {
    if (!this.#run) return;
    if (this.#state === 'running' || this.#state === 'waiting') this.setState('stopping');
    this.#stop.abort();
    await this.#run.catch(() => {});
  }
}

/**
 * Stops `service` when `signal` aborts — at once when it already has (a signal that arrived while the caller was
 * still setting up). Call it after `start()`. Returns the function that unlinks them.
 */
export function stopOn(service: Service, signal: AbortSignal): () => void {
  const stop = () => {
    service.stop().catch(() => {});
  };
  if (signal.aborted) {
    stop();
    return () => {};
  }
  signal.addEventListener('abort', stop, { once: true });
  return () => signal.removeEventListener('abort', stop);
}

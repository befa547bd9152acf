/**
 * One parser for every numeric and enumerated command-line option, used as commander argument parsers so that
 * a bad value stops the command while the command line is parsed — before any config is loaded or any store is
 * opened, so nothing is written. The error is one line naming the option and the value,
 * `TANDEM_ERR_USAGE: --metrics-port must be a whole number from 0 to 65535, not "abc"`, exit 2 (see
 * `usageMessage` in ./index.ts).
 */
import { InvalidArgumentError } from 'commander';
import { TandemError } from '../core/errors.js';

/** Bounds of a numeric option: inclusive `min`/`max`; `integer` asks for a whole number. */
export interface NumberBounds {
  integer?: boolean;
  /** Inclusive lower bound (default: none). */
  min?: number;
  /** Exclusive lower bound: the value must be greater (e.g. 0 for "positive"). */
  above?: number;
  /** Inclusive upper bound (default: none). */
  max?: number;
}

// a plain decimal number, with `_` allowed between digits (100_000); no hex, no blanks, no Infinity
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** What a value of these bounds looks like, for messages: "a whole number from 1 to 65535". */
export function describeBounds(b: NumberBounds): string {
  const kind = b.integer ? 'a whole number' : 'a number';
  const lo = b.min !== undefined ? b.min : b.above;
  if (lo !== undefined && b.max !== undefined)
    return b.above !== undefined && b.min === undefined
      ? `${kind} above ${lo} and at most ${b.max}`
      : `${kind} from ${lo} to ${b.max}`;
  if (b.above !== undefined) return b.above === 0 ? `${kind} above 0` : `${kind} above ${b.above}`;
  if (b.min !== undefined) return `${kind} ≥ ${b.min}`;
  if (b.max !== undefined) return `${kind} ≤ ${b.max}`;
  return kind;
}

/**
 * Parses `text` as a number within `bounds`; returns null when it is not one (no exception), so callers choose
 * the error type.
 */
export function toNumber(text: string, bounds: NumberBounds): number | null {
  const plain = String(text)
    .trim()
    .replace(/(\d)_(?=\d)/g, '$1');
  if (!DECIMAL.test(plain)) return null;
  const n = Number(plain);
  if (!Number.isFinite(n)) return null;
  if (bounds.integer && !Number.isInteger(n)) return null;
  if (bounds.min !== undefined && n < bounds.min) return null;
  if (bounds.above !== undefined && !(n > bounds.above)) return null;
  if (bounds.max !== undefined && n > bounds.max) return null;
  return n;
}

/** A commander argument parser for a number within `bounds` (InvalidArgumentError otherwise). */
export function numberOption(bounds: NumberBounds): (value: string) => number {
  return (value: string) => {
    const n = toNumber(value, bounds);
    if (n === null) throw new InvalidArgumentError(describeBounds(bounds));
    return n;
  };
}

/** A commander argument parser for a whole number within `bounds` (default: ≥ 1). */
export function intOption(bounds: Omit<NumberBounds, 'integer'> = { min: 1 }): (value: string) => number {
  return numberOption({ ...bounds, integer: true });
}

/** A commander argument parser for one of `values` (exact, case-sensitive). */
export function enumOption<T extends string>(values: readonly T[]): (value: string) => T {
  return (value: string) => {
    if (!(values as readonly string[]).includes(value)) throw new InvalidArgumentError(`one of ${values.join(', ')}`);
    return value as T;
  };
}

/**
 * The same check for a value that arrives outside commander's parsing (a positional argument, a value read
 * from the config): throws `TANDEM_ERR_USAGE` naming `name` and the value.
 */
export function parseNumber(name: string, value: string, bounds: NumberBounds): number {
  const n = toNumber(value, bounds);
  if (n === null)
    throw new TandemError('USAGE', `${name} must be ${describeBounds(bounds)}, not ${JSON.stringify(value)}`);
  return n;
}

/** Port numbers: 0 (any free port) to 65535. */
export const PORT: NumberBounds = { integer: true, min: 0, max: 65535 };

/**
 * The canonical row-hash encoding lives in core (src/core/encoding.ts): the stores' pushed-down checksums and
 * verify share it. Re-exported here for older imports.
 * @deprecated
 * @internal
 */
export * from '../core/encoding.js';

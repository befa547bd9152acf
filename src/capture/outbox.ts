/**
 * @deprecated The outbox lives in src/outbox/outbox.ts; this path re-exports it for older imports.
 * @internal
 */
export { claimOutbox, outboxInsert, outboxTable, type OutboxEntry, type OutboxRow } from '../outbox/outbox.js';

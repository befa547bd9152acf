/**
 * The shapes of the cutover half of the road (docs/cutover.md): gates, the fenced write cutover, rollback and the
 * rehearsal. One module of types so that the commands, the runtime, the plan and the demo agree on them.
 *
 * Glossary (DESIGN.md "Terms"): a **gate** is a condition a phase change must meet, shown with its figure and
 * threshold; the **fence** is the epoch row write cutover and rollback take, checked by every write inside its own
 * transaction; the **write pause** is how long writes were held at the fence; **RTO** is the time a rollback took
 * from its start to reads and writes served by legacy again; a **rehearsal** is cutover → rollback → cutover under
 * load on staging stores.
 */
import type { Phase } from '../control/phase.js';

/** One gate's verdict, as `tandem phase advance` prints it (one table row). */
export interface GateResult {
  /** Stable name: `backfill`, `relay_lag`, `dead_letters`, `parity`, `shadow_mismatch`, `guard`, `rehearsal`, … */
  gate: string;
  /** The figure read, as printed (`100 %`, `0.8 s`, `3`). */
  figure: string;
  /** The threshold it must meet, as printed (`= 100 %`, `< 5 s`). */
  threshold: string;
  pass: boolean;
  /** Why it fails (or what it was measured on when it passes); never a row value. */
  reason: string;
}

/** Writes held at the fence during a cutover or rollback. Times in ms. */
export interface WritePause {
  /** Writes that met the fence and were held. */
  held: number;
  /** 99th percentile of the held writes' wait, ms (0 when none was held). */
  p99Ms: number;
  /** Longest wait, ms. */
  maxMs: number;
}

/** What `tandem cutover` did (`--json` prints it). */
export interface CutoverReport {
  from: Phase;
  to: Phase;
  /** The fence's epoch after the flip. */
  epoch: number;
  gates: GateResult[];
  /** True when gates failed and `--force` moved anyway (audited). */
  forced: boolean;
  /** Round trip of the probe change through the reverse path, ms. */
  reverseProbeMs: number;
  /** Changes drained from the forward outbox under the fence. */
  drained: number;
  writePause: WritePause;
  /** Seconds from the fence to its release. */
  seconds: number;
}

/** What `tandem rollback` did (`--json` prints it). */
export interface RollbackReport {
  from: Phase;
  to: Phase;
  epoch: number;
  /** Changes drained from the reverse outbox into legacy (0 from shadow/canary). */
  drained: number;
  writePause: WritePause;
  /** Measured recovery time: from the rollback's start to legacy serving again, seconds. */
  rtoSeconds: number;
  /** Parity per entity of the verification after the flip back (percent), when it ran. */
  parity?: Record<string, number>;
}

/** A rehearsal's result, stored in the control plane; the cutover gate reads the newest. */
export interface RehearsalRecord {
  /** ISO-8601 UTC time the rehearsal ended. */
  at: string;
  passed: boolean;
  /** Writes committed by the synthetic load, and how many of them the independent history check found lost. */
  committedWrites: number;
  lostWrites: number;
  cutover: WritePause;
  rollback: WritePause;
  rollbackRtoSeconds: number;
  /** Parity (percent, lowest entity) after each step: cutover, rollback, cutover. */
  parity: number[];
  /** Why it failed, when it did. */
  reason?: string;
}

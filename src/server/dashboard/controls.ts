/**
 * The dashboard's actions: the buttons (`GET /ui/controls`), the confirmation dialog of each (`GET /ui/confirm/…`:
 * what it does, the state now, its fields and the gate table before acting) and the form routes behind the
 * dialog's confirm button (`POST /ui/actions/…`), which turn the form into the JSON body of the API action of the
 * same path (src/server/actions.ts, docs/api.md) and call it: the same role check, body check and audit (actor
 * `token:<name>`) as `POST /api/…`. Like every `/ui` request they carry the bearer header; no cookie has authority.
 */
import { nextPhase, PHASES, type Phase } from '../../control/phase.js';
import { errorLine, TandemError } from '../../core/errors.js';
import { checkGates } from '../../cutover/gates.js';
import type { GateResult } from '../../cutover/types.js';
import type { MigrationStatus } from '../../runtime/status.js';
import type { Principal, ServerContext } from '../context.js';
import { errorBody } from '../errors.js';
import { type Html, html } from './html.js';
import { gateTable } from './panels.js';

/** The actions the dashboard offers, by their API path under `/api` (POST). */
export const UI_ACTIONS = [
  'backfill/pause',
  'backfill/resume',
  'backfill/tune',
  'routing',
  'kill',
  'unkill',
  'phase/advance',
  'cutover',
  'rollback',
] as const;
export type UiAction = (typeof UI_ACTIONS)[number];

/** Whether `s` names a dashboard action. */
export function isUiAction(s: string): s is UiAction {
  return (UI_ACTIONS as readonly string[]).includes(s);
}

const TITLES: Record<UiAction, { title: string; button: string; what: string; danger?: boolean }> = {
  'backfill/pause': {
    title: 'Pause the backfill',
    button: 'Pause',
    what: 'Every backfill stops after its chunk in flight, in every worker. Nothing restarts; resume goes on from the checkpoint.',
  },
  'backfill/resume': {
    title: 'Resume the backfill',
    button: 'Resume',
    what: 'Paused backfills go on from their checkpoints.',
  },
  'backfill/tune': {
    title: 'Tune the backfill',
    button: 'Tune',
    what: 'Changes the rate and the chunk time of the running backfills at their next chunk, without a restart. An empty field is unchanged; "none" removes the operator\'s value.',
  },
  routing: {
    title: 'Set the routing shares',
    button: 'Routing',
    what: 'The sticky share of keys whose reads are shadowed (new read and compared) and served by new (canary). An empty field is unchanged.',
  },
  kill: {
    title: 'Kill switch on',
    button: 'Kill',
    what: 'Every instance serves every read from legacy within its refresh interval, whatever the percentages.',
    danger: true,
  },
  unkill: { title: 'Kill switch off', button: 'Unkill', what: 'Routing follows the phase and the percentages again.' },
  'phase/advance': {
    title: 'Advance the phase',
    button: 'Advance…',
    what: 'Checks the gates of the destination and moves there when they pass (or with force, audited).',
  },
  cutover: {
    title: 'Write cutover',
    button: 'Cutover…',
    what: 'The fenced write cutover to new_primary: writes pause at the fence, the forward outbox drains, new becomes primary.',
    danger: true,
  },
  rollback: {
    title: 'Roll back',
    button: 'Rollback…',
    what: 'Back to the legacy store as primary (from new_primary: the reverse outbox is replayed first, nothing is lost).',
    danger: true,
  },
};

/** The buttons; disabled for a viewer token (a viewer reads only). */
export function controlsPanel(p: Principal, s: MigrationStatus | null): Html {
  const canAct = p.role === 'operator';
  const paused = !!s?.entities[0]?.backfill.control.paused;
  const killed = s?.routing.killed ?? false;
  const btn = (a: UiAction, extra = '') =>
    html`<button type="button" id="btn-${a.replace('/', '-')}" class="${TITLES[a].danger ? 'danger' : ''}${extra}" hx-get="/ui/confirm/${a}" hx-target="#confirm-body" ${canAct ? '' : html`disabled`}>${TITLES[a].button}</button>`;
  return html`<h2>Actions</h2><div class="actions">${btn('backfill/pause', paused ? ' muted' : '')}${btn('backfill/resume')}${btn('backfill/tune')}${btn('routing')}${killed ? btn('unkill') : btn('kill')}${btn('phase/advance')}${btn('cutover')}${btn('rollback')}</div>${
    canAct
      ? html`<p class="muted small">Each action asks for confirmation and shows the gates first; every change is audited with your token's name.</p>`
      : html`<p class="warn small">Token ${p.name} is a viewer: it reads only (actions need an operator token).</p>`
  }`;
}

const field = (label: string, input: Html, hint = '') =>
  html`<label>${label}<br>${input}${hint ? html` <span class="muted small">${hint}</span>` : ''}</label>`;

/**
 * The dialog body of `action`: title, what it does, the state now, the fields, the gates of the phase it is
 * about (advance: `to`, default the next phase; cutover: new_primary; else the next phase, for context) and the
 * confirm and cancel buttons. The form posts to `/ui/actions/<action>` into the dialog.
 */
export async function confirmDialog(
  ctx: ServerContext,
  action: UiAction,
  s: MigrationStatus,
  query: { to?: string },
): Promise<Html> {
  const t = TITLES[action];
  const phase = s.phase;
  const next = nextPhase(phase);
  let to: Phase | null = next;
  if (action === 'phase/advance' && query.to && (PHASES as readonly string[]).includes(query.to))
    to = query.to as Phase;
  if (action === 'cutover') to = 'new_primary';
  let gates: GateResult[] | null = null;
  let gateError: string | null = null;
  if (to)
    try {
      gates = await checkGates(ctx.m, to);
    } catch (e) {
      gateError = errorLine(e);
    }
  const r = s.routing;
  const control = s.entities[0]?.backfill.control;
  const now = html`<p class="small">Now: phase <b>${phase}</b> · canary <b>${r.canaryPercent} %</b> · shadow <b>${r.shadowPercent} %</b> · kill switch <b>${r.killed ? 'on' : 'off'}</b> · guard <b>${r.guard.state}</b>${
    control
      ? html` · backfill ${control.paused ? 'paused' : 'running'}, rate ${control.maxRowsPerSecond ?? 'not tuned'}, chunk ${control.chunkSeconds ?? 'not tuned'}`
      : ''
  }</p>`;
  let fields: Html = html``;
  switch (action) {
    case 'backfill/tune':
      fields = html`${field('Max rows per second', html`<input name="maxRowsPerSecond" id="f-maxRowsPerSecond" inputmode="decimal" placeholder="unchanged" size="12">`, 'a number > 0, or none')}${field('Chunk seconds', html`<input name="chunkSeconds" id="f-chunkSeconds" inputmode="decimal" placeholder="unchanged" size="12">`, '0 < s ≤ 60, or none')}`;
      break;
    case 'routing':
      fields = html`${field('Shadow percent', html`<input name="shadowPercent" id="f-shadowPercent" inputmode="decimal" placeholder="${r.shadowPercent}" size="8">`, '0–100')}${field('Canary percent', html`<input name="canaryPercent" id="f-canaryPercent" inputmode="decimal" placeholder="${r.canaryPercent}" size="8">`, '0–100')}`;
      break;
    case 'phase/advance':
      fields = html`${field(
        'To',
        html`<select name="to" id="f-to" hx-get="/ui/confirm/phase/advance" hx-trigger="change" hx-target="#confirm-body" hx-include="this">${PHASES.filter((p) => PHASES.indexOf(p) > PHASES.indexOf(phase)).map((p) => html`<option value="${p}" ${p === to ? html`selected` : ''}>${p}</option>`)}</select>`,
      )}${field('Force', html`<input type="checkbox" name="force" id="f-force" value="true">`, 'move even when gates fail (audited)')}`;
      break;
    case 'cutover':
      fields = field(
        'Force',
        html`<input type="checkbox" name="force" id="f-force" value="true">`,
        'cut over even when gates fail (audited)',
      );
      break;
    case 'rollback':
      fields = html`${field('Reconciled', html`<input type="checkbox" name="reconciled" id="f-reconciled" value="true">`, 'from legacy_read_only: legacy was reconciled from new first')}${field('Verify after', html`<input type="checkbox" name="verify" id="f-verify" value="true" checked>`, 'verify after the flip back')}`;
      break;
  }
  const failing = gates?.filter((g) => !g.pass).length ?? 0;
  const gatesBlock = to
    ? html`<h3 class="small">Gates of <b>${to}</b>${gates ? (failing ? html` — <span class="fail">${failing} failing</span>` : html` — <span class="pass">all pass</span>`) : ''}</h3>${
        gates ? gateTable(gates) : html`<p class="panel-error small">the gates cannot be read: ${gateError}</p>`
      }`
    : html`<p class="muted small">No phase ahead: no gates.</p>`;
  return html`<h2 id="confirm-title">${t.title}</h2><p>${t.what}</p>${now}<form hx-post="/ui/actions/${action}" hx-target="#confirm-body" id="confirm-form">${fields}${gatesBlock}<div class="buttons"><button type="button" data-close id="confirm-cancel">Cancel</button><button type="submit" class="${t.danger ? 'danger' : 'primary'}" id="confirm-ok">Confirm: ${t.title.toLowerCase()}</button></div></form>`;
}

/** A form field as a number, `null` for `none`, or absent when empty. Throws TANDEM_ERR_REQUEST_INVALID. */
function numberField(form: Record<string, unknown>, name: string): number | null | undefined {
  const v = form[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string')
    throw new TandemError('REQUEST_INVALID', `${name} must be a single text field`, {
      problems: [{ field: name, message: 'not text' }],
    });
  const s = v.trim();
  if (s === '') return undefined;
  if (s.toLowerCase() === 'none') return null;
  const n = Number(s);
  if (!Number.isFinite(n))
    throw new TandemError('REQUEST_INVALID', `${name} must be a number or none`, {
      problems: [{ field: name, message: 'not a number' }],
    });
  return n;
}

const checked = (form: Record<string, unknown>, name: string) => form[name] === 'true' || form[name] === 'on';

/**
 * The JSON body of the API action `action` from the dialog's form fields (all text): empty fields are left out,
 * numbers parsed, checkboxes become booleans. Throws TANDEM_ERR_REQUEST_INVALID for a field that is not a number.
 */
export function bodyOf(action: UiAction, form: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const put = (k: string, v: unknown) => {
    if (v !== undefined) out[k] = v;
  };
  switch (action) {
    case 'backfill/tune':
      put('maxRowsPerSecond', numberField(form, 'maxRowsPerSecond'));
      put('chunkSeconds', numberField(form, 'chunkSeconds'));
      break;
    case 'routing':
      for (const k of ['shadowPercent', 'canaryPercent']) {
        const v = form[k];
        if (typeof v === 'string' && v.trim() !== '') out[k] = v.trim();
      }
      break;
    case 'phase/advance':
      if (typeof form.to === 'string' && form.to) out.to = form.to;
      if (checked(form, 'force')) out.force = true;
      break;
    case 'cutover':
      if (checked(form, 'force')) out.force = true;
      break;
    case 'rollback':
      if (checked(form, 'reconciled')) out.reconciled = true;
      out.verify = checked(form, 'verify');
      break;
  }
  return out;
}

const ctl = (c: unknown) => {
  const o = (c ?? {}) as Record<string, unknown>;
  return `${o.paused ? 'paused' : 'running'}, rate ${o.maxRowsPerSecond ?? 'not tuned'}, chunk ${o.chunkSeconds ?? 'not tuned'}`;
};

/** One line saying what an action did, from its API answer. */
export function resultLine(action: UiAction, r: unknown): string {
  const o = (r ?? {}) as Record<string, unknown>;
  switch (action) {
    case 'backfill/pause':
    case 'backfill/resume':
    case 'backfill/tune':
      return `backfill: ${ctl(o.from)} → ${ctl(o.to)}`;
    case 'routing': {
      const parts: string[] = [];
      const c = o.canary as { from: number; to: number; clearedTrip?: string | null } | undefined;
      const sh = o.shadow as { from: number; to: number } | undefined;
      if (c) parts.push(`canary ${c.from} % → ${c.to} %${c.clearedTrip ? ' (guard trip cleared)' : ''}`);
      if (sh) parts.push(`shadow ${sh.from} % → ${sh.to} %`);
      return parts.join('; ') || 'nothing changed';
    }
    case 'kill':
    case 'unkill':
      return `kill switch ${o.from ? 'on' : 'off'} → ${o.to ? 'on' : 'off'}`;
    default:
      return `phase ${String(o.from ?? '?')} → ${String(o.to ?? '?')}${o.forced ? ' (forced past failing gates)' : ''}${o.moved === false ? ' (did not move)' : ''}`;
  }
}

/** The dialog body after an action: what it did, and the gates it reported (phase actions). */
export function resultView(action: UiAction, r: unknown): Html {
  const gates = (r as { gates?: GateResult[] } | null)?.gates;
  return html`<h2 id="confirm-title">${TITLES[action].title}: done</h2><p class="result ok" id="action-result">${resultLine(action, r)}</p>${
    Array.isArray(gates) && gates.length ? gateTable(gates) : ''
  }<div class="buttons"><button type="button" data-close class="primary" id="confirm-close">Close</button></div>`;
}

/** The dialog body after a refused or failed action: its code and message (the API's coded error). */
export function errorView(action: UiAction, e: unknown): Html {
  const { error } = errorBody(e);
  const failing = (error.detail as { gates?: GateResult[] }).gates;
  return html`<h2 id="confirm-title">${TITLES[action].title}: refused</h2><p class="result err" id="action-error"><code>${error.code}</code> ${error.message}</p>${
    Array.isArray(failing) && failing.length ? gateTable(failing) : ''
  }<div class="buttons"><button type="button" data-close id="confirm-close">Close</button></div>`;
}

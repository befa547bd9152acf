/**
 * The dashboard's page shell (`GET /`): public, and holds no data — no figure, no name of a store, no token. It
 * loads the vendored htmx and the page's script from this origin; the panels arrive as fragments under `/ui`
 * once the browser has a token (src/server/dashboard/assets.ts).
 */
import { DASHBOARD_CSS } from './assets.js';
import { type Html, html, raw } from './html.js';

/**
 * htmx's settings (read from the `htmx-config` meta tag): no inline indicator style and no eval (the CSP allows
 * neither), no history snapshots (they would keep fragments in localStorage), requests to this origin only, and
 * every answer swapped but a 204 (errors come as fragments; the script sends a 401 to the login).
 */
const HTMX_CONFIG = JSON.stringify({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
  historyEnabled: false,
  historyCacheSize: 0,
  refreshOnHistoryMiss: false,
  selfRequestsOnly: true,
  defaultSwapStyle: 'innerHTML',
  responseHandling: [
    { code: '204', swap: false },
    { code: '...', swap: true },
  ],
});

/** The page: login form, header, the live region (refreshed every 2 s), the actions bar and the dialog. */
export function shellPage(): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="htmx-config" content="${HTMX_CONFIG}">
<title>Tandem</title>
<style>${raw(DASHBOARD_CSS)}</style>
<script src="/assets/htmx.js" defer></script>
<script src="/assets/dashboard.js" defer></script>
</head>
<body>
<div id="login" hidden>
  <section class="card">
    <h2>Tandem dashboard</h2>
    <p class="muted small">Paste an API token (a <code>server.tokens</code> entry). It stays in this tab's session storage only and goes with every request as a bearer header.</p>
    <form id="login-form" autocomplete="off">
      <label for="token">Token</label>
      <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required>
      <p id="login-error" class="fail small" role="alert"></p>
      <div class="buttons"><button class="primary" type="submit" id="login-submit">Sign in</button></div>
    </form>
  </section>
</div>
<div id="app" hidden>
  <header>
    <h1>Tandem</h1>
    <span id="who" hx-get="/ui/whoami" hx-trigger="tandem:refresh from:body" class="muted small"></span>
    <span id="conn" class="fail small" role="status"></span>
    <span class="sp"></span>
    <button id="logout" type="button">Sign out</button>
  </header>
  <main>
    <section class="card" id="controls" hx-get="/ui/controls" hx-trigger="tandem:refresh from:body, tandem:changed from:body, every 5s"></section>
    <div id="live" hx-get="/ui/live" hx-trigger="tandem:refresh from:body, tandem:changed from:body, every 2s"></div>
  </main>
</div>
<dialog id="confirm" aria-labelledby="confirm-title"><div id="confirm-body"></div></dialog>
</body>
</html>
`;
}

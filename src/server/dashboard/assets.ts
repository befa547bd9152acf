/**
 * The dashboard's static parts: the vendored htmx (vendor/htmx.min.js at the package root, reached from src/ under
 * tsx and from dist/ alike: both are three levels below the root), the page's own script (login, bearer header,
 * dialogs), its CSS (inline in the page, allowed by its hash) and the Content-Security-Policy that allows nothing
 * but this origin.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where the vendored htmx lives (vendor/README.md names its version and license). */
export const HTMX_PATH = fileURLToPath(new URL('../../../vendor/htmx.min.js', import.meta.url));

let htmxText: string | null = null;

/** The vendored htmx, read once. Throws when the file is missing (a broken install). */
export function htmxSource(): string {
  htmxText ??= readFileSync(HTMX_PATH, 'utf8');
  return htmxText;
}

/**
 * The page's script, served as `/assets/dashboard.js` (the CSP allows no inline script). It asks for the token
 * once and keeps it in `sessionStorage` (gone when the tab closes; never a cookie), adds
 * `Authorization: Bearer …` to every htmx request, shows the login again on a 401, swaps error answers (4xx/5xx
 * fragments) like any other, and opens the confirmation dialog when its body arrives.
 */
export const DASHBOARD_JS: string = `(function () {
  'use strict';
  var KEY = 'tandem.token';
  var $ = function (id) { return document.getElementById(id); };
  var login = $('login'), app = $('app'), dlg = $('confirm'), body = $('confirm-body');
  function token() { try { return sessionStorage.getItem(KEY); } catch (e) { return null; } }
  function showLogin(msg) {
    try { sessionStorage.removeItem(KEY); } catch (e) {}
    if (dlg.open) dlg.close();
    app.hidden = true; login.hidden = false;
    $('login-error').textContent = msg || '';
    $('token').focus();
  }
  function showApp() {
    login.hidden = true; app.hidden = false;
    htmx.trigger(document.body, 'tandem:refresh');
  }
  $('login-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var t = $('token').value.trim();
    if (!t) return;
    try { sessionStorage.setItem(KEY, t); } catch (err) {}
    $('token').value = '';
    showApp();
  });
  $('logout').addEventListener('click', function () { showLogin('signed out'); });
  document.body.addEventListener('htmx:configRequest', function (e) {
    var t = token();
    if (t) e.detail.headers['Authorization'] = 'Bearer ' + t;
  });
  document.body.addEventListener('htmx:beforeRequest', function (e) { if (!token()) e.preventDefault(); });
  document.body.addEventListener('htmx:beforeSwap', function (e) {
    var s = e.detail.xhr.status;
    if (s === 401) { e.detail.shouldSwap = false; showLogin('that token was not accepted (401)'); return; }
    if (s >= 400) { e.detail.shouldSwap = true; e.detail.isError = false; }
  });
  document.body.addEventListener('htmx:sendError', function () { $('conn').textContent = 'server unreachable'; });
  document.body.addEventListener('htmx:afterRequest', function (e) {
    if (e.detail.successful || (e.detail.xhr && e.detail.xhr.status >= 400)) $('conn').textContent = '';
  });
  document.body.addEventListener('htmx:afterSwap', function (e) {
    if (e.detail.target === body && !dlg.open) dlg.showModal();
  });
  document.body.addEventListener('click', function (e) {
    if (e.target.closest && e.target.closest('[data-close]')) { e.preventDefault(); dlg.close(); }
  });
  dlg.addEventListener('close', function () { body.innerHTML = ''; });
  if (token()) showApp(); else showLogin();
})();
`;

/** The page's CSS (light and dark, laptop and phone: one column below 760 px). */
export const DASHBOARD_CSS: string = `
:root{--bg:#f6f7f9;--fg:#1d2330;--muted:#5d6678;--card:#fff;--line:#dde1e8;--ok:#1f8a4c;--bad:#c2372f;--warn:#b7791f;--accent:#2f5fd0;--accent2:#7a4fd0}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--fg:#e6e8ec;--muted:#9aa3b2;--card:#1d2128;--line:#323844;--ok:#3cb371;--bad:#ef5f55;--warn:#e0a34a;--accent:#6f96f0;--accent2:#a98af0}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.6rem 1rem;border-bottom:1px solid var(--line);background:var(--card);position:sticky;top:0;z-index:2}
header h1{font-size:1.1rem;margin:0}
header .sp{flex:1}
main{padding:1rem;max-width:1400px;margin:0 auto}
.grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:1rem}
.wide{grid-column:1/-1}
@media (max-width:760px){.grid{grid-template-columns:minmax(0,1fr)}main{padding:.5rem}header{padding:.5rem}}
section.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.75rem 1rem;min-width:0}
section.card h2{font-size:1rem;margin:0 0 .5rem}
.muted{color:var(--muted)}
.small{font-size:.85rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.25rem .4rem;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:var(--ok);font-weight:600}
.fail{color:var(--bad);font-weight:600}
.warn{color:var(--warn);font-weight:600}
.pill{display:inline-block;padding:.05rem .55rem;border-radius:999px;border:1px solid var(--line);font-size:.85rem}
.pill.green{border-color:var(--ok);color:var(--ok)}
.pill.tripped,.pill.killed{border-color:var(--bad);color:var(--bad)}
.pill.insufficient,.pill.paused{border-color:var(--warn);color:var(--warn)}
ol.road{list-style:none;display:flex;flex-wrap:wrap;gap:.35rem;padding:0;margin:.25rem 0 .75rem}
ol.road li{padding:.2rem .6rem;border-radius:6px;border:1px solid var(--line);font-size:.85rem}
ol.road li.done{color:var(--muted);text-decoration:line-through}
ol.road li.current{background:var(--accent);border-color:var(--accent);color:#fff;font-weight:600}
ol.road li.next{border-color:var(--accent);color:var(--accent)}
.entity{padding:.4rem 0;border-bottom:1px solid var(--line)}
.entity:last-child{border-bottom:0}
.entity .top{display:flex;flex-wrap:wrap;gap:.25rem .75rem;align-items:baseline}
.entity .name{font-weight:600}
progress{width:100%;height:14px;accent-color:var(--accent)}
.figs{display:flex;flex-wrap:wrap;gap:.2rem 1rem;font-size:.85rem;color:var(--muted)}
.figs b{color:var(--fg);font-weight:600;font-variant-numeric:tabular-nums}
.charts{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:.75rem}
@media (max-width:760px){.charts{grid-template-columns:minmax(0,1fr)}}
.chart h3{font-size:.85rem;margin:.25rem 0;font-weight:600}
svg.spark{width:100%;height:auto;display:block}
svg.bar{width:100%;height:34px;display:block;margin:.35rem 0}
svg .bg{fill:var(--bg)}
svg .line{fill:none;stroke:var(--accent);stroke-width:1.5}
svg .pt{fill:var(--accent)}
svg .over{fill:var(--bad)}
svg .thr{stroke:var(--bad);stroke-width:1;stroke-dasharray:4 3}
svg .tick{stroke:var(--line);stroke-width:1;vector-effect:non-scaling-stroke}
svg .none{fill:var(--muted);font-size:10px;text-anchor:middle}
svg .canary{fill:var(--accent)}
svg .shadow{fill:var(--accent2)}
.actions{display:flex;flex-wrap:wrap;gap:.5rem}
button,input[type=submit]{font:inherit;padding:.45rem .8rem;border-radius:6px;border:1px solid var(--line);background:var(--card);color:var(--fg);cursor:pointer;min-height:2.4rem}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
button.danger{background:var(--bad);border-color:var(--bad);color:#fff}
button:disabled{opacity:.5;cursor:not-allowed}
input,select{font:inherit;padding:.35rem .5rem;border-radius:6px;border:1px solid var(--line);background:var(--bg);color:var(--fg);min-height:2.2rem}
label{display:block;margin:.35rem 0}
dialog{border:1px solid var(--line);border-radius:10px;background:var(--card);color:var(--fg);width:min(720px,94vw);max-height:90vh;overflow:auto;padding:1rem}
dialog::backdrop{background:rgba(0,0,0,.45)}
dialog h2{margin-top:0;font-size:1.1rem}
.buttons{display:flex;gap:.5rem;justify-content:flex-end;margin-top:.75rem;flex-wrap:wrap}
.result.ok{border-left:4px solid var(--ok);padding:.4rem .6rem}
.result.err,.panel-error{border-left:4px solid var(--bad);padding:.4rem .6rem}
#login{max-width:420px;margin:12vh auto;padding:1rem}
#login input{width:100%}
.banner{padding:.5rem .75rem;border-radius:6px;margin:0 0 1rem;border:1px solid var(--bad);color:var(--bad);font-weight:600}
code{font-size:.85em;word-break:break-all}
@media (max-width:600px){table.stack thead{display:none}table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:100%}table.stack tr{border-bottom:1px solid var(--line);padding:.3rem 0}table.stack td{border:0;padding:.05rem .2rem;text-align:left}table.stack td::before{content:attr(data-label);display:inline-block;min-width:7.5rem;color:var(--muted);font-weight:600;font-size:.8rem}table.stack td:empty{display:none}}
`;

/** `sha256-…` of the inline CSS, for `style-src`. */
export const CSS_HASH = `'sha256-${createHash('sha256').update(DASHBOARD_CSS, 'utf8').digest('base64')}'`;

/**
 * The Content-Security-Policy of every dashboard answer: scripts, connections, images and fonts from this origin
 * only, the one inline style block by its hash, no plugins, no framing, no `<base>`, forms to this origin only.
 */
export const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  `style-src 'self' ${CSS_HASH}`,
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

/** Headers of every dashboard answer (CSP, no sniffing, no referrer, never cached). */
export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-store',
};

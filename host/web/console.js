// The operator console: the admin token (sessionStorage, sent only as a bearer header to
// /admin/*), the server's counters, the games' versions with activation, quarantine and
// rollback, module uploads, and rollouts followed live. Rooms are in console-rooms.js.
//
// Every answer of the admin API is shown as text; refusals ({code, message}) in the message
// area.

import { el, fill, patch, pretty, clock } from './dom.js';
import { say } from './messages.js';
import { createRoomsPanel } from './console-rooms.js';
import { exactSeed } from './net.js';

const TOKEN = 'tabula.admin';
const $ = (id) => document.getElementById(id);

/** A refusal of the admin API. */
class AdminError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN) || '';
}

/** Calls the admin API: `json` is sent as a JSON body, or `body` with `type`. */
async function api(method, path, { json, body, type } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  let payload;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(json);
  } else if (body !== undefined) {
    headers['Content-Type'] = type;
    payload = body;
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    throw new AdminError(0, 'network', 'The server cannot be reached: ' + (e.message || e));
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text, exactSeed) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const code = data && typeof data.code === 'string' ? data.code : `http_${res.status}`;
    const message = data && typeof data.message === 'string' ? data.message : text.slice(0, 300) || res.statusText;
    throw new AdminError(res.status, code, message);
  }
  return data;
}

function showError(e) {
  if (e instanceof AdminError) {
    const hint = e.code === 'unauthorized' ? ' Check the admin token.' : '';
    say(`${e.message} (${e.code})${hint}`, 'error');
  } else {
    say(String(e && e.message ? e.message : e), 'error');
  }
}

/** Asks for a reason in the dialog; resolves with the text, or null when cancelled. */
function ask(title) {
  const dialog = $('ask');
  $('ask-title').textContent = title;
  $('ask-reason').value = '';
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok' ? $('ask-reason').value.trim() : null), { once: true });
    dialog.showModal();
    $('ask-reason').focus();
  });
}
$('ask-cancel').addEventListener('click', () => $('ask').close('cancel'));

const admin = { api, showError, ask, games: [] };

// --- token ------------------------------------------------------------------------------------

let polling = null;
$('admin-token').value = token();
$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const value = $('admin-token').value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN, value);
  say('Token saved for this tab.', 'ok');
  start();
});
$('admin-forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN);
  $('admin-token').value = '';
  stop();
  say('Token forgotten.', 'info');
});

function start() {
  stop();
  lastReading = null;
  refreshCounters();
  refreshModules();
  rooms.load(true);
  refreshRollouts();
  polling = [setInterval(refreshCounters, 2000), setInterval(refreshModules, 5000)];
}

function stop() {
  for (const id of polling || []) clearInterval(id);
  polling = null;
}

/** A refusal that means the console cannot work: polling stops until a new token is saved. */
function fatal(e) {
  if (e instanceof AdminError && (e.code === 'unauthorized' || e.code === 'admin_off')) {
    stop();
    showError(e);
    return true;
  }
  return false;
}

// --- counters ---------------------------------------------------------------------------------

let lastReading = null;
let movesPerSecond = null;

async function refreshCounters() {
  let c;
  try {
    c = await api('GET', '/admin/counters');
  } catch (e) {
    if (!fatal(e)) $('counters-note').textContent = `Counters unavailable: ${e.message}`;
    return;
  }
  if (!c || typeof c !== 'object') return;
  if (lastReading && typeof c.at === 'number' && c.at > lastReading.at) {
    movesPerSecond = ((c.moves - lastReading.moves) * 1000) / (c.at - lastReading.at);
  }
  lastReading = c;
  const items = [
    ['moves/s', movesPerSecond === null ? '…' : movesPerSecond.toFixed(1), 'moves-per-second'],
    ['moves since start', c.moves, 'moves'],
    ['connections', c.connections, 'connections'],
    ['rooms', c.rooms, 'rooms'],
    ['module calls', c.module_calls, 'module-calls'],
    ['module failures', c.module_failures, 'module-failures'],
    ['log backlog', c.log_backlog, 'log-backlog'],
  ];
  fill($('counters'), items.map(([label, value, test]) =>
    el('div', {}, el('dt', { text: label }), el('dd', { test, text: value === undefined || value === null ? '–' : String(value) }))));
  $('counters-note').textContent = `Read at ${clock(c.at)}; every 2 s.`;
}

// --- games and versions -----------------------------------------------------------------------

// What the operator chose in each version's activation controls, kept across refreshes.
const choices = new Map(); // "game@version" -> {policy, percent, shadow}

function choice(game, version) {
  const key = `${game}@${version}`;
  if (!choices.has(key)) choices.set(key, { policy: 'new-rooms', percent: 10, shadow: false });
  return choices.get(key);
}

function policyOf(c) {
  return c.policy === 'canary' ? `canary:${Math.min(100, Math.max(1, Math.round(Number(c.percent) || 10)))}` : c.policy;
}

async function refreshModules() {
  let data;
  try {
    data = await api('GET', '/admin/modules');
  } catch (e) {
    if (!fatal(e)) showError(e);
    return;
  }
  admin.games = Array.isArray(data && data.games) ? data.games : [];
  renderModules();
  rooms.setGames(admin.games.map((g) => g.name));
}
$('modules-refresh').addEventListener('click', refreshModules);

function renderModules() {
  const root = $('modules');
  const active = document.activeElement;
  const key = active && root.contains(active) ? active.dataset.key : null;
  if (!admin.games.length) {
    patch(root, '[]', () => el('p', { class: 'muted', text: 'No games installed (or not loaded yet).' }));
    return;
  }
  // Rebuilt only when the server's answer changes (the operator's choices live in `choices`).
  const rebuilt = patch(root, JSON.stringify(admin.games), () => admin.games.map((g) => el('section', { class: 'game-block', test: 'module-game', data: { game: g.name } },
    el('h3', {}, el('span', { text: g.name }), el('span', { class: 'badge ok', text: `active ${g.active}` }),
      el('button', { type: 'button', class: 'small', test: 'rollback', data: { key: `rollback-${g.name}` }, text: 'Roll back', attrs: { 'aria-label': `Roll back ${g.name} to the version active before` }, on: { click: () => rollback(g.name) } })),
    el('div', { class: 'scroll-x' }, el('table', { class: 'grid' },
      el('thead', {}, el('tr', {}, ['Version', 'Digest', 'Contract', 'Active', 'Rooms', 'Calls', 'Failures', 'Failure rate', 'Quarantined', 'Actions'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, (g.versions || []).map((v) => versionRow(g, v))))))));
  if (rebuilt && key) {
    const again = root.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

function versionRow(g, v) {
  const c = choice(g.name, v.version);
  const id = `${g.name}@${v.version}`;
  const rate = v.calls ? `${((100 * v.failures) / v.calls).toFixed(2)} %` : '–';
  const percent = el('input', {
    type: 'number', min: 1, max: 100, value: String(c.percent), test: 'canary-percent', hidden: c.policy !== 'canary',
    data: { key: `percent-${id}` }, attrs: { 'aria-label': `Canary percent for ${id}` },
    on: { input: (ev) => { c.percent = ev.target.value; } },
  });
  const policy = el('select', {
    test: 'policy', data: { key: `policy-${id}` }, attrs: { 'aria-label': `Policy for ${id}` },
    on: { change: (ev) => { c.policy = ev.target.value; percent.hidden = c.policy !== 'canary'; } },
  }, ['new-rooms', 'migrate', 'canary'].map((p) => el('option', { value: p, text: p === 'canary' ? 'canary:N' : p, selected: p === c.policy })));
  const shadow = el('label', { class: 'check' },
    el('input', { type: 'checkbox', test: 'shadow', checked: c.shadow, data: { key: `shadow-${id}` }, on: { change: (ev) => { c.shadow = ev.target.checked; } } }),
    el('span', { text: 'shadow' }));
  return el('tr', { test: 'module-version', data: { game: g.name, version: v.version } },
    el('th', { scope: 'row', text: v.version }),
    el('td', {}, el('code', { text: String(v.digest || '').slice(0, 12), attrs: { title: v.digest || '' } })),
    el('td', { text: v.contract || '' }),
    el('td', { text: v.active ? 'yes' : '' }),
    el('td', { class: 'num', text: String(v.rooms ?? '') }),
    el('td', { class: 'num', text: String(v.calls ?? '') }),
    el('td', { class: 'num', text: String(v.failures ?? '') }),
    el('td', { class: 'num', test: 'failure-rate', text: rate }),
    el('td', { text: v.quarantined || '' }),
    el('td', {}, el('div', { class: 'activate' }, policy, percent, shadow,
      el('button', { type: 'button', class: 'small primary', test: 'activate', data: { key: `activate-${id}` }, text: 'Activate', attrs: { 'aria-label': `Activate ${id}` }, on: { click: () => activate(g.name, v.version, c) } }),
      el('button', { type: 'button', class: 'small danger', test: 'quarantine', data: { key: `quarantine-${id}` }, text: 'Quarantine', disabled: !!v.quarantined, attrs: { 'aria-label': `Quarantine ${id}` }, on: { click: () => quarantine(g.name, v.version) } }))));
}

async function activate(game, version, c) {
  const policy = policyOf(c);
  try {
    const status = await api('POST', `/admin/modules/${encodeURIComponent(game)}/activate`, { json: { version, policy, shadow: !!c.shadow } });
    say(`${game} ${version} activated (${policy}${c.shadow ? ', shadow' : ''}).`, 'ok');
    follow(status);
  } catch (e) {
    showError(e);
  }
  refreshModules();
}

async function rollback(game) {
  try {
    const status = await api('POST', `/admin/modules/${encodeURIComponent(game)}/rollback`);
    say(`${game}: rolling back to ${status && status.version}.`, 'ok');
    follow(status);
  } catch (e) {
    showError(e);
  }
  refreshModules();
}

async function quarantine(game, version) {
  const reason = await ask(`Quarantine ${game} ${version}`);
  if (reason === null) return;
  try {
    const status = await api('POST', `/admin/modules/${encodeURIComponent(game)}/quarantine`, { json: { version, reason: reason || undefined } });
    say(`${game} ${version} quarantined.`, 'ok');
    follow(status);
  } catch (e) {
    showError(e);
  }
  refreshModules();
}

// --- upload -----------------------------------------------------------------------------------

$('upload-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const file = $('upload-file').files[0];
  if (!file) {
    say('Choose a .wasm file first.', 'error');
    return;
  }
  const chosen = $('upload-policy').value;
  const policy = chosen ? policyOf({ policy: chosen, percent: $('upload-percent').value }) : '';
  const query = policy ? `?activate=${encodeURIComponent(policy)}` : '';
  const button = $('upload-submit');
  button.disabled = true;
  button.textContent = 'Checking (smoke run)…';
  const out = $('upload-result');
  try {
    const res = await api('POST', `/admin/modules${query}`, { body: file, type: 'application/wasm' });
    out.hidden = false;
    out.textContent = pretty(res);
    say(res && res.installed === false ? `${res.name} ${res.version} was installed already.` : `Installed ${res.name} ${res.version}.`, 'ok');
    if (res && res.rollout) follow(res.rollout);
    refreshModules();
  } catch (e) {
    out.hidden = false;
    out.textContent = `${e.code || 'error'}: ${e.message}`;
    showError(e);
  } finally {
    button.disabled = false;
    button.textContent = 'Upload';
  }
});

// --- rollouts ---------------------------------------------------------------------------------

let followed = null; // {id, timer}

/** Shows a rollout's status and polls it every 500 ms while it runs or watches. */
function follow(status) {
  if (!status || typeof status !== 'object') return;
  if (followed) clearTimeout(followed.timer);
  followed = { id: status.id, timer: null };
  renderRollout(status);
  schedule(status);
}

function schedule(status) {
  if (!followed || followed.id !== status.id) return;
  if (status.state !== 'running' && status.state !== 'watching') {
    refreshModules();
    refreshRollouts();
    rooms.load(false);
    return;
  }
  if (status.id === undefined || status.id === null) return;
  followed.timer = setTimeout(async () => {
    try {
      const next = await api('GET', `/admin/rollouts/${encodeURIComponent(status.id)}`);
      if (!followed || followed.id !== status.id) return;
      renderRollout(next);
      schedule(next);
    } catch (e) {
      showError(e);
    }
  }, 500);
}

function renderRollout(s) {
  const pinned = Array.isArray(s.pinned) ? s.pinned : [];
  const done = (s.migrated || 0) + (s.unchanged || 0) + pinned.length + (s.gone || 0);
  const total = s.rooms || 0;
  const bar = el('progress', { test: 'rollout-progress', max: Math.max(total, 1), value: total ? done : 1, attrs: { 'aria-label': 'Rollout progress' } });
  fill($('rollout'),
    el('p', {}, el('strong', { text: `#${s.id} ${s.game} ${s.version}` }), ' ',
      el('span', { class: 'muted', text: `policy ${s.policy}${s.shadow ? ', shadow replay' : ''}` }), ' ',
      el('span', { class: ['badge', stateClass(s.state)], test: 'rollout-state', text: s.state })),
    bar,
    el('p', { test: 'rollout-counts', text: `${done} of ${total} rooms: ${s.migrated || 0} moved, ${s.unchanged || 0} already on it, ${pinned.length} pinned, ${s.gone || 0} closed, ${s.pending || 0} pending.` }),
    s.reason ? el('p', { class: 'badge bad', text: s.reason }) : null,
    pinned.length ? el('details', { open: pinned.length <= 10 },
      el('summary', { text: `Pinned rooms (${pinned.length})` }),
      el('ul', { test: 'pinned' }, pinned.map((p) => el('li', {}, el('code', { text: p.room }), ' — ', p.reason)))) : null,
    el('p', { class: 'muted', text: `Started ${clock(s.started_at)}` + (s.finished_at ? `, ended ${clock(s.finished_at)}` : '') }));
}

function stateClass(state) {
  if (state === 'done') return 'ok';
  if (state === 'rolled_back' || state === 'stopped') return 'bad';
  return 'warn';
}

async function refreshRollouts() {
  try {
    const data = await api('GET', '/admin/rollouts');
    const list = Array.isArray(data && data.rollouts) ? data.rollouts.slice(-8).reverse() : [];
    fill($('rollouts'), list.map((s) => el('li', { class: 'card' },
      el('div', {}, el('strong', { text: `#${s.id} ${s.game} ${s.version}` }), ' ', el('span', { class: ['badge', stateClass(s.state)], text: s.state }), ' ',
        el('span', { class: 'muted', text: s.policy })),
      el('div', {}, el('button', { type: 'button', class: 'small', text: 'Show', on: { click: () => follow(s) } })))));
  } catch (e) {
    fatal(e);
  }
}

// --- rooms ------------------------------------------------------------------------------------

const rooms = createRoomsPanel(admin);

if (token()) start();
else say('Enter the admin token (TABULA_ADMIN__TOKEN) to begin.', 'info');

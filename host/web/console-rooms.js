// The operator console's rooms: every open room (private ones included) from GET /admin/rooms,
// filtered and paged, and one room looked into with GET /admin/rooms/{room}: seats, module
// digest, state hash, every viewer's view, the log's inputs, and pause / resume.

import { el, fill, option, pretty, clock } from './dom.js';
import { say } from './messages.js';

const PAGE = 25;

export function createRoomsPanel(admin) {
  const $ = (id) => document.getElementById(id);
  const page = { after: null, history: [], next: null };
  let shown = null; // the room looked into

  $('rooms-filter').addEventListener('submit', (ev) => {
    ev.preventDefault();
    load(true);
  });
  $('admin-rooms-next').addEventListener('click', () => {
    if (!page.next) return;
    page.history.push(page.after);
    page.after = page.next;
    load(false);
  });
  $('admin-rooms-prev').addEventListener('click', () => {
    if (!page.history.length) return;
    page.after = page.history.pop();
    load(false);
  });
  $('admin-room-refresh').addEventListener('click', () => shown && inspect(shown));
  $('admin-room-close').addEventListener('click', () => {
    shown = null;
    $('admin-room').hidden = true;
  });
  $('admin-pause').addEventListener('click', pause);
  $('admin-resume').addEventListener('click', resume);

  function setGames(names) {
    const select = $('rooms-game');
    const chosen = select.value;
    fill(select, option('', 'All'), names.map((n) => option(n, n, n === chosen)));
  }

  async function load(fromStart) {
    if (fromStart) {
      page.after = null;
      page.history = [];
    }
    const params = new URLSearchParams();
    for (const [key, id] of [['game', 'rooms-game'], ['version', 'rooms-version'], ['status', 'rooms-status'], ['phase', 'rooms-phase']]) {
      const value = $(id).value.trim();
      if (value) params.set(key, value);
    }
    params.set('limit', String(PAGE));
    if (page.after) params.set('after', page.after);
    let data;
    try {
      data = await admin.api('GET', `/admin/rooms?${params}`);
    } catch (e) {
      admin.showError(e);
      return;
    }
    page.next = (data && data.next) || null;
    const rooms = Array.isArray(data && data.rooms) ? data.rooms : [];
    fill($('admin-rooms-body'), rooms.length
      ? rooms.map(row)
      : el('tr', {}, el('td', { colSpan: 7, class: 'muted', text: 'No rooms match.' })));
    $('admin-rooms-prev').disabled = page.history.length === 0;
    $('admin-rooms-next').disabled = !page.next;
    $('admin-rooms-page').textContent = `Page ${page.history.length + 1}`;
  }

  function row(info) {
    const seats = info.seats || [];
    const taken = seats.filter((s) => s.kind !== 'open').length;
    return el('tr', { test: 'admin-room-row', data: { room: info.id } },
      el('td', {}, el('button', {
        type: 'button', class: 'link', test: 'inspect', text: info.id,
        attrs: { 'aria-label': `Look into room ${info.id}` }, on: { click: () => inspect(info.id) },
      }), info.private ? el('span', { class: 'badge', text: 'private' }) : null),
      el('td', { text: info.game }),
      el('td', { text: info.version + (info.active_version ? ` (active ${info.active_version})` : '') }),
      el('td', {}, el('span', { class: 'badge', data: { status: info.status }, text: info.status })),
      el('td', { text: info.phase || '' }),
      el('td', { class: 'num', text: `${taken}/${seats.length}` }),
      el('td', { class: 'num', text: String(info.seq ?? '') }));
  }

  async function inspect(id) {
    let data;
    try {
      data = await admin.api('GET', `/admin/rooms/${encodeURIComponent(id)}`);
    } catch (e) {
      admin.showError(e);
      return;
    }
    const first = shown !== id;
    shown = id;
    render(data || {});
    $('admin-room').hidden = false;
    if (first) $('admin-room-title').focus();
  }

  function render(data) {
    const info = data.info || {};
    $('admin-room-title').textContent = `Room ${info.id || shown}`;
    $('admin-pause').disabled = info.status !== 'running';
    $('admin-resume').disabled = info.status !== 'paused';
    const seats = (info.seats || []).map((s) => el('li', { test: 'admin-seat' },
      `seat ${s.seat}: `,
      s.kind === 'human' ? `${s.name || '?'} (${s.player || '?'})` : s.kind,
      s.kind === 'human' ? (s.connected ? ' · connected' : ' · away') : '',
      s.bot_playing ? ' · bot playing' : ''));
    const views = data.views && typeof data.views === 'object' ? Object.entries(data.views) : [];
    const log = data.log && typeof data.log === 'object' ? data.log : null;
    const inputs = log && Array.isArray(log.inputs) ? log.inputs : [];
    fill($('admin-room-body'),
      el('p', {},
        el('strong', { text: `${info.game} ${info.version}` }), ' ',
        el('span', { class: 'badge', data: { status: info.status }, text: info.status }), ' ',
        el('span', { class: 'muted', text: `phase ${info.phase} · seq ${info.seq} · ${info.spectators || 0} watching${info.private ? ' · private' : ''}` })),
      info.paused_reason ? el('p', { class: 'badge warn', test: 'paused-reason', text: info.paused_reason }) : null,
      el('p', {}, 'State hash ', el('code', { test: 'state-hash', text: data.state_hash || '–' }),
        ' · module digest ', el('code', { text: String(data.digest || '').slice(0, 16) }),
        ` · state ${data.state ? data.state.length / 2 : 0} bytes`),
      el('h3', { text: 'Seats' }),
      el('ul', { test: 'admin-seats' }, seats),
      el('h3', { text: 'Views' }),
      views.length
        ? views.map(([who, view]) => el('details', { test: 'room-view', data: { viewer: who } },
          el('summary', { text: who === 'spectator' ? 'Spectators' : `Seat ${who}` }),
          el('pre', { class: 'json', text: pretty(view) })))
        : el('p', { class: 'muted', text: 'No views: the game has not started.' }),
      el('h3', { text: `Log (${inputs.length} inputs)` }),
      log ? el('p', { class: 'muted', text: `${log.format || ''} · seed ${log.seed ?? '?'} · started ${clock(log.started_at)}` }) : el('p', { class: 'muted', text: 'No log (yet).' }),
      el('ol', { class: 'inputs', test: 'room-log', start: 1 }, inputs.map((i) => el('li', { text: describeInput(i) }))),
      el('details', {}, el('summary', { text: 'Room info (JSON)' }), el('pre', { class: 'json', text: pretty(info) })));
  }

  function describeInput(i) {
    if (!i || typeof i !== 'object') return String(i);
    const at = typeof i.at === 'number' ? ` at ${clock(i.at)}` : '';
    switch (i.type) {
      case 'act':
        return `act seat ${i.seat}: ${JSON.stringify(i.action)}${at}${i.request_id ? ` [${i.request_id}]` : ''}${i.state_hash ? ` → ${i.state_hash}` : ''}`;
      case 'timer':
        return `timer${at}${i.state_hash ? ` → ${i.state_hash}` : ''}`;
      case 'seat':
        return `seat ${i.seat}: ${JSON.stringify(i.change)}${at}`;
      case 'swap':
      case 'rollback':
        return `${i.type} to ${i.to ? `${i.to.name} ${i.to.version}` : '?'}${at}${i.state_hash ? ` → ${i.state_hash}` : ''}`;
      default:
        return JSON.stringify(i);
    }
  }

  async function pause() {
    if (!shown) return;
    const reason = await admin.ask(`Pause room ${shown}`);
    if (reason === null) return;
    try {
      await admin.api('POST', `/admin/rooms/${encodeURIComponent(shown)}/pause`, { json: reason ? { reason } : {} });
      say(`Room ${shown} paused.`, 'ok');
    } catch (e) {
      admin.showError(e);
    }
    inspect(shown);
    load(false);
  }

  async function resume() {
    if (!shown) return;
    try {
      await admin.api('POST', `/admin/rooms/${encodeURIComponent(shown)}/resume`);
      say(`Room ${shown} resumed.`, 'ok');
    } catch (e) {
      admin.showError(e);
    }
    inspect(shown);
    load(false);
  }

  return { load, setGames };
}

// The lobby: installed games and their versions, the live list of listed rooms (one
// `subscribe_rooms` page, pushed again as `lobby` whenever it changes), the new-room form and
// "Your games" (rooms where the player holds a seat).
//
// Owns the room-list subscription: subscribed while the lobby shows, unsubscribed when it
// hides. A server without subscriptions (`unknown_type`) is polled with list_rooms instead.

import { el, fill, option, patch, pretty } from './dom.js';
import { say, sayError, lost } from './messages.js';

const PAGE = 20;
const POLL_MS = 4000;

export function createLobby(app) {
  const $ = (id) => document.getElementById(id);
  const section = $('lobby');
  const page = { after: null, history: [], next: null, rooms: [], loaded: false };
  let subSeq = 0; // numbers subscriptions: pushes are ignored while a newer one is on its way
  let inFlight = false;
  let polling = null; // interval id when the server has no subscriptions
  let noSubscriptions = false;
  let visible = false;

  $('filter-game').addEventListener('change', () => restart());
  $('filter-status').addEventListener('change', () => restart());
  $('rooms-next').addEventListener('click', () => {
    if (!page.next) return;
    page.history.push(page.after);
    page.after = page.next;
    subscribe();
  });
  $('rooms-prev').addEventListener('click', () => {
    if (!page.history.length) return;
    page.after = page.history.pop();
    subscribe();
  });
  $('by-id-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const id = $('by-id').value.trim();
    if (id) enter('join', id);
  });
  $('watch-by-id').addEventListener('click', () => {
    const id = $('by-id').value.trim();
    if (id) enter('watch', id);
  });
  $('create-game').addEventListener('change', () => chooseGame(true));
  $('create-seats').addEventListener('input', () => {
    const seats = Number($('create-seats').value) || 1;
    $('create-bots').max = String(Math.max(0, seats - 1));
  });
  $('create-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    create();
  });

  function show() {
    const wasHidden = !visible;
    visible = true;
    section.hidden = false;
    // Coming back from a room (whose button had the focus) or from sign-in: start at the top.
    const focused = document.activeElement;
    if (wasHidden && (!focused || focused === document.body || !section.contains(focused))) $('lobby-title').focus();
    renderMyGames();
    refreshGames();
    subscribe();
  }

  function hide() {
    section.hidden = true;
    if (!visible) return;
    visible = false;
    stopPolling();
    subSeq++;
    if (!noSubscriptions && app.conn.isOpen) {
      app.conn.request({ type: 'unsubscribe_rooms' }).catch(() => {});
    }
  }

  function restart() {
    page.after = null;
    page.history = [];
    subscribe();
  }

  function filters() {
    const req = { limit: PAGE };
    const game = $('filter-game').value;
    const status = $('filter-status').value;
    if (game) req.game = game;
    if (status) req.status = status;
    if (page.after) req.after = page.after;
    return req;
  }

  async function subscribe() {
    if (!visible) return;
    if (noSubscriptions) {
      subSeq++;
      inFlight = false;
      if (!polling) polling = setInterval(poll, POLL_MS);
      return poll();
    }
    const mine = ++subSeq;
    inFlight = true;
    try {
      const reply = await app.conn.request({ type: 'subscribe_rooms', ...filters() });
      if (mine !== subSeq) return;
      showPage(reply);
    } catch (e) {
      if (mine !== subSeq) return;
      if (e.code === 'unknown_type') {
        noSubscriptions = true;
        subscribe();
      } else if (!lost(e)) {
        sayError(e);
      }
    } finally {
      if (mine === subSeq) inFlight = false;
    }
  }

  async function poll() {
    if (!visible) return;
    const mine = subSeq;
    try {
      const reply = await app.conn.request({ type: 'list_rooms', ...filters() });
      if (mine === subSeq && visible) showPage(reply);
    } catch (e) {
      if (!lost(e) && e.code !== 'rate_limited') sayError(e);
    }
  }

  function stopPolling() {
    clearInterval(polling);
    polling = null;
  }

  /** A `lobby` push: the subscribed page changed. */
  function onLobby(msg) {
    if (!visible || inFlight) return;
    showPage(msg);
  }

  function showPage(msg) {
    page.rooms = Array.isArray(msg.rooms) ? msg.rooms : [];
    page.next = msg.next || null;
    page.loaded = true;
    renderRooms();
  }

  function seatsTaken(info) {
    const seats = info.seats || [];
    return { taken: seats.filter((s) => s.kind !== 'open').length, total: seats.length };
  }

  function renderRooms() {
    const mineIds = page.rooms.filter((r) => app.myRooms.has(r.id)).map((r) => r.id);
    patch($('room-list'), JSON.stringify([page.rooms, mineIds]), roomRows);
    $('room-list-empty').hidden = !page.loaded || page.rooms.length > 0;
    $('rooms-prev').disabled = page.history.length === 0;
    $('rooms-next').disabled = !page.next;
    $('rooms-page').textContent = page.history.length || page.next ? `Page ${page.history.length + 1}` : '';
  }

  function roomRows() {
    return page.rooms.map((info) => {
      const { taken, total } = seatsTaken(info);
      const mine = app.myRooms.has(info.id);
      const open = taken < total && info.status === 'waiting';
      return el('li', { class: 'card room-row', test: 'room-row', data: { room: info.id, status: info.status } },
        el('div', { class: 'card-main' },
          el('strong', { class: 'game', test: 'room-row-game', text: info.game }), ' ',
          el('span', { class: 'version', test: 'room-row-version', text: `v${info.version}` }), ' ',
          el('span', { class: 'badge', data: { status: info.status }, test: 'room-row-status', text: info.status })),
        el('div', { class: 'card-meta muted' },
          el('span', { test: 'room-seats', text: `${taken}/${total} seats` }),
          info.spectators ? ` · ${info.spectators} watching` : '',
          info.phase && info.phase !== 'waiting' ? ` · ${info.phase}` : '',
          ' · ', el('code', { text: info.id })),
        el('div', { class: 'row card-actions' },
          el('button', {
            type: 'button', class: 'primary', test: 'join', text: mine ? 'Return' : 'Join', disabled: !mine && !open,
            attrs: { 'aria-label': `${mine ? 'Return to' : 'Join'} ${info.game} room ${info.id}` },
            on: { click: () => (mine ? resume(info.id) : enter('join', info.id)) },
          }),
          el('button', {
            type: 'button', test: 'watch', text: 'Watch',
            attrs: { 'aria-label': `Watch ${info.game} room ${info.id}` },
            on: { click: () => enter('watch', info.id) },
          })));
    });
  }

  async function enter(type, room) {
    try {
      const reply = await app.conn.request({ type, room });
      if (typeof reply.seat === 'number') app.noteSeat(reply.room, reply.seat);
      app.enterRoom(reply);
    } catch (e) {
      sayError(e);
    }
  }

  async function resume(room) {
    try {
      const reply = await app.conn.request({ type: 'resume', room, last_seq: 0 });
      if (typeof reply.seat === 'number') app.noteSeat(reply.room, reply.seat);
      app.enterRoom(reply);
    } catch (e) {
      if (e.code === 'unknown_room') app.forgetSeat(room);
      sayError(e);
    }
  }

  function renderMyGames() {
    const rooms = [...app.myRooms.values()];
    $('my-games-panel').hidden = rooms.length === 0;
    const signature = JSON.stringify(rooms.map(({ info, seat }) => [info.id, info.game, info.version, info.status, seat]));
    patch($('my-games'), signature, () => rooms.map(({ info, seat }) => el('li', { class: 'card', test: 'my-game', data: { room: info.id } },
      el('div', { class: 'card-main' },
        el('strong', { text: info.game }), ' ', el('span', { class: 'version', text: `v${info.version}` }), ' ',
        el('span', { class: 'badge', data: { status: info.status }, text: info.status })),
      el('div', { class: 'card-meta muted' }, `seat ${seat + 1} · `, el('code', { text: info.id })),
      el('div', { class: 'row card-actions' },
        el('button', { type: 'button', class: 'primary', test: 'resume-game', text: 'Return to the game', attrs: { 'aria-label': `Return to ${info.game} room ${info.id}` }, on: { click: () => resume(info.id) } })))));
  }

  async function refreshGames() {
    try {
      const reply = await app.conn.request({ type: 'list_games' });
      app.games = Array.isArray(reply.games) ? reply.games : [];
      renderGames();
    } catch (e) {
      if (!lost(e)) sayError(e);
    }
  }

  function renderGames() {
    const games = app.games;
    fill($('games'), games.map((g) => el('li', { class: 'card', test: 'game', data: { game: g.name } },
      el('div', { class: 'card-main' }, el('strong', { text: g.name }), ' ',
        el('span', { class: 'muted', text: g.min_seats === g.max_seats ? `${g.max_seats} seats` : `${g.min_seats}–${g.max_seats} seats` })),
      el('div', { class: 'row wrap versions' }, (g.versions || []).map((v) => el('span', {
        class: ['badge', v === g.active ? 'ok' : null], test: 'game-version', data: { version: v, active: String(v === g.active) },
        text: v === g.active ? `${v} (active)` : v,
      }))),
      el('div', { class: 'row card-actions' }, el('button', {
        type: 'button', class: 'small', test: 'new-room', text: 'New room', attrs: { 'aria-label': `New ${g.name} room` },
        on: { click: () => { $('create-game').value = g.name; chooseGame(true); $('create-game').focus(); } },
      })))));
    // The filter keeps its choice when it still exists.
    const filter = $('filter-game');
    const chosen = filter.value;
    fill(filter, option('', 'All games'), games.map((g) => option(g.name, g.name, g.name === chosen)));
    const select = $('create-game');
    const before = select.value;
    fill(select, games.map((g) => option(g.name, g.name, g.name === before)));
    if (games.length && !games.some((g) => g.name === before)) select.value = games[0].name;
    chooseGame(select.value !== before);
  }

  /** Fills the form's versions, seats and options for the chosen game (options and seats only
   * when `reset`, so that a refresh of the games does not undo what the player typed). */
  function chooseGame(reset) {
    const g = app.games.find((x) => x.name === $('create-game').value);
    const versionSelect = $('create-version');
    if (!g) {
      fill(versionSelect);
      return;
    }
    const keep = reset ? null : versionSelect.value;
    fill(versionSelect, (g.versions || []).map((v) => option(v, v === g.active ? `${v} (active)` : v, keep ? v === keep : v === g.active)));
    const seats = $('create-seats');
    seats.min = String(g.min_seats);
    seats.max = String(g.max_seats);
    $('create-bots').max = String(Math.max(0, g.max_seats - 1));
    if (reset || !seats.value) {
      seats.value = String(g.max_seats);
      $('create-options').value = g.default_options === null || g.default_options === undefined ? '' : pretty(g.default_options);
    }
  }

  async function create() {
    const game = $('create-game').value;
    if (!game) {
      say('Choose a game first.', 'error');
      return;
    }
    const req = { type: 'create_room', game };
    const version = $('create-version').value;
    if (version) req.version = version;
    const seats = $('create-seats').value.trim();
    if (seats) req.seats = Number(seats);
    const bots = $('create-bots').value.trim();
    if (bots) req.bots = Number(bots);
    if ($('create-private').checked) req.private = true;
    const deadline = $('create-deadline').value.trim();
    if (deadline) req.turn_deadline_ms = Math.round(Number(deadline) * 1000);
    const text = $('create-options').value.trim();
    if (text) {
      let options;
      try {
        options = JSON.parse(text);
      } catch (e) {
        say('The options are not valid JSON: ' + e.message, 'error');
        $('create-options').focus();
        return;
      }
      if (!options || typeof options !== 'object' || Array.isArray(options)) {
        say('The options must be a JSON object, like {"pace": "instant"}.', 'error');
        $('create-options').focus();
        return;
      }
      req.options = options;
    }
    for (const [key, label] of [['seats', 'Seats'], ['bots', 'Bots'], ['turn_deadline_ms', 'Turn time']]) {
      if (key in req && (!Number.isFinite(req[key]) || req[key] < 0 || !Number.isInteger(req[key]))) {
        say(`${label}: enter a whole number.`, 'error');
        return;
      }
    }
    $('create').disabled = true;
    try {
      const reply = await app.conn.request(req);
      if (typeof reply.seat === 'number') app.noteSeat(reply.room, reply.seat);
      app.enterRoom(reply);
      if (reply.room && reply.room.private) say(`Private room created: share its id ${reply.room.id}`, 'ok');
    } catch (e) {
      sayError(e);
    } finally {
      $('create').disabled = false;
    }
  }

  return {
    show,
    hide,
    onLobby,
    renderMyGames,
    prefillRoom: (id) => {
      $('by-id').value = id;
    },
    get visible() {
      return visible;
    },
  };
}

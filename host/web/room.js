// The room view: header (room, game, version, status), seats, whose turn and the countdown, the
// game's table (Liap Tui's own, or the generic one), the event log and the game-over panel.
//
// Owns the state of the one room the page shows: its info, the seat held (null for a
// spectator), the last update and its sequence number (kept in sessionStorage so that a reload
// resumes where it stopped). Updates of other rooms are ignored here.

import { el, fill, patch, saveBlob } from './dom.js';
import { say, sayError, quiet, errorText } from './messages.js';
import { createLiapTable } from './liap.js';
import { createGenericTable } from './generic.js';

const SAVED = 'tabula.room';
const LOG_LIMIT = 400;

/** The room the page showed last, as {room, seq}, or null. */
export function savedRoom() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SAVED) || 'null');
    if (saved && typeof saved.room === 'string' && Number.isInteger(saved.seq)) return saved;
  } catch {
    /* unreadable: none */
  }
  return null;
}

export function forgetSavedRoom() {
  sessionStorage.removeItem(SAVED);
}

/** A seat's display name: the person's name, or "Bot N" / "Open seat N" (seats count from 1). */
export function seatLabel(info, i) {
  const s = info && info.seats ? info.seats.find((x) => x.seat === i) : null;
  if (!s) return `Seat ${i + 1}`;
  if (s.kind === 'human') return s.name || `Player ${i + 1}`;
  if (s.kind === 'bot') return `Bot ${i + 1}`;
  return `Open seat ${i + 1}`;
}

export function createRoomView(app) {
  const $ = (id) => document.getElementById(id);
  const section = $('room');
  let cur = null;
  let ticker = null;

  $('back').addEventListener('click', () => backToLobby());
  $('leave').addEventListener('click', () => leave());
  $('record').addEventListener('click', () => downloadRecord());
  $('copy-link').addEventListener('click', () => copyLink());

  /** Shows the room of a `room` reply (to create_room, join, watch or resume). With the same
   * room already shown (a resume after a reconnect), its table and log are kept. */
  function open(reply) {
    const info = reply.room;
    const seat = typeof reply.seat === 'number' ? reply.seat : null;
    if (cur && cur.id === info.id) {
      cur.seat = seat;
      setInfo(info);
      render();
      return;
    }
    teardown();
    const tableRoot = $('table');
    fill(tableRoot);
    fill($('log'));
    cur = {
      id: info.id,
      info,
      seat,
      seq: typeof reply.last_seq === 'number' ? reply.last_seq : 0,
      status: info.status,
      update: null,
      view: null,
      result: null,
      sending: false,
      deadline: null,
    };
    const ctx = {
      root: tableRoot,
      act,
      name: (i) => seatLabel(cur.info, i),
      log: (text) => log(text),
    };
    cur.table = info.game === 'liap-tui' ? createLiapTable(ctx) : createGenericTable(ctx);
    save();
    section.hidden = false;
    ticker = setInterval(tick, 250);
    log(seat === null ? 'Watching this room.' : `You sit in seat ${seat + 1}.`);
    render();
    $('room-title').focus?.();
  }

  function teardown() {
    document.title = 'Tabula';
    clearInterval(ticker);
    ticker = null;
    cur = null;
    section.hidden = true;
    $('game-over').hidden = true;
  }

  /** Leaves the room view (the seat, if any, stays held: the room stays in "Your games"). */
  function close() {
    forgetSavedRoom();
    teardown();
  }

  function save() {
    if (cur) sessionStorage.setItem(SAVED, JSON.stringify({ room: cur.id, seq: cur.seq }));
  }

  function setInfo(info) {
    const before = cur.info;
    if (before && before.version !== info.version) {
      log(`The rules were updated: now version ${info.version} (was ${before.version}).`);
      say(`This game now runs version ${info.version} of its rules.`, 'info');
    }
    if (before) logSeatChanges(before, info);
    if (before && before.status !== info.status && info.status === 'paused') {
      log('The game is paused' + (info.paused_reason ? ': ' + info.paused_reason : '.'));
    }
    cur.info = info;
    cur.status = info.status;
  }

  function logSeatChanges(before, after) {
    for (const s of after.seats || []) {
      const old = (before.seats || []).find((x) => x.seat === s.seat);
      if (!old) continue;
      const name = seatLabel(after, s.seat);
      if (old.kind !== s.kind || old.player !== s.player) {
        if (s.kind === 'human') log(`${name} took seat ${s.seat + 1}.`);
        else if (s.kind === 'bot') log(`A bot plays seat ${s.seat + 1}.`);
        else log(`Seat ${s.seat + 1} is free.`);
      } else if (s.kind === 'human' && old.connected !== s.connected) {
        log(s.connected ? `${name} is back.` : `${name} lost the connection.`);
      }
    }
  }

  /** A `room` notice (seats, status, phase or version changed). */
  function onRoom(info) {
    if (!cur || info.id !== cur.id) return;
    setInfo(info);
    render();
  }

  /** An `update` of a room. */
  function onUpdate(u) {
    if (!cur || u.room !== cur.id) return;
    if (!u.resync && typeof u.seq === 'number' && u.seq < cur.seq) return; // already seen
    if (u.resync && cur.update) log('— The table was refreshed —');
    const fresh = typeof u.seq === 'number' && u.seq > cur.seq;
    cur.update = u;
    if (u.view !== null && u.view !== undefined) cur.view = u.view;
    if (typeof u.seq === 'number') cur.seq = Math.max(cur.seq, u.seq);
    if (u.resync && typeof u.seq === 'number') cur.seq = u.seq;
    if (u.status) cur.status = u.status;
    if (u.result !== null && u.result !== undefined) cur.result = u.result;
    // deadline_at: when the game moves on by itself (a turn deadline or the module's timer). A
    // server older than that field: the view's own `timer.at`, if it has one, on the local clock.
    const at = 'deadline_at' in u ? u.deadline_at : cur.view && cur.view.timer && cur.view.timer.at;
    cur.deadline =
      typeof at === 'number'
        ? { at, now: typeof u.now === 'number' ? u.now : Date.now(), recv: Date.now() }
        : null;
    if (fresh || u.resync) {
      for (const e of Array.isArray(u.events) ? u.events : []) {
        const text = cur.table.describe(e);
        if (text) log(text);
      }
    }
    save();
    render();
  }

  function onClosed(room) {
    if (!cur || cur.id !== room) return;
    say('The room was closed.', 'info');
    close();
    app.showLobby();
  }

  function render() {
    if (!cur) return;
    const { info } = cur;
    $('room-game').textContent = info.game;
    $('room-version').textContent = info.version;
    $('room-id').textContent = info.id;
    $('room-status').textContent = cur.status;
    $('room-status').dataset.status = cur.status;
    const notes = [];
    if (info.private) notes.push('private');
    if (info.active_version && info.active_version !== info.version) {
      notes.push(`new rooms get version ${info.active_version}`);
    }
    if (info.spectators) notes.push(`${info.spectators} watching`);
    if (cur.seat === null) notes.push('you are watching');
    $('room-note').textContent = notes.join(' · ');
    $('leave').textContent = cur.seat === null ? 'Stop watching' : 'Leave';
    renderSeats();
    renderTurn();
    renderTable();
    renderGameOver();
    tick();
  }

  function renderSeats() {
    const { info, seat } = cur;
    const awaiting = awaited();
    const mayChangeBots = seat !== null && info.status === 'waiting' && info.creator === app.session.player;
    const signature = JSON.stringify([info.seats, info.status, seat, awaiting, mayChangeBots]);
    patch($('seats'), signature, () => seatItems(info, seat, awaiting, mayChangeBots));
  }

  function seatItems(info, seat, awaiting, mayChangeBots) {
    const items = (info.seats || []).map((s) => {
      const badges = [];
      if (s.seat === seat) badges.push(el('span', { class: 'badge you', text: 'you' }));
      if (s.kind === 'bot') badges.push(el('span', { class: 'badge', text: 'bot' }));
      if (s.kind === 'human' && s.connected === false) badges.push(el('span', { class: 'badge warn', text: 'away' }));
      if (s.kind === 'human' && s.connected) badges.push(el('span', { class: 'badge ok', text: 'connected' }));
      if (s.bot_playing) badges.push(el('span', { class: 'badge warn', text: 'bot playing' }));
      if (awaiting.includes(s.seat)) badges.push(el('span', { class: 'badge awaited', text: 'to move' }));
      let tool = null;
      if (mayChangeBots && s.kind === 'open') {
        tool = el('button', { type: 'button', class: 'small', test: 'add-bot', text: 'Add bot', on: { click: () => botChange('add_bot', s.seat) } });
      } else if (mayChangeBots && s.kind === 'bot') {
        tool = el('button', { type: 'button', class: 'small', test: 'remove-bot', text: 'Remove bot', on: { click: () => botChange('remove_bot', s.seat) } });
      }
      return el('li', { test: 'seat', data: { seat: s.seat, kind: s.kind }, class: s.kind },
        el('span', { class: 'seat-no', text: `${s.seat + 1}.` }),
        el('span', { class: 'seat-name', text: seatLabel(info, s.seat) }), ' ', badges, tool);
    });
    const join = seat === null && info.status === 'waiting' && (info.seats || []).some((s) => s.kind === 'open')
      ? el('li', { class: 'seat-join' }, el('button', { type: 'button', test: 'take-seat', class: 'primary', text: 'Take a seat', on: { click: takeSeat } }))
      : null;
    return [items, join];
  }

  function awaited() {
    return cur.update && Array.isArray(cur.update.awaiting) ? cur.update.awaiting : [];
  }

  function renderTurn() {
    const { info, status } = cur;
    const awaiting = awaited();
    let text;
    if (status === 'finished') text = 'Game over';
    else if (status === 'paused') text = 'Paused' + (info.paused_reason ? ': ' + info.paused_reason : '');
    else if (status === 'waiting') {
      const taken = (info.seats || []).filter((s) => s.kind !== 'open').length;
      text = `Waiting for players (${taken} of ${(info.seats || []).length} seats taken)`;
    } else if (cur.seat !== null && awaiting.includes(cur.seat)) text = 'Your turn';
    else if (awaiting.length) text = 'Waiting for ' + awaiting.map((i) => seatLabel(info, i)).join(', ');
    else text = cur.update ? 'The table moves on by itself' : 'Loading the table…';
    const node = $('turn');
    if (node.textContent !== text) node.textContent = text;
    node.dataset.mine = String(text === 'Your turn');
    // A background tab shows the turn in its title.
    document.title = text === 'Your turn' ? '● Your turn · Tabula' : `${info.game} · Tabula`;
    $('sending').hidden = !cur.sending;
  }

  function renderTable() {
    // Keep keyboard focus on the same control across a re-render (controls carry data-key).
    const active = document.activeElement;
    const key = active && cur.table && $('table').contains(active) ? active.dataset.key : null;
    cur.table.render({
      view: cur.view,
      seat: cur.seat,
      awaiting: awaited(),
      status: cur.status,
      phase: cur.update ? cur.update.phase : cur.info.phase,
      sending: cur.sending,
      info: cur.info,
    });
    if (key) {
      const again = $('table').querySelector(`[data-key="${CSS.escape(key)}"]`);
      if (again && !again.disabled) again.focus();
    }
  }

  function renderGameOver() {
    const panel = $('game-over');
    if (cur.status !== 'finished') {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    const result = cur.result || {};
    const winners = Array.isArray(result.winners) ? result.winners : null;
    let text;
    if (!winners) text = 'The game is over.';
    else if (winners.length === 0) text = 'Nobody won: a draw.';
    else {
      const names = winners.map((w) => seatLabel(cur.info, w) + (w === cur.seat ? ' (you)' : ''));
      text = (winners.length > 1 ? 'Winners: ' : 'Winner: ') + names.join(', ');
    }
    $('winners').textContent = text;
    const scores = Array.isArray(result.scores) ? result.scores : null;
    patch($('final-scores'), JSON.stringify([scores, cur.info.seats]), () => scores
      ? scores.map((sc, i) => el('li', { test: 'final-score' }, el('span', { text: seatLabel(cur.info, i) }), ' ', el('strong', { text: String(sc) })))
      : []);
    const note = [];
    if (typeof result.rounds === 'number') note.push(`${result.rounds} round${result.rounds === 1 ? '' : 's'} played.`);
    const extra = cur.table.endNote ? cur.table.endNote() : '';
    if (extra) note.push(extra);
    $('end-note').textContent = note.join(' ');
    $('seed').textContent = cur.info.seed !== undefined && cur.info.seed !== null ? String(cur.info.seed) : '—';
    $('record').hidden = cur.seat === null;
  }

  /** Seconds left before the game moves on by itself, or null. */
  function secondsLeft() {
    if (!cur || !cur.deadline) return null;
    const d = cur.deadline;
    const left = d.at - (d.now + (Date.now() - d.recv));
    return Math.max(0, Math.ceil(left / 1000));
  }

  function tick() {
    if (!cur) return;
    const secs = cur.status === 'running' ? secondsLeft() : null;
    const wrap = $('countdown-wrap');
    wrap.hidden = secs === null;
    const text = secs === null ? '' : `${secs} s`;
    const out = $('countdown');
    if (out.textContent !== text) out.textContent = text;
    const awaiting = awaited();
    const label = cur.seat !== null && awaiting.includes(cur.seat)
      ? 'Time left'
      : awaiting.length ? 'Their time left' : 'Next step in';
    if ($('countdown-label').textContent !== label) $('countdown-label').textContent = label;
    out.dataset.urgent = String(secs !== null && secs <= 5);
    // Tables may show the same countdown (e.g. beside a redeal question).
    for (const node of $('table').querySelectorAll('.js-countdown')) {
      if (node.textContent !== text) node.textContent = text;
    }
  }

  function log(text) {
    const list = $('log');
    const stick = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.appendChild(el('li', { text }));
    while (list.children.length > LOG_LIMIT) list.firstChild.remove();
    if (stick) list.scrollTop = list.scrollHeight;
  }

  /** Sends an action for the seat held; shows "Sending…" until its ack or error. */
  async function act(action) {
    if (!cur || cur.sending || cur.seat === null) return false;
    const room = cur.id;
    cur.sending = true;
    renderTurn();
    renderTable();
    let ok = false;
    try {
      await app.conn.request({ type: 'act', room, action });
      ok = true;
      quiet();
    } catch (e) {
      sayError(e);
    } finally {
      if (cur && cur.id === room) {
        cur.sending = false;
        renderTurn();
        renderTable();
      }
    }
    return ok;
  }

  async function botChange(type, seat) {
    try {
      const reply = await app.conn.request({ type, room: cur.id, seat });
      if (reply.room) onRoom(reply.room);
    } catch (e) {
      sayError(e);
    }
  }

  async function takeSeat() {
    try {
      const reply = await app.conn.request({ type: 'join', room: cur.id });
      app.noteSeat(reply.room, reply.seat);
      open(reply);
      say(`You took seat ${reply.seat + 1}.`, 'ok');
    } catch (e) {
      sayError(e);
    }
  }

  function backToLobby() {
    if (cur && cur.seat === null) {
      // A spectator stops watching; a player keeps the seat (see "Your games").
      app.conn.request({ type: 'leave', room: cur.id }).catch(() => {});
    }
    close();
    app.showLobby();
  }

  async function leave() {
    if (!cur) return;
    const room = cur.id;
    try {
      await app.conn.request({ type: 'leave', room });
    } catch (e) {
      if (e.code !== 'not_in_room' && e.code !== 'unknown_room') {
        sayError(e);
        return;
      }
    }
    app.forgetSeat(room);
    close();
    app.showLobby();
  }

  async function downloadRecord() {
    if (!cur) return;
    const room = cur.id;
    try {
      const res = await fetch(`/api/games/${encodeURIComponent(room)}/record`, {
        headers: { Authorization: `Bearer ${app.session.token}` },
        cache: 'no-store',
      });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        const why = {
          unknown_game: 'The record is not available (yet): it is ready once the game is archived.',
          not_a_player: 'Only players of this game may download its record.',
          purged: 'This game’s record was purged.',
          unauthorized: 'Your session is not accepted for this download.',
        }[body.code];
        say(why || errorText(body) || `Download failed (${res.status})`, 'error');
        return;
      }
      saveBlob(await res.blob(), `tabula-${room}.json`);
      say('Record downloaded.', 'ok');
    } catch (e) {
      say('Download failed: ' + String(e.message || e), 'error');
    }
  }

  async function copyLink() {
    if (!cur) return;
    const link = `${location.origin}${location.pathname}#${cur.id}`;
    try {
      await navigator.clipboard.writeText(link);
      say('Link copied: ' + link, 'ok');
    } catch {
      say('Share this link: ' + link, 'info');
    }
  }

  return {
    open,
    close,
    onRoom,
    onUpdate,
    onClosed,
    get current() {
      return cur ? { room: cur.id, seq: cur.seq } : null;
    },
  };
}

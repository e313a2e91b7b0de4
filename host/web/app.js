// The player page: the session (sign in, the token kept in localStorage, sign out), the
// connection (hello on every open, resume of the room shown after a reconnect or reload), and
// which part of the page shows: sign-in, lobby or room.
//
// Module map: net.js (socket, requests, reconnection), messages.js (message area and error
// wording), lobby.js (games, room list, new-room form, "Your games"), room.js (one room's
// view), liap.js and generic.js (the tables), dom.js (building nodes, text only).

import { Connection, socketUrl } from './net.js';
import { say, sayError, quiet, lost } from './messages.js';
import { createLobby } from './lobby.js';
import { createRoomView, savedRoom, forgetSavedRoom } from './room.js';

const TOKEN = 'tabula.token';
const RECONNECTING = 'Reconnecting…';
const $ = (id) => document.getElementById(id);

function readToken() {
  try {
    return localStorage.getItem(TOKEN);
  } catch {
    return null;
  }
}

const app = {
  conn: new Connection(socketUrl()),
  session: { token: readToken(), player: null, name: null },
  /** Installed games (list_games). */
  games: [],
  /** Rooms where the player holds a seat: id -> {info, seat}. */
  myRooms: new Map(),
  enterRoom,
  showLobby,
  noteSeat,
  forgetSeat,
};

const lobby = createLobby(app);
const room = createRoomView(app);
let pendingName = null; // the name typed at sign-in, until the welcome
let wasConnected = false;

function showSignin() {
  lobby.hide();
  room.close();
  $('who').hidden = true;
  $('signin').hidden = false;
  $('sign-in').disabled = false;
  $('name').focus();
}

function showLobby() {
  room.close();
  $('signin').hidden = true;
  lobby.show();
}

function enterRoom(reply) {
  $('signin').hidden = true;
  lobby.hide();
  room.open(reply);
}

function noteSeat(info, seat) {
  if (!info || typeof seat !== 'number') return;
  app.myRooms.set(info.id, { info, seat });
  if (lobby.visible) lobby.renderMyGames();
}

function forgetSeat(id) {
  app.myRooms.delete(id);
  if (lobby.visible) lobby.renderMyGames();
}

/** A room id in the address (`/#r-abc123`, as "Copy link" makes), or null. */
function roomFromHash() {
  const id = decodeURIComponent(location.hash.slice(1));
  return /^r-[A-Za-z0-9]{4,40}$/.test(id) ? id : null;
}

function clearHash() {
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
}

// --- connection -------------------------------------------------------------------------------

const STATUS_TEXT = {
  connected: 'connected',
  connecting: 'connecting…',
  reconnecting: 'reconnecting…',
  offline: 'offline',
  replaced: 'disconnected',
};

app.conn.addEventListener('status', (ev) => {
  const { status } = ev.detail;
  const node = $('conn');
  node.textContent = STATUS_TEXT[status] || status;
  node.dataset.state = status;
  $('reconnect').hidden = status !== 'replaced';
  if (status === 'replaced') {
    say('You opened this game in another tab or window, so this page stopped following it. Press Reconnect to continue here.', 'error');
  } else if (status === 'reconnecting' && wasConnected) {
    say(RECONNECTING, 'info');
  }
});

$('reconnect').addEventListener('click', () => {
  quiet();
  app.conn.connect();
});

app.conn.addEventListener('open', async () => {
  const { token } = app.session;
  const hello = token ? { type: 'hello', token } : pendingName ? { type: 'hello', name: pendingName } : null;
  if (!hello) {
    app.conn.close();
    showSignin();
    return;
  }
  let welcome;
  try {
    welcome = await app.conn.request(hello);
  } catch (e) {
    if (lost(e)) return; // the reconnection says hello again
    if (e.code === 'bad_token' || !token) {
      // An expired session, or a name refused: back to the sign-in form.
      if (e.code === 'bad_token') forgetToken();
      app.conn.close();
      showSignin();
      sayError(e);
      return;
    }
    sayError(e);
    app.conn.drop(); // e.g. too many sessions, or the store unavailable: try again later
    return;
  }
  await onWelcome(welcome);
});

function forgetToken() {
  app.session.token = null;
  try {
    localStorage.removeItem(TOKEN);
  } catch {
    /* storage refused: nothing kept anyway */
  }
}

async function onWelcome(w) {
  app.session = { token: w.token, player: w.player, name: w.name };
  try {
    localStorage.setItem(TOKEN, w.token);
  } catch {
    /* private mode: the session lasts as long as the page */
  }
  pendingName = null;
  wasConnected = true;
  app.conn.healthy();
  quiet(RECONNECTING);
  $('player-name').textContent = w.name;
  $('who').hidden = false;
  $('signin').hidden = true;
  if (Array.isArray(w.rooms)) {
    app.myRooms = new Map(w.rooms.filter((r) => r && r.id).map((r) => [r.id, { info: r, seat: r.seat }]));
  }
  // Back to the room shown before the drop (or before the reload), from the last update seen.
  const target = room.current || savedRoom();
  if (target) {
    try {
      const reply = await app.conn.request({ type: 'resume', room: target.room, last_seq: target.seq });
      noteSeat(reply.room, reply.seat);
      enterRoom({ ...reply, last_seq: target.seq });
      return;
    } catch (e) {
      if (lost(e)) return;
      room.close();
      forgetSavedRoom();
      if (e.code === 'unknown_room') {
        forgetSeat(target.room);
        say('The game you were in has closed.', 'info');
      } else {
        sayError(e);
      }
    }
  }
  const linked = roomFromHash();
  if (linked) {
    clearHash();
    if (await openLinked(linked)) return;
  }
  showLobby();
}

/** Opens a room named by a link: watching it (a player seated there gets the seat back). */
async function openLinked(id) {
  try {
    const reply = await app.conn.request({ type: 'watch', room: id });
    noteSeat(reply.room, reply.seat);
    enterRoom(reply);
    return true;
  } catch (e) {
    if (!lost(e)) {
      sayError(e);
      lobby.prefillRoom(id);
    }
    return false;
  }
}

window.addEventListener('hashchange', async () => {
  const linked = roomFromHash();
  if (!linked || !app.session.player || !app.conn.isOpen) return;
  clearHash();
  await openLinked(linked);
});

// --- pushed messages --------------------------------------------------------------------------

app.conn.addEventListener('push', (ev) => {
  const msg = ev.detail;
  switch (msg.type) {
    case 'update':
      room.onUpdate(msg);
      break;
    case 'room':
      if (msg.room && msg.room.id) {
        const mine = app.myRooms.get(msg.room.id);
        if (mine) noteSeat(msg.room, mine.seat);
        room.onRoom(msg.room);
      }
      break;
    case 'room_closed':
      forgetSeat(msg.room);
      room.onClosed(msg.room);
      break;
    case 'lobby':
      lobby.onLobby(msg);
      break;
    case 'error':
      sayError(msg);
      break;
    default:
      break; // late replies to requests given up on, and message types this page does not use
  }
});

// --- sign in and out --------------------------------------------------------------------------

$('signin-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = $('name').value.trim();
  if (!name) {
    say('Enter a name first.', 'error');
    $('name').focus();
    return;
  }
  pendingName = name;
  forgetToken();
  $('sign-in').disabled = true;
  quiet();
  if (app.conn.isOpen) app.conn.drop(); // a fresh socket, so that the hello is its first frame
  app.conn.connect();
});

$('sign-out').addEventListener('click', () => {
  forgetToken();
  forgetSavedRoom();
  app.session = { token: null, player: null, name: null };
  app.myRooms.clear();
  wasConnected = false;
  showSignin();
  app.conn.close();
  say('Signed out. Your session is forgotten on this device.', 'info');
});

// --- start ------------------------------------------------------------------------------------

if (app.session.token) {
  app.conn.connect();
} else {
  showSignin();
}

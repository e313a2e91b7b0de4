// The page's message area (an aria-live region) and the wording of the protocol's error codes.
//
// Server and module messages are shown as text only; a rule's refusal (`illegal`) is quoted in
// the rule's own words.

const area = () => document.querySelector('[data-test="message"]');
let clearTimer = null;

/** Shows `text` in the message area; `kind` is `info`, `error` or `ok`. Info messages fade
 * after a while; errors stay until the next message or until dismissed. */
export function say(text, kind = 'info') {
  const node = area();
  if (!node) return;
  clearTimeout(clearTimer);
  node.textContent = text;
  node.dataset.kind = kind;
  node.hidden = !text;
  if (text && kind !== 'error') clearTimer = setTimeout(() => quiet(text), 8000);
}

/** Clears the message area (only if it still shows `text`, when given). */
export function quiet(text) {
  const node = area();
  if (!node) return;
  if (text !== undefined && node.textContent !== text) return;
  node.textContent = '';
  node.hidden = true;
}

/** Shows an error (a RequestError or anything with `code` and `message`). */
export function sayError(err) {
  say(errorText(err), 'error');
}

/** Whether a request failed because the connection dropped or stuck (a reconnection follows,
 * and with it a fresh hello and resume). */
export function lost(err) {
  return !!err && (err.code === 'disconnected' || err.code === 'timeout');
}

/** Plain words for a protocol error. */
export function errorText(err) {
  const code = err && err.code;
  const msg = err && typeof err.message === 'string' ? err.message : '';
  switch (code) {
    case 'not_your_turn':
      return 'It is not your turn';
    case 'illegal':
      return 'Illegal move: ' + msg;
    case 'rate_limited': {
      const secs = Math.max(1, Math.ceil((Number(err.retry_after_ms) || 1000) / 1000));
      return `Slow down — try again in ${secs}s`;
    }
    case 'room_paused':
      return 'The game is paused' + (msg ? ': ' + msg : '');
    case 'module_error':
      return 'The game’s rules failed on that move; nothing changed. Try again.';
    case 'stale':
      return 'The game moved on before your move arrived: look at the table and try again';
    case 'unavailable':
      return 'The server cannot store moves right now; nothing was lost. Try again shortly.';
    case 'busy':
      return 'The room is busy; try again';
    case 'disconnected':
      return 'Reconnecting…';
    case 'timeout':
      return 'The server did not answer in time; reconnecting…';
    case 'malformed_action':
      return 'The game cannot read that action' + (msg ? ': ' + msg : '');
    case 'game_over':
      return 'The game is over';
    case 'not_started':
      return 'The game has not started yet';
    case 'already_started':
      return 'The game has already started';
    case 'room_full':
      return 'That room has no free seat';
    case 'seat_taken':
      return 'That seat is taken';
    case 'unknown_room':
      return 'No such room (it may have closed)';
    case 'unknown_game':
      return 'No such game or version';
    case 'version_quarantined':
      return 'That version is quarantined and takes no new rooms';
    case 'bad_options':
      return 'The game refused these options: ' + msg;
    case 'too_many_rooms':
      return 'You have as many open rooms as allowed; finish or leave one first';
    case 'server_full':
      return 'The server is full; try again later';
    case 'too_many_spectators':
      return 'That room has as many spectators as it takes';
    case 'not_in_room':
      return 'You are not in that room';
    case 'not_creator':
      return 'Only the room’s creator may do that';
    case 'bad_token':
      return 'Your session has expired: sign in again';
    case 'too_many_sessions':
      return 'Too many sign-ins from this address; try again in a minute';
    case 'already_signed_in':
      return 'This connection is already signed in';
    case 'bad_message':
      return 'The server refused the request: ' + msg;
    default:
      return msg ? msg : 'Something went wrong' + (code ? ` (${code})` : '');
  }
}

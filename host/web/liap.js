// The Liap Tui table (game `liap-tui`): the view of rules/liap-tui/src/view.rs drawn as a table,
// its actions sent as `{"redeal": bool}`, `{"declare": n}` and `{"play": [kinds]}`, and its
// events (events.rs) told in words.
//
// Version 2 views list every valid lead under `can.play.plays`: the hand highlights the pieces
// that can still complete one of them and Play is enabled only on an exact match. Version 1
// views have no list: a lead of 1 to 6 pieces may be sent and the rules answer for it.

import { el, fill, patch } from './dom.js';

const NAMES = ['GENERAL', 'ADVISOR', 'ELEPHANT', 'CHARIOT', 'HORSE', 'CANNON', 'SOLDIER'];
const POINTS = { GENERAL: [14, 13], ADVISOR: [12, 11], ELEPHANT: [10, 9], CHARIOT: [8, 7], HORSE: [6, 5], CANNON: [4, 3], SOLDIER: [2, 1] };
// The characters on the pieces of Chinese chess, red then black.
const GLYPHS = { GENERAL: ['帥', '將'], ADVISOR: ['仕', '士'], ELEPHANT: ['相', '象'], CHARIOT: ['俥', '車'], HORSE: ['傌', '馬'], CANNON: ['炮', '砲'], SOLDIER: ['兵', '卒'] };
const PHASES = {
  preparation: 'Dealing', round_start: 'Round start', declaration: 'Declarations', turn: 'Tricks',
  turn_results: 'Round results', scoring: 'Scoring', game_over: 'Game over',
};
const PAUSES = {
  deal: 'hands dealt', redeal: 'hands redealt', declined: 'no redeal', redeal_decision: 'waiting for redeal answers',
  round_start: 'the round is about to start', trick: 'trick complete', trick_result: 'next trick coming',
  turn_results: 'round results', scoring: 'scores',
};
const REASONS = { has_general_red: 'holds the red general', won_last_turn: 'won the last trick', accepted_redeal: 'asked for the redeal' };

/** Whether this device has a font for the pieces' characters: two different characters drawn
 * alike are the same "missing glyph" box (or nothing), and then the pieces show names only. */
let glyphsOk = null;
function glyphsAvailable() {
  if (glyphsOk !== null) return glyphsOk;
  try {
    const canvas = document.createElement('canvas');
    canvas.width = 32;
    canvas.height = 32;
    const g = canvas.getContext('2d', { willReadFrequently: true });
    const draw = (ch) => {
      g.clearRect(0, 0, 32, 32);
      g.font = '24px sans-serif';
      g.fillText(ch, 2, 26);
      return g.getImageData(0, 0, 32, 32).data.join(',');
    };
    glyphsOk = draw('帥') !== draw('將');
  } catch {
    glyphsOk = false;
  }
  return glyphsOk;
}

/** A kind such as HORSE_RED, split: {name: 'HORSE', red: true}; null for anything else. */
function parseKind(kind) {
  if (typeof kind !== 'string') return null;
  const cut = kind.lastIndexOf('_');
  const name = kind.slice(0, cut);
  const colour = kind.slice(cut + 1);
  if (!NAMES.includes(name) || (colour !== 'RED' && colour !== 'BLACK')) return null;
  return { name, red: colour === 'RED' };
}

function title(word) {
  return word.charAt(0) + word.slice(1).toLowerCase();
}

/** "red horse" */
export function kindWords(kind) {
  const k = parseKind(kind);
  return k ? `${k.red ? 'red' : 'black'} ${k.name.toLowerCase()}` : String(kind);
}

function points(kind) {
  const k = parseKind(kind);
  return k ? POINTS[k.name][k.red ? 0 : 1] : 0;
}

function playTypeWords(type) {
  if (!type) return 'not a valid combination';
  if (type === 'EXTENDED_STRAIGHT_5') return 'extended straight of five';
  return String(type).toLowerCase().replace(/_/g, ' ');
}

/** The contents of a piece: its character (decorative) and its name and points. */
function pieceFace(kind) {
  const k = parseKind(kind);
  if (!k) return [el('span', { class: 'piece-name', text: String(kind) })];
  // Without a font for the characters, a three-letter abbreviation takes their place.
  const mark = glyphsAvailable() ? GLYPHS[k.name][k.red ? 0 : 1] : title(k.name).slice(0, 3);
  return [
    el('span', { class: ['glyph', glyphsAvailable() ? null : 'abbr'], text: mark, attrs: { 'aria-hidden': 'true' } }),
    glyphsAvailable() ? el('span', { class: 'piece-name', text: title(k.name), attrs: { 'aria-hidden': 'true' } }) : null,
    el('span', { class: 'piece-points', text: String(points(kind)), attrs: { 'aria-hidden': 'true' } }),
    el('span', { class: 'visually-hidden', text: `${kindWords(kind)}, ${points(kind)} points` }),
  ];
}

function pieceClass(kind) {
  const k = parseKind(kind);
  return ['piece', k ? (k.red ? 'red' : 'black') : 'unknown'];
}

function chip(kind) {
  return el('span', { class: [...pieceClass(kind), 'chip'], data: { kind }, attrs: { title: `${kindWords(kind)} (${points(kind)})` } }, pieceFace(kind));
}

function counts(kinds) {
  const m = new Map();
  for (const k of kinds) m.set(k, (m.get(k) || 0) + 1);
  return m;
}

/** Whether the multiset `small` fits inside the multiset `big` (both Maps kind -> count). */
function fits(small, big) {
  for (const [k, n] of small) if ((big.get(k) || 0) < n) return false;
  return true;
}

function sameKinds(a, b) {
  return a.length === b.length && fits(counts(a), counts(b));
}

const seatsList = (seats, name) => (Array.isArray(seats) && seats.length ? seats.map(name).join(', ') : 'nobody');

export function createLiapTable(ctx) {
  const { root, act, name } = ctx;
  let selected = new Set(); // positions in the hand
  let handKey = null;
  let last = null; // the last render's input
  let endReason = null;

  // The table's parts are built once and each is rebuilt only when what it shows changes; the
  // hand's pieces are kept while the hand is the same (selecting only changes their state).
  const parts = {
    status: el('div'),
    scores: el('div'),
    trick: el('div'),
    prompt: el('div'),
    hand: el('section', { class: 'hand-panel' }),
  };
  const handTitle = el('h3');
  const handBox = el('div', { class: 'hand', test: 'hand', attrs: { role: 'group', 'aria-label': 'Your hand' } });
  const playButton = el('button', { type: 'button', class: 'primary', test: 'play', data: { key: 'play' }, text: 'Play', on: { click: () => send() } });
  const clearButton = el('button', { type: 'button', test: 'clear-selection', data: { key: 'clear' }, text: 'Clear', on: { click: () => { selected = new Set(); renderHand(); } } });
  const hint = el('span', { class: 'hint', test: 'play-hint' });
  const controls = el('div', { class: 'row wrap hand-controls' }, playButton, clearButton, hint);
  const leads = el('div');
  let pieceButtons = [];
  let mounted = false;

  function render(input) {
    last = input;
    const { view } = input;
    if (!view || typeof view !== 'object') {
      mounted = false;
      fill(root, el('p', { class: 'muted', text: input.status === 'waiting' ? 'The game starts when every seat is taken.' : 'Waiting for the table…' }));
      return;
    }
    if (!mounted || !root.contains(parts.status)) {
      fill(root, parts.status, parts.trick, parts.prompt, parts.scores);
      for (const p of Object.values(parts)) p.tabulaSignature = undefined;
      mounted = true;
    }
    // Only a seat has a hand: spectators' tables have no hand at all (not even a hidden one).
    const hasHand = Array.isArray(view.hand);
    if (hasHand && !root.contains(parts.hand)) root.insertBefore(parts.hand, parts.scores);
    if (!hasHand && root.contains(parts.hand)) parts.hand.remove();
    const names = [0, 1, 2, 3].map(name);
    const sig = (...values) => JSON.stringify([names, ...values]);
    patch(parts.status, sig(view.round, view.max_rounds, view.multiplier, view.phase, view.timer && view.timer.pause, view.starter, view.redeal), () => statusLine(view));
    patch(parts.scores, sig(view.hand_sizes, view.declarations, view.piles, view.round_scores, view.scores, view.winners, input.seat, input.awaiting), () => scores(view, input));
    patch(parts.trick, sig(view.trick, view.last_trick), () => trick(view));
    const can = view.can || {};
    patch(parts.prompt, sig(input.seat, can.declare, can.redeal, view.redeal && view.redeal.your_answer, view.multiplier), () => (input.seat !== null ? prompt(view) : null));
    for (const b of parts.prompt.querySelectorAll('button')) b.disabled = !!input.sending;
    renderHand();
  }

  function statusLine(view) {
    const parts = [`Round ${view.round}` + (view.max_rounds ? ` of ${view.max_rounds}` : '')];
    if (view.multiplier > 1) parts.push(`score ×${view.multiplier}`);
    parts.push(PHASES[view.phase] || String(view.phase));
    if (view.timer && PAUSES[view.timer.pause]) parts.push(PAUSES[view.timer.pause]);
    const lines = [el('p', { class: 'status-line', test: 'round', text: parts.join(' · ') })];
    if (view.starter && typeof view.starter.seat === 'number') {
      lines.push(el('p', { class: 'muted', text: `${name(view.starter.seat)} starts this round (${REASONS[view.starter.reason] || view.starter.reason}).` }));
    }
    if (view.redeal && Array.isArray(view.redeal.weak)) {
      const waiting = view.redeal.weak.filter((s) => !(view.redeal.answered || []).includes(s));
      lines.push(el('p', { class: 'muted', test: 'redeal-status', text: `Redeal question for ${seatsList(view.redeal.weak, name)}; waiting for ${seatsList(waiting, name)}.` }));
    }
    return el('div', { class: 'liap-status' }, lines);
  }

  function scores(view, input) {
    const n = Array.isArray(view.scores) ? view.scores.length : 4;
    const columns = [['Player'], ['Hand', 'pieces in hand'], ['Declared', 'piles declared'], ['Piles', 'piles captured'], ['Round', 'score of the last round scored'], ['Total', 'total score']];
    const head = el('tr', {}, columns.map(([h, what]) => el('th', { scope: 'col', text: h, attrs: { title: what } })));
    const rows = [];
    for (let i = 0; i < n; i++) {
      const decl = view.declarations ? view.declarations[i] : null;
      const round = view.round_scores ? view.round_scores[i] : null;
      const cls = [];
      if (i === input.seat) cls.push('you');
      if ((input.awaiting || []).includes(i)) cls.push('awaited');
      if (Array.isArray(view.winners) && view.winners.includes(i)) cls.push('winner');
      const who = name(i) + (i === input.seat ? ' (you)' : '');
      rows.push(el('tr', { class: cls, data: { seat: i } },
        el('th', { scope: 'row', text: who }),
        el('td', { text: view.hand_sizes ? String(view.hand_sizes[i]) : '' }),
        el('td', { text: decl === null || decl === undefined ? '–' : String(decl) }),
        el('td', { text: view.piles ? String(view.piles[i]) : '' }),
        el('td', { text: round === null || round === undefined ? '–' : (round > 0 ? '+' : '') + round }),
        el('td', { class: 'total', text: view.scores ? String(view.scores[i]) : '' })));
    }
    const declared = (view.declarations || []).filter((d) => typeof d === 'number');
    const sum = declared.reduce((a, b) => a + b, 0);
    const caption = el('caption', { text: declared.length ? `Scores · bets so far add up to ${sum} (a round has 8 piles)` : 'Scores' });
    return el('div', { class: 'scroll-x' }, el('table', { class: 'scores', test: 'scores' }, caption, el('thead', {}, head), el('tbody', {}, rows)));
  }

  function trickBody(t) {
    const items = (t.plays || []).map((p) => el('li', { class: t.winner === p.seat ? 'won' : null, data: { seat: p.seat } },
      el('span', { class: 'who', text: name(p.seat) }),
      el('span', { class: 'chips' }, (p.pieces || []).map(chip)),
      el('span', { class: 'muted', text: playTypeWords(p.play_type) + (t.winner === p.seat ? ' — wins' : '') })));
    return el('ol', { class: 'plays' }, items);
  }

  function trick(view) {
    const t = view.trick;
    const parts = [el('h3', { text: 'Trick' })];
    if (!t) parts.push(el('p', { class: 'muted', text: 'No trick on the table.' }));
    else {
      const needed = t.count ? `${t.count} piece${t.count > 1 ? 's' : ''} each` : 'waiting for the lead';
      parts.push(el('p', { class: 'muted', text: `${name(t.leader)} leads · ${needed}` + (typeof t.winner === 'number' ? ` · won by ${name(t.winner)}` : '') }));
      parts.push(trickBody(t));
    }
    if (view.last_trick) {
      const lt = view.last_trick;
      parts.push(el('details', { class: 'last-trick' },
        el('summary', { text: 'Previous trick' + (typeof lt.winner === 'number' ? ` (won by ${name(lt.winner)})` : '') }),
        trickBody(lt)));
    }
    return el('section', { class: 'trick', test: 'trick', attrs: { 'aria-label': 'Current trick' } }, parts);
  }

  function prompt(view) {
    const can = view.can;
    if (!can || typeof can !== 'object') return null;
    if (Array.isArray(can.declare)) {
      const buttons = can.declare.map((v) => el('button', {
        type: 'button', class: 'declare', test: 'declare', data: { value: v, key: `declare-${v}` }, text: String(v), attrs: { 'aria-label': `Declare ${v}` },
        on: { click: () => act({ declare: v }) },
      }));
      const hidden = [0, 1, 2, 3, 4, 5, 6, 7, 8].filter((v) => !can.declare.includes(v));
      const streak = Array.isArray(view.zero_streaks) && typeof view.seat === 'number' ? view.zero_streaks[view.seat] : 0;
      const why = [];
      if (hidden.includes(0) && streak >= 2) why.push('after two zero bets in a row the next must be at least 1');
      if (hidden.some((v) => v !== 0 || streak < 2)) why.push('the four bets may not add up to exactly 8');
      return el('section', { class: 'prompt', test: 'declare-prompt' },
        el('h3', { text: 'How many piles will you capture?' }),
        el('div', { class: 'row wrap' }, buttons),
        hidden.length ? el('p', { class: 'muted', test: 'declare-note', text: `Not allowed: ${hidden.join(', ')} (${why.join('; ')}).` }) : null);
    }
    if (can.redeal !== undefined && can.redeal !== null && typeof can.redeal !== 'object') {
      const next = (Number(view.multiplier) || 1) + 1;
      return el('section', { class: 'prompt', test: 'redeal-prompt' },
        el('h3', { text: 'Your hand is weak: ask for a redeal?' }),
        el('p', { text: `No piece in your hand is worth more than 9. A redeal deals new hands to everyone and the round then counts ×${next}.` }),
        el('div', { class: 'row wrap' },
          el('button', { type: 'button', class: 'primary', test: 'redeal-yes', data: { key: 'redeal-yes' }, text: 'Yes, redeal', on: { click: () => act({ redeal: true }) } }),
          el('button', { type: 'button', test: 'redeal-no', data: { key: 'redeal-no' }, text: 'No, keep this hand', on: { click: () => act({ redeal: false }) } })),
        el('p', { class: 'muted' }, 'Undecided players decline in ', el('span', { class: 'js-countdown', test: 'redeal-countdown' }), '.'));
    }
    if (view.redeal && view.redeal.your_answer !== null && view.redeal.your_answer !== undefined) {
      return el('p', { class: 'muted', text: `You answered the redeal question: ${view.redeal.your_answer ? 'yes' : 'no'}.` });
    }
    return null;
  }

  /** Whether the selection may be sent, with a hint for the player. */
  function judge(hand, play) {
    const kinds = [...selected].map((i) => hand[i]);
    if (!play) return { ok: false, hint: kinds.length ? `${kinds.length} selected` : '' };
    if (!play.lead) {
      const n = Number(play.count) || 0;
      return { ok: kinds.length === n, hint: `Play exactly ${n} piece${n === 1 ? '' : 's'} (any combination; only a play of the leader’s type can win).` };
    }
    if (Array.isArray(play.plays)) {
      const match = play.plays.some((p) => sameKinds(p, kinds));
      if (match) return { ok: true, hint: 'A valid lead.' };
      const sel = counts(kinds);
      const partial = play.plays.some((p) => fits(sel, counts(p)));
      return { ok: false, hint: kinds.length && !partial ? 'These pieces form no valid lead: deselect some.' : 'Lead 1 to 6 pieces forming a valid play (highlighted pieces can complete one).' };
    }
    return { ok: kinds.length >= 1 && kinds.length <= 6, hint: 'Lead 1 to 6 pieces forming a valid play.' };
  }

  /** For a version 2 lead: the hand positions that extend the selection towards a valid play. */
  function extendable(hand, play) {
    const out = new Set();
    if (!play || !play.lead || !Array.isArray(play.plays)) return out;
    const base = [...selected].map((i) => hand[i]);
    const options = play.plays.map(counts);
    hand.forEach((kind, i) => {
      if (selected.has(i)) return;
      const want = counts([...base, kind]);
      if (options.some((p) => fits(want, p))) out.add(i);
    });
    return out;
  }

  function renderHand() {
    const input = last;
    const view = input && input.view;
    const hand = view && Array.isArray(view.hand) ? view.hand : null;
    parts.hand.hidden = !hand;
    if (!hand) return;
    const key = hand.join(',');
    if (key !== handKey) {
      handKey = key;
      selected = new Set();
      pieceButtons = hand.map((kind, i) => el('button', {
        type: 'button', class: pieceClass(kind), test: 'piece', data: { kind, index: i, key: `piece-${i}` },
        on: { click: () => toggle(i) },
      }, pieceFace(kind)));
      fill(handBox, pieceButtons);
      handTitle.textContent = `Your hand (${hand.length})`;
    }
    if (!parts.hand.contains(handBox)) fill(parts.hand, handTitle, handBox, controls, leads);
    const play = view.can && view.can.play && typeof view.can.play === 'object' ? view.can.play : null;
    const hints = extendable(hand, play);
    pieceButtons.forEach((b, i) => {
      const kind = hand[i];
      b.classList.toggle('selected', selected.has(i));
      b.classList.toggle('playable', hints.has(i));
      b.setAttribute('aria-pressed', String(selected.has(i)));
      b.setAttribute('aria-label', `${kindWords(kind)}, ${points(kind)} points${hints.has(i) ? ', playable' : ''}`);
    });
    const verdict = judge(hand, play);
    controls.hidden = !play;
    playButton.disabled = !play || !verdict.ok || !!input.sending;
    clearButton.disabled = selected.size === 0;
    hint.textContent = verdict.hint;
    const list = play && play.lead && Array.isArray(play.plays) && play.plays.length ? play.plays : null;
    patch(leads, JSON.stringify([key, list]), () => (list
      ? el('details', { class: 'leads' },
        el('summary', { text: `Valid leads (${list.length})` }),
        el('ul', { class: 'lead-list' }, list.slice(0, 60).map((p, n) => el('li', {},
          el('button', { type: 'button', class: 'small', test: 'suggested-play', data: { key: `lead-${n}` }, attrs: { 'aria-label': 'Select ' + p.map(kindWords).join(', ') }, on: { click: () => pick(p) } }, p.map(chip))))))
      : null));
  }

  function toggle(i) {
    if (selected.has(i)) selected.delete(i);
    else selected.add(i);
    renderHand();
  }

  /** Selects the hand positions of the kinds of a suggested lead. */
  function pick(kinds) {
    const hand = last.view.hand;
    const need = counts(kinds);
    selected = new Set();
    hand.forEach((kind, i) => {
      if ((need.get(kind) || 0) > 0) {
        need.set(kind, need.get(kind) - 1);
        selected.add(i);
      }
    });
    renderHand();
  }

  async function send() {
    const hand = last && last.view && last.view.hand;
    if (!hand) return;
    const pieces = [...selected].sort((a, b) => a - b).map((i) => hand[i]);
    await act({ play: pieces });
  }

  /** One event in words (null to leave it out of the log). */
  function describe(e) {
    if (!e || typeof e !== 'object') return String(e);
    const list = (seats) => seatsList(seats, name);
    switch (e.type) {
      case 'phase':
        return `— ${PHASES[e.phase] || e.phase} (round ${e.round}) —`;
      case 'dealt':
        return Array.isArray(e.hand)
          ? `New hand (round ${e.round}, ×${e.multiplier}): ${e.hand.map(kindWords).join(', ')}.`
          : `Hands dealt (round ${e.round}, ×${e.multiplier}).`;
      case 'redeal_asked':
        return `Weak hand${(e.weak || []).length > 1 ? 's' : ''}: ${list(e.weak)} may ask for a redeal.`;
      case 'redeal_answered':
        return `${name(e.seat)} answered the redeal question.`;
      case 'redeal_accepted':
        return `Redeal! Accepted by ${list(e.accepted)}` + ((e.declined || []).length ? `, declined by ${list(e.declined)}` : '') +
          ((e.timed_out || []).length ? ` (${list(e.timed_out)} did not answer in time)` : '') +
          `. ${name(e.starter)} starts; the round counts ×${e.multiplier}.`;
      case 'redeal_declined':
        return `No redeal: declined by ${list(e.declined)}` + ((e.timed_out || []).length ? ` (${list(e.timed_out)} did not answer in time)` : '') + '.';
      case 'round_started':
        return `Round ${e.round}: ${name(e.starter)} starts (${REASONS[e.reason] || e.reason})` + (e.multiplier > 1 ? `, scores ×${e.multiplier}` : '') + '.';
      case 'declared':
        return `${name(e.seat)} declared ${e.value}.`;
      case 'played':
        return `${name(e.seat)} played ${(e.pieces || []).map(kindWords).join(', ')} (${playTypeWords(e.play_type)}).`;
      case 'trick_won':
        return `${name(e.seat)} won the trick: ${e.piles} pile${e.piles === 1 ? '' : 's'}` + (e.play_type ? ` (${playTypeWords(e.play_type)})` : '') + '.';
      case 'round_scored': {
        const per = (e.scores || []).map((s, i) => `${name(i)} ${s > 0 ? '+' : ''}${s} (bet ${e.declared ? e.declared[i] : '?'}, got ${e.captured ? e.captured[i] : '?'})`);
        const totals = (e.totals || []).map((t, i) => `${name(i)} ${t}`);
        return `Round ${e.round} scored${e.multiplier > 1 ? ` ×${e.multiplier}` : ''}: ${per.join('; ')}. Totals: ${totals.join(', ')}.`;
      }
      case 'game_over':
        endReason = e.reason || null;
        return `Game over. ${(e.winners || []).length > 1 ? 'Winners' : 'Winner'}: ${list(e.winners)}.` + (e.reason ? ` ${endWords(e.reason)}` : '');
      default:
        return JSON.stringify(e);
    }
  }

  function endWords(reason) {
    if (reason === 'win_score') return 'A total reached the winning score.';
    if (reason === 'round_limit') return 'The last round allowed was played.';
    return '';
  }

  return { render, describe, endNote: () => (endReason ? endWords(endReason) : '') };
}

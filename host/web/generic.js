// The generic table, for any game without a table of its own: the view shown as indented JSON
// text, a box to send any action as JSON, and the events in the log as JSON.
//
// Convention for listed actions (also described in the SDK's documentation): a view whose top
// level is an object with an array "actions", each item {"label": "text", "action": <action>},
// gets one button per item; the button shows the label (as text) and sends the action unchanged
// as the `act` message's `action`. For example a view
//   {"board": [...], "actions": [{"label": "Take the centre", "action": {"cell": 4}}]}
// offers a button "Take the centre" that sends {"cell": 4}. Items without a string label are
// skipped. A game lists only the actions its viewer may make now (none for spectators).

import { el, fill, pretty } from './dom.js';
import { say } from './messages.js';

export function createGenericTable(ctx) {
  const { root, act } = ctx;
  // Built once, so that what the player types survives updates.
  const viewBox = el('pre', { class: 'view', test: 'view', tabIndex: 0, attrs: { 'aria-label': 'Game view' } });
  const legal = el('div', { class: 'row wrap legal', test: 'legal-actions' });
  const input = el('textarea', { id: 'action-json', test: 'action-json', rows: 3, spellcheck: false, placeholder: '{"cell": 4}' });
  const send = el('button', { type: 'submit', class: 'primary', test: 'send-action', text: 'Send' });
  const form = el('form', { class: 'stack action-form', on: { submit: onSubmit } },
    el('label', { class: 'field', htmlFor: 'action-json' }, el('span', { class: 'field-label', text: 'Action (JSON)' }), input),
    el('div', { class: 'row' }, send));
  const actions = el('section', { class: 'generic-actions' }, el('h3', { text: 'Your move' }), legal, form);
  const viewPanel = el('section', { class: 'generic-view' }, el('h3', { text: 'Table' }), viewBox);
  let seated = false;

  function render(input_) {
    const { view, seat, sending, status } = input_;
    if (!root.contains(viewPanel)) fill(root, viewPanel);
    const text = view === null || view === undefined
      ? (status === 'waiting' ? 'The game starts when every seat is taken.' : 'Waiting for the table…')
      : pretty(view);
    if (viewBox.textContent !== text) viewBox.textContent = text;
    seated = seat !== null;
    // Spectators (and everyone once the game is over) get no action controls at all.
    const canAct = seated && status !== 'finished';
    if (canAct && !root.contains(actions)) root.appendChild(actions);
    if (!canAct && root.contains(actions)) actions.remove();
    const items = view && typeof view === 'object' && Array.isArray(view.actions) ? view.actions : [];
    fill(legal, items
      .filter((a) => a && typeof a === 'object' && typeof a.label === 'string' && 'action' in a)
      .map((a, n) => el('button', {
        type: 'button', test: 'legal-action', text: a.label, disabled: sending, data: { key: `legal-${n}` },
        on: { click: () => act(a.action) },
      })));
    send.disabled = sending;
  }

  async function onSubmit(ev) {
    ev.preventDefault();
    if (!seated) return;
    let action;
    try {
      action = JSON.parse(input.value);
    } catch (e) {
      say('That is not valid JSON: ' + e.message, 'error');
      input.focus();
      return;
    }
    if (await act(action)) input.select();
  }

  function describe(event) {
    if (typeof event === 'string') return event;
    try {
      return JSON.stringify(event);
    } catch {
      return String(event);
    }
  }

  return { render, describe };
}

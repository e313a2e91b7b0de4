// Small DOM helpers shared by the player page and the operator console.
//
// Everything here builds nodes with createElement and puts text in with text nodes: no HTML
// string is ever parsed, so names, views and messages from players or modules cannot become
// markup, whatever they contain.

/**
 * Builds an element.
 *
 * `props` keys: `class` (string, space-separated, or array), `test` (the data-test hook), `text` (text content),
 * `data` (object of data-* attributes), `attrs` (other attributes, e.g. aria-*), `on` (object of
 * event listeners); any other key is set as a property (type, value, disabled, htmlFor, ...).
 * Children may be nodes, strings (added as text), numbers, arrays of those, or null/false
 * (skipped).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    switch (key) {
      case 'class':
        for (const c of [].concat(value)) {
          if (c) for (const part of String(c).split(/\s+/)) if (part) node.classList.add(part);
        }
        break;
      case 'test':
        node.dataset.test = value;
        break;
      case 'text':
        node.textContent = String(value);
        break;
      case 'data':
        for (const [k, v] of Object.entries(value)) node.dataset[k] = String(v);
        break;
      case 'attrs':
        for (const [k, v] of Object.entries(value)) {
          if (v !== undefined && v !== null && v !== false) node.setAttribute(k, String(v));
        }
        break;
      case 'on':
        for (const [k, fn] of Object.entries(value)) node.addEventListener(k, fn);
        break;
      default:
        node[key] = value;
    }
  }
  append(node, children);
  return node;
}

/** Appends children (nodes, strings, numbers, nested arrays; null and false skipped). */
export function append(node, children) {
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
  return node;
}

/** Replaces a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/**
 * Rebuilds a node's children with `build()` only when `signature` differs from the last one it
 * was built with, so that elements (and what tests or the keyboard hold of them) survive
 * updates that do not change them. Returns whether it rebuilt.
 */
export function patch(node, signature, build) {
  if (node.tabulaSignature === signature) return false;
  node.tabulaSignature = signature;
  fill(node, build());
  return true;
}

/** The first element under `root` with the data-test hook `name`. */
export function hook(root, name) {
  return root.querySelector(`[data-test="${name}"]`);
}

/** A label wrapping a control, so that clicking the text focuses it. */
export function labelled(text, control, extraClass) {
  return el('label', { class: ['field', extraClass] }, el('span', { class: 'field-label', text }), control);
}

/** An <option>. */
export function option(value, text, selected = false) {
  return el('option', { value, text: text ?? value, selected });
}

/** JSON, pretty-printed, or the value's string form when it cannot be serialised. */
export function pretty(value) {
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A request id: random, so that ids never repeat across reloads (the server deduplicates by
 * request id, and a repeated one would return an old answer instead of acting). Uses
 * getRandomValues, which (unlike randomUUID) also works on plain-http pages. */
export function freshId(prefix = 'q') {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A time as a short local clock reading. */
export function clock(ms) {
  if (typeof ms !== 'number') return '';
  return new Date(ms).toLocaleTimeString();
}

/** Saves `blob` as a file named `name`, through an object URL (no navigation). */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: name, class: 'hidden-link' });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// camward UI — reads the settings' JSON Schema (GET /api/v1/config/schema): a setting's title,
// description, unit, range and choices, so that forms are labelled from the settings' own doc
// comments (crates/camward-config) and never show a raw key.

import { api } from './api.js';

let cached = null;

export async function loadSchema() {
  if (cached) return cached;
  const r = await api('GET', '/api/v1/config/schema');
  if (!r.ok) return null;
  cached = new Schema(r.data);
  return cached;
}

export class Schema {
  constructor(doc) {
    this.doc = doc;
    this.defs = doc.$defs || {};
  }

  // Follows `$ref`s; the referring node's own title/description win (a field's title over its type's).
  resolve(node) {
    let n = node || {};
    const own = {};
    for (let i = 0; i < 8 && n.$ref; i++) {
      for (const k of ['title', 'description', 'x-true', 'x-false', 'x-unit']) if (n[k] !== undefined && own[k] === undefined) own[k] = n[k];
      n = this.defs[n.$ref.replace('#/$defs/', '')] || {};
    }
    return { ...n, ...own };
  }

  // The node of a dotted path (`recording.file_max_bytes`), or null.
  at(path) {
    let n = this.resolve(this.doc);
    for (const k of path.split('.')) {
      // A list's items are addressed without their index (`smtp.destinations.address`).
      if (!(n.properties && k in n.properties) && n.items) n = this.resolve(n.items);
      const props = n.properties || {};
      if (!(k in props)) return null;
      n = this.resolve(props[k]);
    }
    return n;
  }

  sections() {
    return Object.keys(this.doc.properties || {});
  }

  has(section) {
    return section in (this.doc.properties || {});
  }

  title(path) {
    const n = this.at(path);
    return (n && n.title) || null;
  }

  // A path as people read it, from the titles along it: "SMTP(E-mail) › SSL".
  trail(path) {
    const parts = path.split('.');
    const out = [];
    for (let i = 1; i <= parts.length; i++) {
      const t = this.title(parts.slice(0, i).join('.'));
      if (t && out[out.length - 1] !== t) out.push(t);
    }
    return out.join(' › ');
  }

  // [[value, title]] of an enumerated node (string enums as `oneOf` consts, or integer `oneOf`s).
  choices(node) {
    const n = this.resolve(node);
    if (Array.isArray(n.oneOf) && n.oneOf.every((o) => 'const' in this.resolve(o))) {
      return n.oneOf.map((o) => { const r = this.resolve(o); return [r.const, r.title || String(r.const)]; });
    }
    if (Array.isArray(n.enum)) return n.enum.map((v) => [v, String(v)]);
    return null;
  }

  // What kind of control a node needs.
  kind(node) {
    const n = this.resolve(node);
    if (n['x-camward-secret']) return 'secret';
    if (n.type === 'boolean') return 'onoff';
    if (this.choices(n)) return 'select';
    if (n.type === 'integer' || n.type === 'number') return 'number';
    if (n.type === 'array') {
      const items = this.resolve(n.items || {});
      if (this.choices(items)) return 'checks';
      if (items.type === 'string') return 'lines';
      return 'list';
    }
    if (n.type === 'object' || n.properties) return 'group';
    return 'text';
  }
}

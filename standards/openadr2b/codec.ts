/**
 * Encoder and validating decoder for OpenADR 2.0b payloads, driven by the definitions in schema.ts.
 * Bodies are plain objects keyed by element local names (`{ eiResponse: { responseCode: '200', … } }`);
 * repeated elements are arrays; a substitution group is kept under its key as `{ [elementName]: … }`.
 */
import { MESSAGES, NS, type Choice, type Complex, type Field, type Leaf, type MessageName, type Opaque, type Prefix, type TypeRef } from './schema.js';
import { elementsOf, escAttr, escText, parseXml, textOf, XmlError, type XElement, type XmlLimits, DEFAULT_LIMITS } from './xml.js';

export type Body = Record<string, unknown>;

/** A payload that breaks the schema: `path` names the element, in the message's own terms. */
export class Oadr2bSchemaError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

const URI_OF = NS as Record<Prefix, string>;
const PREFIX_OF = new Map<string, Prefix>(Object.entries(NS).map(([p, u]) => [u, p as Prefix]));

/** The prefixes the root declares (everything the payload schemas use; ds and dsp live on the signature). */
const ROOT_NS = (['oadr', 'pyld', 'ei', 'emix', 'xcal', 'strm', 'power', 'scale'] as const).map((p) => ` xmlns:${p}="${NS[p]}"`).join('');

const DATE_TIME = /^(-|\+)?\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d*)?Z?$/;
const DURATION = /^(\+|-)?P((\d+Y)?(\d+M)?(\d+D)?T?(\d+H)?(\d+M)?(\d+S)?)$|^(\+|-)?P\d+W$/;
const FLOAT = /^(\+|-)?(\d+(\.\d*)?|\.\d+)([Ee](\+|-)?\d+)?$|^-?INF$|^NaN$/;
const DECIMAL = /^(\+|-)?(\d+(\.\d*)?|\.\d+)$/;

function resolve(t: TypeRef): Exclude<TypeRef, () => Complex> {
  return typeof t === 'function' ? t() : t;
}
const isComplex = (t: Exclude<TypeRef, () => Complex>): t is Complex => 'seq' in t;
const isOpaque = (t: Exclude<TypeRef, () => Complex>): t is Opaque => 'opaque' in t;

/** `YYYY-MM-DDTHH:MM:SS[.sss]Z`, the form xcal:date-time takes. */
export function xcalDateTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, 19)}Z` : iso;
}

export function parseXcalDateTime(s: string): number {
  const v = Date.parse(/Z$|[+-]\d\d:\d\d$/.test(s) ? s : `${s}Z`);
  if (!Number.isFinite(v)) throw new Oadr2bSchemaError('date-time', `'${s}' is not a date-time`);
  return v;
}

// ---------------------------------------------------------------- encoding

function leafText(leaf: Leaf, v: unknown, path: string): string {
  switch (leaf.t) {
    case 'boolean':
      if (typeof v !== 'boolean') throw new Oadr2bSchemaError(path, 'expected a boolean');
      return v ? 'true' : 'false';
    case 'uint':
    case 'float':
    case 'decimal': {
      if (typeof v !== 'number') throw new Oadr2bSchemaError(path, 'expected a number');
      if (leaf.t === 'float') return Number.isNaN(v) ? 'NaN' : v === Infinity ? 'INF' : v === -Infinity ? '-INF' : String(v);
      if (!Number.isFinite(v)) throw new Oadr2bSchemaError(path, 'expected a finite number');
      if (leaf.t === 'uint' && (!Number.isInteger(v) || v < 0 || v > 4294967295)) throw new Oadr2bSchemaError(path, 'expected an unsigned 32-bit integer');
      return leaf.t === 'decimal' && /e/i.test(String(v)) ? v.toFixed(20).replace(/\.?0+$/, '') : String(v);
    }
    default: {
      const s = typeof v === 'number' ? String(v) : v;
      if (typeof s !== 'string') throw new Oadr2bSchemaError(path, 'expected text');
      checkLeaf(leaf, s, path);
      return escText(s);
    }
  }
}

function encodeField(field: Field, v: unknown, path: string, out: string[]): void {
  const t = resolve(field.type);
  const tag = `${field.ns}:${field.name}`;
  if (isOpaque(t)) {
    if (typeof v !== 'string') throw new Oadr2bSchemaError(path, 'opaque content is given as XML text');
    out.push(v === '' ? `<${tag}/>` : `<${tag}>${v}</${tag}>`);
  } else if (isComplex(t)) {
    out.push(`<${tag}>`);
    encodeComplex(t, v as Body, path, out);
    out.push(`</${tag}>`);
  } else {
    out.push(`<${tag}>${leafText(t, v, path)}</${tag}>`);
  }
}

function encodeComplex(t: Complex, body: Body, path: string, out: string[]): void {
  if (typeof body !== 'object' || body === null) throw new Oadr2bSchemaError(path, 'expected an object');
  for (const item of t.seq) {
    if ('choice' in item) {
      encodeChoice(item, body[item.key], path, out);
      continue;
    }
    const v = body[item.name];
    const p = `${path}/${item.name}`;
    if (v === undefined || v === null) {
      if (item.min === 1) throw new Oadr2bSchemaError(p, 'is required');
      continue;
    }
    if (item.max === 'n') {
      if (!Array.isArray(v)) throw new Oadr2bSchemaError(p, 'expected a list');
      if (item.min === 1 && v.length === 0) throw new Oadr2bSchemaError(p, 'needs at least one');
      v.forEach((x, i) => encodeField(item, x, `${p}[${i}]`, out));
    } else {
      encodeField(item, v, p, out);
    }
  }
}

function encodeChoice(c: Choice, v: unknown, path: string, out: string[]): void {
  const p = `${path}/${c.key}`;
  if (v === undefined || v === null) {
    if (c.min === 1) throw new Oadr2bSchemaError(p, 'is required');
    return;
  }
  const list = c.max === 'n' ? v : [v];
  if (!Array.isArray(list)) throw new Oadr2bSchemaError(p, 'expected a list');
  if (c.min === 1 && list.length === 0) throw new Oadr2bSchemaError(p, 'needs at least one');
  for (const entry of list) {
    const keys = Object.keys(entry as Body);
    if (keys.length !== 1) throw new Oadr2bSchemaError(p, `expected one of ${c.choice.map((x) => x.name).join(', ')}`);
    const field = c.choice.find((x) => x.name === keys[0]);
    if (!field) throw new Oadr2bSchemaError(p, `'${keys[0]}' is not one of ${c.choice.map((x) => x.name).join(', ')}`);
    encodeField(field, (entry as Body)[keys[0]!], `${p}/${keys[0]}`, out);
  }
}

export interface EncodeOptions {
  /** `oadr:Id` of oadrSignedObject, for a signature's reference. */
  signedObjectId?: string;
  /** Inserted before oadrSignedObject (a ds:Signature element, from signature.ts). */
  signatureXml?: string;
}

/** The message element alone (`<oadr:oadrPoll ei:schemaVersion="2.0b">…`), with no namespace declarations. */
export function encodeMessage(name: MessageName, body: Body): string {
  const out: string[] = [`<oadr:${name} ei:schemaVersion="2.0b">`];
  encodeComplex(MESSAGES[name], body, name, out);
  out.push(`</oadr:${name}>`);
  return out.join('');
}

/** The oadrSignedObject element, declaring the payload namespaces itself (so it can be signed on its own). */
export function encodeSignedObject(name: MessageName, body: Body, id?: string): string {
  const idAttr = id === undefined ? '' : ` oadr:Id="${escAttr(id)}"`;
  return `<oadr:oadrSignedObject${ROOT_NS}${idAttr}>${encodeMessage(name, body)}</oadr:oadrSignedObject>`;
}

/** A whole document: `<oadr:oadrPayload>` with an optional signature and the signed object. */
export function encodePayload(name: MessageName, body: Body, opts: EncodeOptions = {}): string {
  return `<?xml version="1.0" encoding="utf-8"?>\n<oadr:oadrPayload xmlns:oadr="${NS.oadr}">${opts.signatureXml ?? ''}${encodeSignedObject(name, body, opts.signedObjectId)}</oadr:oadrPayload>`;
}

// ---------------------------------------------------------------- decoding

function checkLeaf(leaf: Leaf, s: string, path: string): void {
  const bad = (what: string): never => {
    throw new Oadr2bSchemaError(path, `'${s.length > 60 ? `${s.slice(0, 60)}…` : s}' is not ${what}`);
  };
  switch (leaf.t) {
    case 'dateTime':
      if (!DATE_TIME.test(s) || !Number.isFinite(Date.parse(/Z$/.test(s) ? s : `${s}Z`))) bad('a date-time (YYYY-MM-DDThh:mm:ss[.s]Z)');
      return;
    case 'duration':
      if (!DURATION.test(s) || s === 'P' || s === 'PT') bad('an ISO 8601 duration');
      return;
    case 'code':
      if (!/^\d{3}$/.test(s)) bad('a three-digit response code');
      return;
    case 'currency':
      if (!/^[A-Z]{3}$/.test(s)) bad('an ISO 4217 currency code');
      return;
    case 'enum':
      if (!leaf.values.includes(s) && !(leaf.ext && /^x-\S.*$/.test(s))) bad(`one of ${leaf.values.join(', ')}${leaf.ext ? ' or an x- extension' : ''}`);
      return;
    case 'fixed':
      if (s !== leaf.value) bad(`'${leaf.value}'`);
      return;
    case 'uri':
      if (/\s/.test(s) && s.trim() !== s) bad('a URI');
      return;
    default:
      return;
  }
}

const TOKEN_TYPES = new Set(['boolean', 'uint', 'float', 'decimal', 'dateTime', 'duration', 'code', 'currency', 'enum', 'fixed', 'uri']);

function decodeLeaf(leaf: Leaf, el: XElement, path: string): unknown {
  if (elementsOf(el).length) throw new Oadr2bSchemaError(path, 'expected text, found elements');
  const raw = textOf(el);
  // xs:token and the numeric and date types collapse whitespace.
  const s = TOKEN_TYPES.has(leaf.t) ? raw.replace(/\s+/g, ' ').trim() : raw;
  switch (leaf.t) {
    case 'boolean':
      if (s === 'true' || s === '1') return true;
      if (s === 'false' || s === '0') return false;
      throw new Oadr2bSchemaError(path, `'${s}' is not a boolean`);
    case 'uint': {
      if (!/^\+?\d+$/.test(s)) throw new Oadr2bSchemaError(path, `'${s}' is not an unsigned integer`);
      const n = Number(s);
      if (n > 4294967295 || (leaf.min !== undefined && n < leaf.min) || (leaf.max !== undefined && n > leaf.max)) throw new Oadr2bSchemaError(path, `${s} is out of range`);
      return n;
    }
    case 'float':
      if (!FLOAT.test(s)) throw new Oadr2bSchemaError(path, `'${s}' is not a number`);
      return s === 'INF' ? Infinity : s === '-INF' ? -Infinity : Number(s);
    case 'decimal':
      if (!DECIMAL.test(s)) throw new Oadr2bSchemaError(path, `'${s}' is not a decimal`);
      return Number(s);
    default:
      checkLeaf(leaf, s, path);
      return s;
  }
}

function decodeField(field: Field, el: XElement, path: string): unknown {
  const t = resolve(field.type);
  if (isOpaque(t)) return el;
  if (isComplex(t)) return decodeComplex(t, el, path);
  return decodeLeaf(t, el, path);
}

const is = (el: XElement, f: Field): boolean => el.local === f.name && el.uri === URI_OF[f.ns];
const show = (el: XElement): string => `<${PREFIX_OF.get(el.uri) ?? `{${el.uri}}`}:${el.local}> (line ${el.line})`;

function decodeComplex(t: Complex, el: XElement, path: string): Body {
  for (const c of el.children) {
    if (typeof c === 'string' && c.trim() !== '') throw new Oadr2bSchemaError(path, `unexpected text '${c.trim().slice(0, 40)}'`);
  }
  const kids = elementsOf(el);
  const out: Body = {};
  let i = 0;
  for (const item of t.seq) {
    if ('choice' in item) {
      const found: Body[] = [];
      while (i < kids.length && (item.max === 'n' || found.length === 0)) {
        const kid = kids[i]!;
        const field = item.choice.find((x) => is(kid, x));
        if (!field) break;
        found.push({ [field.name]: decodeField(field, kid, `${path}/${field.name}`) });
        i++;
      }
      if (found.length === 0 && item.min === 1) {
        throw new Oadr2bSchemaError(path, `expected one of ${item.choice.map((x) => x.name).join(', ')}${kids[i] ? `, found ${show(kids[i]!)}` : ''}`);
      }
      if (found.length) out[item.key] = item.max === 'n' ? found : found[0];
      continue;
    }
    const found: unknown[] = [];
    while (i < kids.length && is(kids[i]!, item) && (item.max === 'n' || found.length === 0)) {
      found.push(decodeField(item, kids[i]!, `${path}/${item.name}${item.max === 'n' ? `[${found.length}]` : ''}`));
      i++;
    }
    if (found.length === 0 && item.min === 1) {
      throw new Oadr2bSchemaError(path, `missing <${item.ns}:${item.name}>${kids[i] ? `, found ${show(kids[i]!)}` : ''}`);
    }
    if (found.length) out[item.name] = item.max === 'n' ? found : found[0];
  }
  if (i < kids.length) throw new Oadr2bSchemaError(path, `unexpected ${show(kids[i]!)}`);
  return out;
}

export interface DecodedPayload {
  name: MessageName;
  body: Body;
  root: XElement;
  signedObject: XElement;
  /** The ds:Signature element, when the payload is signed. */
  signature?: XElement;
}

/**
 * Parses and validates a document. Throws `XmlError` (not well-formed, DOCTYPE, limits) or
 * `Oadr2bSchemaError` (structure, order, occurrence or value against the 2.0b schemas).
 */
export function decodePayload(xml: string, limits: XmlLimits = DEFAULT_LIMITS): DecodedPayload {
  const root = parseXml(xml, limits);
  if (root.local !== 'oadrPayload' || root.uri !== NS.oadr) throw new Oadr2bSchemaError('/', `the document element must be oadr:oadrPayload, found ${show(root)}`);
  for (const c of root.children) {
    if (typeof c === 'string' && c.trim() !== '') throw new Oadr2bSchemaError('oadrPayload', 'unexpected text');
  }
  const kids = elementsOf(root);
  let signature: XElement | undefined;
  let k = 0;
  if (kids[0] && kids[0].local === 'Signature' && kids[0].uri === NS.ds) signature = kids[k++];
  const signedObject = kids[k++];
  if (!signedObject || signedObject.local !== 'oadrSignedObject' || signedObject.uri !== NS.oadr) {
    throw new Oadr2bSchemaError('oadrPayload', `missing <oadr:oadrSignedObject>${signedObject ? `, found ${show(signedObject)}` : ''}`);
  }
  if (kids[k]) throw new Oadr2bSchemaError('oadrPayload', `unexpected ${show(kids[k]!)}`);
  for (const c of signedObject.children) {
    if (typeof c === 'string' && c.trim() !== '') throw new Oadr2bSchemaError('oadrSignedObject', 'unexpected text');
  }
  const inner = elementsOf(signedObject);
  if (inner.length !== 1) throw new Oadr2bSchemaError('oadrSignedObject', `must hold exactly one message, found ${inner.length}`);
  const msg = inner[0]!;
  if (msg.uri !== NS.oadr || !(msg.local in MESSAGES)) throw new Oadr2bSchemaError('oadrSignedObject', `${show(msg)} is not an OpenADR 2.0b message`);
  const name = msg.local as MessageName;
  return { name, body: decodeComplex(MESSAGES[name], msg, name), root, signedObject, ...(signature ? { signature } : {}) };
}

export { XmlError };

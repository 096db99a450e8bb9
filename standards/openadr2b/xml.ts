/**
 * A small namespace-aware XML tree for OpenADR 2.0b, built on sax (strict mode), with the limits an
 * internet-facing endpoint needs, and Exclusive XML Canonicalization (xml-exc-c14n, without comments)
 * for XML signatures. Pure: no I/O.
 */
import sax from 'sax';

export const XMLNS_URI = 'http://www.w3.org/2000/xmlns/';
export const XML_URI = 'http://www.w3.org/XML/1998/namespace';

export interface XAttr {
  prefix: string;
  local: string;
  uri: string;
  value: string;
}

export interface XElement {
  prefix: string;
  local: string;
  uri: string;
  attrs: XAttr[];
  /** Elements and text, in document order. */
  children: Array<XElement | string>;
  parent?: XElement;
  /** 1-based line of the start tag, for error messages. */
  line: number;
}

/** Why a document was refused: not well-formed, or over a limit. `code` is stable. */
export class XmlError extends Error {
  constructor(
    readonly code: 'NOT_WELL_FORMED' | 'DOCTYPE_REFUSED' | 'TOO_DEEP' | 'TOO_MANY_NODES' | 'TOO_LARGE',
    message: string,
  ) {
    super(message);
  }
}

export interface XmlLimits {
  maxBytes: number;
  maxDepth: number;
  maxNodes: number;
}

export const DEFAULT_LIMITS: XmlLimits = { maxBytes: 4 * 1024 * 1024, maxDepth: 48, maxNodes: 200_000 };

/**
 * Parses a document. A DOCTYPE is refused outright (no DTDs, so no entity expansion: "billion laughs"
 * and external entities cannot happen); only the five predefined entities and character references
 * are decoded. Processing instructions other than the XML declaration are refused.
 */
export function parseXml(text: string, limits: XmlLimits = DEFAULT_LIMITS): XElement {
  if (text.length > limits.maxBytes) throw new XmlError('TOO_LARGE', `document is over ${limits.maxBytes} bytes`);
  const p = sax.parser(true, { xmlns: true, position: true, trim: false, normalize: false });
  let root: XElement | undefined;
  let current: XElement | undefined;
  let depth = 0;
  let nodes = 0;
  let failure: Error | undefined;
  const fail = (e: Error): void => {
    if (!failure) failure = e;
  };
  p.onerror = (e) => {
    fail(new XmlError('NOT_WELL_FORMED', `not well-formed XML: ${e.message.split('\n').slice(0, 2).join(', ')}`));
    // sax would otherwise go on; we stop at the first error.
    throw failure;
  };
  p.ondoctype = () => {
    fail(new XmlError('DOCTYPE_REFUSED', 'a DOCTYPE is not accepted (no DTDs, no entity declarations)'));
    throw failure;
  };
  p.onprocessinginstruction = (pi) => {
    if (pi.name.toLowerCase() !== 'xml') {
      fail(new XmlError('NOT_WELL_FORMED', `processing instruction <?${pi.name}?> is not accepted`));
      throw failure;
    }
  };
  p.onopentag = (tag) => {
    const t = tag as sax.QualifiedTag;
    depth++;
    nodes++;
    if (depth > limits.maxDepth) {
      fail(new XmlError('TOO_DEEP', `elements nest deeper than ${limits.maxDepth}`));
      throw failure;
    }
    if (nodes > limits.maxNodes) {
      fail(new XmlError('TOO_MANY_NODES', `more than ${limits.maxNodes} nodes`));
      throw failure;
    }
    const attrs: XAttr[] = [];
    for (const a of Object.values(t.attributes) as sax.QualifiedAttribute[]) {
      if (a.uri === XMLNS_URI || a.name === 'xmlns') continue;
      attrs.push({ prefix: a.prefix, local: a.local, uri: a.uri, value: a.value });
    }
    const el: XElement = { prefix: t.prefix, local: t.local, uri: t.uri, attrs, children: [], line: p.line + 1 };
    if (current) {
      el.parent = current;
      current.children.push(el);
    } else if (!root) {
      root = el;
    }
    current = el;
  };
  p.onclosetag = () => {
    depth--;
    current = current?.parent;
  };
  const onText = (s: string): void => {
    if (!current) return;
    nodes++;
    if (nodes > limits.maxNodes) {
      fail(new XmlError('TOO_MANY_NODES', `more than ${limits.maxNodes} nodes`));
      throw failure;
    }
    const last = current.children[current.children.length - 1];
    if (typeof last === 'string') current.children[current.children.length - 1] = last + s;
    else current.children.push(s);
  };
  p.ontext = onText;
  p.oncdata = onText;
  try {
    p.write(text).close();
  } catch (e) {
    throw failure ?? new XmlError('NOT_WELL_FORMED', `not well-formed XML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (failure) throw failure;
  if (!root) throw new XmlError('NOT_WELL_FORMED', 'no document element');
  return root;
}

/** The element children of `el` (text between them is returned separately by `textOf`). */
export function elementsOf(el: XElement): XElement[] {
  return el.children.filter((c): c is XElement => typeof c !== 'string');
}

export function textOf(el: XElement): string {
  let s = '';
  for (const c of el.children) if (typeof c === 'string') s += c;
  return s;
}

export function escText(s: string): string {
  return s.replace(/[&<>\r]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&#xD;'));
}

export function escAttr(s: string): string {
  return s.replace(/[&<"\t\n\r]/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '"' ? '&quot;' : c === '\t' ? '&#x9;' : c === '\n' ? '&#xA;' : '&#xD;',
  );
}

function qname(prefix: string, local: string): string {
  return prefix ? `${prefix}:${local}` : local;
}

/**
 * Exclusive XML Canonicalization 1.0 (https://www.w3.org/TR/xml-exc-c14n/), without comments, of the
 * subtree at `apex`: namespace declarations only where visibly utilized and not already rendered by an
 * output ancestor, declarations sorted by prefix and attributes by (namespace URI, local name), empty
 * elements as start and end tags, C14N text and attribute escaping.
 */
export function excC14n(apex: XElement): string {
  const out: string[] = [];
  const walk = (el: XElement, rendered: Map<string, string>): void => {
    const needed = new Map<string, string>();
    const use = (prefix: string, uri: string): void => {
      if (prefix === 'xml') return;
      if (rendered.get(prefix) !== uri) needed.set(prefix, uri);
    };
    // The default namespace is visibly utilized by an unprefixed element (even when it is "no namespace").
    if (el.prefix) use(el.prefix, el.uri);
    else if ((rendered.get('') ?? '') !== el.uri) needed.set('', el.uri);
    for (const a of el.attrs) if (a.prefix) use(a.prefix, a.uri);
    let s = `<${qname(el.prefix, el.local)}`;
    const decls = [...needed.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [prefix, uri] of decls) s += prefix ? ` xmlns:${prefix}="${escAttr(uri)}"` : ` xmlns="${escAttr(uri)}"`;
    const attrs = [...el.attrs].sort((a, b) => {
      const ua = a.prefix ? a.uri : '';
      const ub = b.prefix ? b.uri : '';
      if (ua !== ub) return ua < ub ? -1 : 1;
      return a.local < b.local ? -1 : a.local > b.local ? 1 : 0;
    });
    for (const a of attrs) s += ` ${qname(a.prefix, a.local)}="${escAttr(a.value)}"`;
    out.push(s + '>');
    let next = rendered;
    if (needed.size) {
      next = new Map(rendered);
      for (const [k, v] of needed) next.set(k, v);
    }
    for (const c of el.children) {
      if (typeof c === 'string') out.push(escText(c.replace(/\r\n?/g, '\n')));
      else walk(c, next);
    }
    out.push(`</${qname(el.prefix, el.local)}>`);
  };
  walk(apex, new Map());
  return out.join('');
}

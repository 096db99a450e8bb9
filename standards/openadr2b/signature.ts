/**
 * OpenADR 2.0b XML signatures: a detached XML-DSig (RSA-SHA256, exclusive C14N) over oadrSignedObject,
 * with a ReplayProtect signature property (timestamp and nonce), and the VEN/VTN certificate
 * fingerprint. Keys are KeyObjects made once by the caller; certificates met in KeyInfo are cached.
 */
import { createHash, randomBytes, sign as rsaSign, verify as rsaVerify, X509Certificate, type KeyObject } from 'node:crypto';
import { encodePayload, encodeSignedObject, type Body, type DecodedPayload } from './codec.js';
import { NS, type MessageName } from './schema.js';
import { elementsOf, escAttr, excC14n, parseXml, textOf, type XElement } from './xml.js';

export const ALG = {
  excC14n: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  rsaSha256: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  sha256: 'http://www.w3.org/2001/04/xmlenc#sha256',
  signatureProperties: 'http://www.w3.org/2000/09/xmldsig#SignatureProperties',
} as const;

/** Why a signature was refused; `reason` is stable. */
export class Oadr2bSignatureError extends Error {
  constructor(
    readonly reason: 'MISSING' | 'MALFORMED' | 'ALGORITHM' | 'DIGEST' | 'SIGNATURE' | 'CERTIFICATE' | 'REPLAY' | 'STALE',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The OpenADR certificate fingerprint: the last 10 bytes of the SHA-256 of the DER certificate, as
 * colon-separated upper-case hex.
 */
export function certFingerprint(cert: X509Certificate | Buffer | string): string {
  const c = cert instanceof X509Certificate ? cert : new X509Certificate(cert);
  return c.fingerprint256.split(':').slice(-10).join(':');
}

export interface SigningIdentity {
  key: KeyObject;
  /** The certificate sent in KeyInfo (the peer checks it against the TLS identity). */
  cert: X509Certificate;
}

const b64 = (b: Buffer): string => b.toString('base64');
const digest = (s: string): string => createHash('sha256').update(s, 'utf8').digest('base64');

function reference(uri: string, digestValue: string, type?: string): string {
  const t = type ? ` Type="${type}"` : '';
  return `<ds:Reference${t} URI="${escAttr(uri)}"><ds:Transforms><ds:Transform Algorithm="${ALG.excC14n}"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="${ALG.sha256}"></ds:DigestMethod><ds:DigestValue>${digestValue}</ds:DigestValue></ds:Reference>`;
}

/** Signs a message: returns the whole oadrPayload document with its ds:Signature. */
export function signPayload(name: MessageName, body: Body, id: SigningIdentity, now = Date.now(), nonce = randomBytes(16).toString('hex')): string {
  const objectId = `oadrSignedObject-${nonce.slice(0, 12)}`;
  const signedObject = encodeSignedObject(name, body, objectId);
  const objectDigest = digest(excC14n(parseXml(signedObject)));
  const propId = `prop-${nonce.slice(0, 12)}`;
  const sigId = `sig-${nonce.slice(0, 12)}`;
  // Written in canonical form, so its digest is that of its own text.
  const property =
    `<ds:SignatureProperty xmlns:ds="${NS.ds}" Id="${propId}" Target="#${sigId}">` +
    `<dsp:ReplayProtect xmlns:dsp="${NS.dsp}"><dsp:timestamp>${new Date(now).toISOString()}</dsp:timestamp><dsp:nonce>${nonce}</dsp:nonce></dsp:ReplayProtect>` +
    `</ds:SignatureProperty>`;
  const signedInfo =
    `<ds:SignedInfo xmlns:ds="${NS.ds}"><ds:CanonicalizationMethod Algorithm="${ALG.excC14n}"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm="${ALG.rsaSha256}"></ds:SignatureMethod>` +
    reference(`#${objectId}`, objectDigest) +
    reference(`#${propId}`, digest(property), ALG.signatureProperties) +
    `</ds:SignedInfo>`;
  const value = b64(rsaSign('sha256', Buffer.from(signedInfo, 'utf8'), id.key));
  const signature =
    `<ds:Signature xmlns:ds="${NS.ds}" Id="${sigId}">${signedInfo}<ds:SignatureValue>${value}</ds:SignatureValue>` +
    `<ds:KeyInfo><ds:X509Data><ds:X509Certificate>${b64(id.cert.raw)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>` +
    `<ds:Object><ds:SignatureProperties>${property}</ds:SignatureProperties></ds:Object></ds:Signature>`;
  const doc = encodePayload(name, body, { signatureXml: signature, signedObjectId: objectId });
  return doc;
}

export interface VerifyOptions {
  /** The fingerprint the signer must have (from the TLS client certificate or the registration). */
  expectedFingerprint?: string;
  /** How far the ReplayProtect timestamp may be from now (default 5 minutes). */
  maxSkewMs?: number;
  now?: number;
  nonces?: NonceCache;
}

/** Nonces seen within the replay window. */
export class NonceCache {
  private readonly seen = new Map<string, number>();
  constructor(private readonly windowMs = 10 * 60_000) {}
  /** False when the nonce was seen within the window. */
  add(nonce: string, now: number): boolean {
    if (this.seen.size > 10_000) for (const [k, t] of this.seen) if (now - t > this.windowMs) this.seen.delete(k);
    const t = this.seen.get(nonce);
    if (t !== undefined && now - t <= this.windowMs) return false;
    this.seen.set(nonce, now);
    return true;
  }
}

const certCache = new Map<string, { cert: X509Certificate; fingerprint: string }>();

function child(el: XElement, local: string, uri: string = NS.ds): XElement | undefined {
  return elementsOf(el).find((c) => c.local === local && c.uri === uri);
}
function must(el: XElement | undefined, local: string, uri: string = NS.ds): XElement {
  const c = el && child(el, local, uri);
  if (!c) throw new Oadr2bSignatureError('MALFORMED', `signature has no ${local}`);
  return c;
}
function attr(el: XElement, local: string): string | undefined {
  return el.attrs.find((a) => a.local === local)?.value;
}
function findById(root: XElement, id: string): XElement | undefined {
  const stack = [root];
  while (stack.length) {
    const el = stack.pop()!;
    if (el.attrs.some((a) => a.local === 'Id' && a.value === id)) return el;
    for (const c of el.children) if (typeof c !== 'string') stack.push(c);
  }
  return undefined;
}

/**
 * Verifies a decoded payload's signature: algorithms, every reference's digest (one must be the
 * oadrSignedObject), the RSA signature over the canonical SignedInfo, the certificate against the
 * expected fingerprint, and the ReplayProtect timestamp and nonce. Returns the signer's fingerprint.
 */
export function verifyPayload(decoded: DecodedPayload, opts: VerifyOptions = {}): string {
  const sig = decoded.signature;
  if (!sig) throw new Oadr2bSignatureError('MISSING', 'the message is not signed');
  const signedInfo = must(sig, 'SignedInfo');
  const c14nAlg = attr(must(signedInfo, 'CanonicalizationMethod'), 'Algorithm');
  const sigAlg = attr(must(signedInfo, 'SignatureMethod'), 'Algorithm');
  if (c14nAlg !== ALG.excC14n) throw new Oadr2bSignatureError('ALGORITHM', `canonicalization ${c14nAlg} is not supported (use ${ALG.excC14n})`);
  if (sigAlg !== ALG.rsaSha256) throw new Oadr2bSignatureError('ALGORITHM', `signature method ${sigAlg} is not supported (use ${ALG.rsaSha256})`);
  let coversObject = false;
  let replay: XElement | undefined;
  for (const ref of elementsOf(signedInfo).filter((e) => e.local === 'Reference' && e.uri === NS.ds)) {
    const uri = attr(ref, 'URI') ?? '';
    if (!uri.startsWith('#')) throw new Oadr2bSignatureError('MALFORMED', `reference '${uri}' is not a same-document reference`);
    const transforms = child(ref, 'Transforms');
    for (const t of transforms ? elementsOf(transforms) : []) {
      if (attr(t, 'Algorithm') !== ALG.excC14n) throw new Oadr2bSignatureError('ALGORITHM', `transform ${attr(t, 'Algorithm')} is not supported`);
    }
    if (attr(must(ref, 'DigestMethod'), 'Algorithm') !== ALG.sha256) throw new Oadr2bSignatureError('ALGORITHM', 'digest method must be SHA-256');
    const target = findById(decoded.root, uri.slice(1));
    if (!target) throw new Oadr2bSignatureError('MALFORMED', `reference ${uri} points at nothing`);
    if (digest(excC14n(target)) !== textOf(must(ref, 'DigestValue')).trim()) throw new Oadr2bSignatureError('DIGEST', `digest of ${uri} does not match: the content was changed`);
    if (target === decoded.signedObject) coversObject = true;
    if (target.local === 'SignatureProperty') replay = child(target, 'ReplayProtect', NS.dsp);
  }
  if (!coversObject) throw new Oadr2bSignatureError('MALFORMED', 'the signature does not cover oadrSignedObject');
  const certText = textOf(must(must(must(sig, 'KeyInfo'), 'X509Data'), 'X509Certificate')).replace(/\s+/g, '');
  let entry = certCache.get(certText);
  if (!entry) {
    try {
      const cert = new X509Certificate(Buffer.from(certText, 'base64'));
      entry = { cert, fingerprint: certFingerprint(cert) };
    } catch {
      throw new Oadr2bSignatureError('CERTIFICATE', 'KeyInfo does not hold a readable X.509 certificate');
    }
    if (certCache.size > 1000) certCache.clear();
    certCache.set(certText, entry);
  }
  if (opts.expectedFingerprint && entry.fingerprint !== opts.expectedFingerprint) {
    throw new Oadr2bSignatureError('CERTIFICATE', `signed with certificate ${entry.fingerprint}, expected ${opts.expectedFingerprint}`);
  }
  const value = Buffer.from(textOf(must(sig, 'SignatureValue')).replace(/\s+/g, ''), 'base64');
  if (!rsaVerify('sha256', Buffer.from(excC14n(signedInfo), 'utf8'), entry.cert.publicKey, value)) {
    throw new Oadr2bSignatureError('SIGNATURE', 'the signature value does not verify');
  }
  if (!replay) throw new Oadr2bSignatureError('REPLAY', 'no signed ReplayProtect property (timestamp and nonce)');
  const now = opts.now ?? Date.now();
  const ts = Date.parse(textOf(must(replay, 'timestamp', NS.dsp)).trim());
  const skew = opts.maxSkewMs ?? 5 * 60_000;
  if (!Number.isFinite(ts) || Math.abs(now - ts) > skew) throw new Oadr2bSignatureError('STALE', `ReplayProtect timestamp is more than ${skew / 1000} s from now`);
  const nonce = textOf(must(replay, 'nonce', NS.dsp)).trim();
  if (opts.nonces && !opts.nonces.add(nonce, now)) throw new Oadr2bSignatureError('REPLAY', 'this nonce was seen before: a replayed message');
  return entry.fingerprint;
}

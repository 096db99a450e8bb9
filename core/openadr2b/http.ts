import { request as httpRequest, type Agent as HttpAgent } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { certFingerprint } from '../../standards/openadr2b/signature.js';

export interface PostOptions {
  timeoutMs: number;
  /** A keep-alive agent (the VEN's); otherwise per-request TLS settings below. */
  agent?: HttpAgent | HttpsAgent;
  identity?: { certPem: string; keyPem: string };
  ca?: string;
  /** Extra request headers (the VEN's HTTP Basic credentials on plain HTTP). */
  headers?: Record<string, string>;
}

/**
 * POSTs one OpenADR 2.0b payload (`application/xml`); resolves with the status, the body and, over
 * TLS, the server certificate's OpenADR fingerprint (to check a signed answer against). Used by the
 * VEN and by the VTN's push delivery.
 */
export async function postXml(url: string, xml: string, o: PostOptions): Promise<{ status: number; body: string; fingerprint?: string }> {
  try {
    return await postOnce(url, xml, o);
  } catch (e) {
    // A kept-alive socket the server had closed while it was idle (we had not seen its FIN yet, e.g. because our
    // event loop was busy): the request never reached the server, so sending it once more on a fresh one is safe.
    if ((e as { staleSocket?: boolean }).staleSocket) return postOnce(url, xml, o);
    throw e;
  }
}

function postOnce(url: string, xml: string, o: PostOptions): Promise<{ status: number; body: string; fingerprint?: string }> {
  const u = new URL(url);
  const isHttps = u.protocol === 'https:';
  const fn = isHttps ? httpsRequest : httpRequest;
  const tls = isHttps && !o.agent ? { ...(o.identity ? { cert: o.identity.certPem, key: o.identity.keyPem } : {}), ...(o.ca ? { ca: o.ca } : {}), minVersion: 'TLSv1.2' as const } : {};
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = fn(u, { method: 'POST', headers: { ...o.headers, 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) }, timeout: o.timeoutMs, ...(o.agent ? { agent: o.agent } : {}), ...tls }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      const sock = res.socket as TLSSocket;
      const cert = isHttps && typeof sock.getPeerCertificate === 'function' ? sock.getPeerCertificate(false) : undefined;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ...(cert?.raw ? { fingerprint: certFingerprint(cert.raw) } : {}) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${u.host} within ${o.timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (req.reusedSocket && !answered && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) Object.assign(e, { staleSocket: true });
      reject(e);
    });
    req.end(xml);
  });
}

import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { GfError } from '../../core/index.js';
import { Oa3Errors } from './errors.js';

export interface WebhookPolicy {
  /** Hosts that may be called over plain http (development only, e.g. 127.0.0.1). */
  allowHttpHosts: readonly string[];
  /** Hosts exempt from the private/loopback address check (development and tests). */
  allowPrivateHosts: readonly string[];
  timeoutMs: number;
}

// Definition §Webhooks "Check for private IPs and reserved IPs": loopback, private, link-local,
// CGNAT, multicast and reserved ranges, IPv4 and IPv6.
const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, bits, 'ipv4');
// (IPv4-mapped IPv6 addresses are unwrapped and checked as IPv4: a ::ffff:0:0/96 rule in a
// BlockList would also match every plain IPv4 address.)
for (const [net, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96]] as const) blocked.addSubnet(net, bits, 'ipv6');

export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return isPrivateAddress(mapped[1]!);
  const hexMapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (hexMapped) {
    const hi = parseInt(hexMapped[1]!, 16);
    const lo = parseInt(hexMapped[2]!, 16);
    return isPrivateAddress(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
  }
  const family = isIP(address);
  if (family === 0) return true;
  return blocked.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Refuses a callback URL that is not https (unless its host is allowed plain http), has
 * credentials, or resolves to a private or reserved address (unless its host is exempt).
 * Checked when a subscription is written and again before every delivery (DNS may change).
 */
export async function checkCallbackUrl(raw: string, policy: WebhookPolicy): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new GfError(Oa3Errors.GF_OA3_CALLBACK_REJECTED, `callbackUrl '${raw}' is not a URL`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttpHosts.includes(host))) {
    throw new GfError(Oa3Errors.GF_OA3_CALLBACK_REJECTED, `callbackUrl must use https (Definition §Webhooks); got ${url.protocol}//${url.host}`);
  }
  if (url.username || url.password) throw new GfError(Oa3Errors.GF_OA3_CALLBACK_REJECTED, 'callbackUrl must not carry credentials');
  if (!policy.allowPrivateHosts.includes(host)) {
    let addresses: string[];
    try {
      addresses = isIP(host) ? [host] : (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch (e) {
      throw new GfError(Oa3Errors.GF_OA3_CALLBACK_REJECTED, `callbackUrl host ${host} does not resolve: ${(e as Error).message}`);
    }
    const bad = addresses.find(isPrivateAddress);
    if (bad) throw new GfError(Oa3Errors.GF_OA3_CALLBACK_REJECTED, `callbackUrl host ${host} resolves to a private or reserved address (${bad})`);
  }
  return url;
}

/**
 * The echo challenge (Definition §Webhooks): GET callbackUrl?echo=<random>; the endpoint must answer
 * 200 with the value in its body. No redirects are followed.
 */
export async function echoChallenge(raw: string, bearerToken: string | null | undefined, policy: WebhookPolicy): Promise<void> {
  const url = await checkCallbackUrl(raw, policy);
  const echo = randomBytes(18).toString('base64url');
  url.searchParams.set('echo', echo);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'GET',
      redirect: 'manual',
      headers: bearerToken ? { authorization: `Bearer ${bearerToken}` } : {},
      signal: AbortSignal.timeout(policy.timeoutMs),
    });
  } catch (e) {
    throw new GfError(Oa3Errors.GF_OA3_CALLBACK_REJECTED, `callbackUrl did not answer the echo challenge: ${(e as Error).message}`);
  }
  const body = await res.text().catch(() => '');
  if (res.status !== 200 || !body.includes(echo)) {
    throw new GfError(Oa3Errors.GF_OA3_CALLBACK_REJECTED, `callbackUrl failed the echo challenge (status ${res.status}${res.status === 200 ? ', echo value missing from the body' : ''})`);
  }
}

import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  authorization: string | undefined;
  body: any;
}

/**
 * A webhook endpoint on loopback for tests: answers the echo challenge, records POSTed
 * notifications, and can be told to fail (status) or to answer the challenge wrongly.
 */
export async function startReceiver(): Promise<{
  url: string;
  received: Received[];
  challenges: { path: string; echo: string | null; authorization: string | undefined }[];
  mode: { status: number; echo: 'right' | 'wrong' | 'redirect' };
  close(): Promise<void>;
}> {
  const received: Received[] = [];
  const challenges: { path: string; echo: string | null; authorization: string | undefined }[] = [];
  const mode = { status: 200, echo: 'right' as 'right' | 'wrong' | 'redirect' };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET') {
      const echo = u.searchParams.get('echo');
      challenges.push({ path: u.pathname, echo, authorization: req.headers.authorization });
      if (mode.echo === 'redirect') {
        res.writeHead(302, { location: `http://127.0.0.1:1/${u.search}` }).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(mode.echo === 'right' ? (echo ?? '') : 'hello');
      return;
    }
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      if (mode.status >= 200 && mode.status < 300) received.push({ path: u.pathname, authorization: req.headers.authorization, body: JSON.parse(data) });
      res.writeHead(mode.status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    challenges,
    mode,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

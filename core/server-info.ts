import { readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

/** What a running server writes into its data folder so other commands can reach its API. */
export interface ServerInfo {
  pid: number;
  url: string;
  startedAt: string;
}

const NAME = 'gridflex.server.json';

export function writeServerInfo(dataDir: string, info: ServerInfo): void {
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(path.join(dataDir, NAME), JSON.stringify(info));
}

export function removeServerInfo(dataDir: string, pid = process.pid): void {
  const info = readServerInfo(dataDir);
  if (info && info.pid === pid) rmSync(path.join(dataDir, NAME), { force: true });
}

/** The server serving this data folder, if its process is alive. */
export function readServerInfo(dataDir: string): ServerInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(path.join(dataDir, NAME), 'utf8')) as ServerInfo;
    process.kill(info.pid, 0);
    return info;
  } catch {
    return undefined;
  }
}

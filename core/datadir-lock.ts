import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GfError, KernelErrors } from './errors.js';

/** What a lock file says about the process that holds the data folder. */
export interface LockInfo {
  pid: number;
  startedAt: string;
  /** The server's base URL once it listens, so other commands can go through its API. */
  url?: string;
  command: string;
}

export interface DataDirLock {
  readonly file: string;
  /** Records the server URL in the lock (after listen). */
  update(extra: Partial<LockInfo>): void;
  release(): void;
}

// Process-wide, not module-wide: two copies of this module (a plugin bundling the kernel, or tsx's
// CommonJS and ESM graphs under mocha) must still see one another's locks.
const heldHere: Set<string> = ((globalThis as Record<symbol, unknown>)[Symbol.for('gridflex.dataDirLocks')] ??= new Set<string>()) as Set<string>;
const LOCK_NAME = 'gridflex.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live holder of a data folder, if any (a lock left by a dead process does not count). */
export function readDataDirLock(dataDir: string): LockInfo | undefined {
  const file = path.join(path.resolve(dataDir), LOCK_NAME);
  let info: LockInfo;
  try {
    info = JSON.parse(readFileSync(file, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
  if (typeof info.pid !== 'number' || !alive(info.pid)) return undefined;
  if (info.pid === process.pid && !heldHere.has(file)) return undefined;
  return info;
}

/**
 * Takes the data folder for this process: the embedded engine is single-process, so a second
 * process (or a second open in this one) is refused with GF_STORAGE_LOCKED, naming the holder.
 * A lock left by a process that died (SIGKILL, power loss) is taken over.
 */
export function acquireDataDirLock(dataDir: string, command: string): DataDirLock {
  const dir = path.resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_NAME);
  let info: LockInfo = { pid: process.pid, startedAt: new Date().toISOString(), command };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeFileSync(fd, JSON.stringify(info));
      closeSync(fd);
      heldHere.add(file);
      return {
        file,
        update(extra) {
          info = { ...info, ...extra };
          writeFileSync(file, JSON.stringify(info));
        },
        release() {
          if (!heldHere.delete(file)) return;
          try {
            unlinkSync(file);
          } catch {
            /* already gone */
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = heldHere.has(file) ? { pid: process.pid, command: 'this process', startedAt: '' } as LockInfo : readDataDirLock(dir);
      if (holder) {
        const where = holder.url ? ` serving ${holder.url}` : '';
        throw new GfError(
          KernelErrors.GF_STORAGE_LOCKED,
          `data folder ${dir} is in use by gridflex (pid ${holder.pid}, ${holder.command}${where}); stop it, use its API, or pass another --data folder`,
          { data: { dataDir: dir, pid: holder.pid, url: holder.url } },
        );
      }
      try {
        unlinkSync(file); // stale: its process is gone
      } catch {
        /* someone else took it over; retry */
      }
    }
  }
  throw new GfError(KernelErrors.GF_STORAGE_LOCKED, `could not take the lock on data folder ${dir}`, { data: { dataDir: dir } });
}

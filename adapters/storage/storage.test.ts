import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStorage } from './open.js';
import { storageContract } from './storage.contract.js';
import { tempPostgresDatabase } from './testing/postgres.js';

storageContract('embedded PGlite (data folder)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-storage-'));
  const storage = await openStorage({ dataDir: dir, databaseUrl: undefined });
  return {
    storage,
    async dispose() {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

if (process.env.DATABASE_URL) {
  storageContract('PostgreSQL server (DATABASE_URL)', async () => {
    const db = (await tempPostgresDatabase())!;
    const storage = await openStorage({ dataDir: '', databaseUrl: db.url });
    return {
      storage,
      async dispose() {
        await storage.close();
        await db.drop();
      },
    };
  });
} else {
  describe('storage contract: PostgreSQL server (DATABASE_URL)', () => {
    it('runs when DATABASE_URL is set (.ci/run starts a server and sets it)');
  });
}

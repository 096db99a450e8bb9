import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Type } from 'typebox';
import { AuthErrors, definePlugin, GfError, KernelErrors, PartiesToken, StorageToken, type PluginCommand } from '../../core/index.js';
import { ReadingsParser } from '../meter-data/api.js';

/** The real household data the demo world is made of (public EDRP data, see ../shared/data/README.md), when present. */
const here = path.dirname(fileURLToPath(import.meta.url));
const DEFAULT_READINGS = [path.resolve(here, '../../..'), path.resolve(here, '../../../..')] // from sources, and from dist/
  .map((root) => path.join(root, 'shared', 'data', 'edrp_scotland_200hh_halfhourly_2009-03_2009-05.csv'))
  .find((f) => existsSync(f)) ?? 'shared/data/edrp_scotland_200hh_halfhourly_2009-03_2009-05.csv';
const DAY_MS = 86_400_000;

const USAGE = `Usage: gridflex demo [--readings FILE] [--prosumers N] [--days N] [--password PW] [--json]
Seeds a small world on this data folder, so the HMI has something to show at once: DSO 'dso-demo', aggregator
'agg-demo' with prosumers 'prosumer-1'..N in its portfolio, each with a site and one real household meter
(the first N households of FILE, a wide half-hourly kWh CSV; default: the EDRP file in ../shared/data), and the
first --days days of their readings. Prints each party's password (generated unless --password) once.`;

type Deps = { provided: object; deps: { storage: import('../../core/index.js').Storage; parties: import('../../core/index.js').PartiesService } };

export const demoCommand: PluginCommand = {
  summary: 'seed a demo world: a DSO, an aggregator and prosumers with a week of real meter data',
  usage: USAGE,
  async run(args, ctx, io) {
    const { storage, parties } = (ctx as unknown as Deps).deps;
    let v;
    try {
      v = parseArgs({ args, options: { readings: { type: 'string' }, prosumers: { type: 'string' }, days: { type: 'string' }, password: { type: 'string' }, json: { type: 'boolean' } }, strict: true }).values;
    } catch (e) {
      throw new GfError(KernelErrors.GF_CLI_USAGE, (e as Error).message.split('\n')[0]!);
    }
    const n = Number(v.prosumers ?? 5);
    const days = Number(v.days ?? 7);
    if (!Number.isInteger(n) || n < 1 || n > 50) throw new GfError(KernelErrors.GF_CLI_USAGE, '--prosumers must be a whole number from 1 to 50');
    if (!Number.isInteger(days) || days < 1 || days > 60) throw new GfError(KernelErrors.GF_CLI_USAGE, '--days must be a whole number from 1 to 60');
    const file = v.readings ?? DEFAULT_READINGS;
    if (!existsSync(file)) throw new GfError(KernelErrors.GF_CLI_USAGE, `no readings file ${file}: pass --readings FILE (a wide half-hourly kWh CSV, one column per household)`);
    if ((await parties.parties()).some((p) => p.id === 'agg-demo')) throw new GfError(AuthErrors.GF_PARTY_CONFLICT, 'this data folder already has the demo world (party agg-demo exists)');
    const header = readFileSync(file, 'utf8').split('\n', 1)[0]!.split(',');
    const meters = header.slice(1, n + 1).map((m) => m.trim());
    if (meters.length < n) throw new GfError(KernelErrors.GF_CLI_USAGE, `${file} has ${meters.length} meter columns; asked for ${n}`);
    const parser = new ReadingsParser({ meters, unit: 'kWh' });
    for (const line of readFileSync(file, 'utf8').split('\n')) parser.line(line);
    const parsed = parser.finish();
    const pw = () => v.password ?? randomBytes(9).toString('base64url');
    const made: { id: string; role: string; password: string; meter?: string }[] = [];
    const add = async (id: string, role: string, name: string, meter?: string) => {
      const password = pw();
      await parties.addParty({ id, role, name, password });
      made.push({ id, role, password, ...(meter ? { meter } : {}) });
    };
    await add('dso-demo', 'dso', 'Demo DSO');
    await add('agg-demo', 'aggregator', 'Demo aggregator');
    let written = 0;
    for (let i = 0; i < n; i++) {
      const id = `prosumer-${i + 1}`;
      await add(id, 'prosumer', `Demo prosumer ${i + 1}`, meters[i]);
      await parties.addSite(id, { id: `site-${i + 1}`, name: `Site ${i + 1}`, meters: [meters[i]!] });
      await parties.enrol('agg-demo', id);
      const s = parsed.series.find((x) => x.meterId === meters[i]);
      if (!s || s.ts.length === 0) continue;
      const end = s.ts[0]! + days * DAY_MS;
      const k = s.ts.findIndex((t) => t >= end);
      const cut = k === -1 ? s.ts.length : k;
      const w = await storage.readings.writeSeries({ meterId: s.meterId, quantity: parsed.quantity, resolutionS: parsed.resolutionS, unit: parsed.unit }, s.ts.slice(0, cut), s.values.slice(0, cut), { onConflict: 'replace' });
      written += w.written;
    }
    if (v.json) io.out(JSON.stringify({ parties: made, readings: written }));
    else {
      io.out(`demo world: ${made.length} parties, ${written.toLocaleString('en-US')} readings (${days} days of ${n} households from ${path.basename(file)})`);
      for (const p of made) io.out(`  ${p.id.padEnd(12)} ${p.role.padEnd(10)} password ${p.password}${p.meter ? `  meter ${p.meter}` : ''}`);
      io.out('Sign in at /hmi/login; the passwords are shown once.');
    }
    return 0;
  },
};

/** `gridflex demo`: a demo world for newcomers (no routes, no state of its own). */
export default definePlugin({
  manifest: { id: 'demo', version: '0.2.0', kernel: '^0.2.0', description: 'gridflex demo: seeds a DSO, an aggregator and prosumers with real meter data' },
  config: Type.Object({}, { additionalProperties: false }),
  deps: { storage: StorageToken, parties: PartiesToken },
  commands: { demo: demoCommand },
  async start() {},
});

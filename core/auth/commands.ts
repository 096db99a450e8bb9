import { parseArgs } from 'node:util';
import { GfError, KernelErrors } from '../errors.js';
import type { PluginCommand } from '../plugin/define.js';
import type { PartiesService } from './parties.js';

type Ctx = { provided: { parties: PartiesService } };

function usage(message: string): GfError {
  return new GfError(KernelErrors.GF_CLI_USAGE, message);
}

function parse(args: string[], options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>) {
  try {
    return parseArgs({ args, options: { ...options, json: { type: 'boolean' } }, strict: true, allowPositionals: false }).values as Record<string, string | boolean | string[] | undefined>;
  } catch (e) {
    throw usage((e as Error).message.split('\n')[0]!);
  }
}

const need = (v: unknown, flag: string): string => {
  if (typeof v !== 'string' || !v) throw usage(`--${flag} is required`);
  return v;
};

const PARTIES_USAGE = `Usage: gridflex parties add --id ID --role operator|dso|aggregator|prosumer --name NAME [--password-stdin]
       gridflex parties list [--role ROLE]
       gridflex parties disable --id ID
       gridflex parties site --party ID --id SITE [--meter M]... [--device D]...
       gridflex parties enrol --aggregator ID --prosumer ID
       gridflex parties client --party ID         (prints a client id and secret once)
       (all take --json, --config FILE and --data DIR)

Parties are who acts on the platform; their role and what they own decide what each route lets them do
(docs/security.md). A client credential is exchanged for an access token at POST /api/auth/token.`;

/** `gridflex parties …` */
export const partiesCommand: PluginCommand = {
  summary: 'manage parties, their sites, portfolios and client credentials',
  usage: PARTIES_USAGE,
  async run(args, ctx, io) {
    const svc = (ctx as unknown as Ctx).provided.parties;
    const [sub, ...rest] = args;
    const show = (json: unknown, text: string, v: Record<string, unknown>) => io.out(v.json ? JSON.stringify(json) : text);
    if (sub === 'add') {
      const v = parse(rest, { id: { type: 'string' }, role: { type: 'string' }, name: { type: 'string' }, 'password-stdin': { type: 'boolean' } });
      let password: string | undefined;
      if (v['password-stdin']) {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
      }
      const p = await svc.addParty({ id: need(v.id, 'id'), role: need(v.role, 'role'), name: need(v.name, 'name'), ...(password !== undefined ? { password } : {}) });
      show(p, `added ${p.role} '${p.id}' (${p.name})`, v);
      return 0;
    }
    if (sub === 'list') {
      const v = parse(rest, { role: { type: 'string' } });
      const list = await svc.parties(typeof v.role === 'string' ? { role: v.role as never } : {});
      if (v.json) io.out(JSON.stringify(list));
      else for (const p of list) io.out(`${p.id.padEnd(24)} ${p.role.padEnd(10)} ${p.disabled ? 'disabled ' : ''}${p.name}`);
      return 0;
    }
    if (sub === 'disable') {
      const v = parse(rest, { id: { type: 'string' } });
      const p = await svc.disable(need(v.id, 'id'));
      show(p, `disabled '${p.id}': its tokens, clients and sessions no longer work`, v);
      return 0;
    }
    if (sub === 'site') {
      const v = parse(rest, { party: { type: 'string' }, id: { type: 'string' }, meter: { type: 'string', multiple: true }, device: { type: 'string', multiple: true } });
      const s = await svc.addSite(need(v.party, 'party'), { id: need(v.id, 'id'), meters: v.meter ?? [], devices: v.device ?? [] });
      show(s, `site '${s.id}' of '${s.partyId}': meters ${s.meters.join(', ') || '-'}; devices ${s.devices.join(', ') || '-'}`, v);
      return 0;
    }
    if (sub === 'enrol') {
      const v = parse(rest, { aggregator: { type: 'string' }, prosumer: { type: 'string' } });
      await svc.enrol(need(v.aggregator, 'aggregator'), need(v.prosumer, 'prosumer'));
      const list = await svc.portfolio(v.aggregator as string);
      show({ aggregator: v.aggregator, prosumers: list }, `portfolio of '${String(v.aggregator)}': ${list.join(', ')}`, v);
      return 0;
    }
    if (sub === 'client') {
      const v = parse(rest, { party: { type: 'string' } });
      const c = await svc.addClient(need(v.party, 'party'));
      if (v.json) io.out(JSON.stringify(c));
      else {
        io.out(`client id:     ${c.clientId}`);
        io.out(`client secret: ${c.clientSecret}`);
        io.out('The secret is shown once; gridflex stores only its hash.');
      }
      return 0;
    }
    throw usage(sub ? `unknown parties command '${sub}'; try add, list, disable, site, enrol or client` : 'parties needs a command: add, list, disable, site, enrol or client');
  },
};

/** `gridflex tokens …` */
export const tokensCommand: PluginCommand = {
  summary: 'issue or revoke access tokens for a party',
  usage: `Usage: gridflex tokens issue --party ID [--ttl SECONDS] [--json]
       gridflex tokens revoke --jti TOKEN_ID
Prints a bearer token for the party (for scripts and first steps); prefer client credentials for services.`,
  async run(args, ctx, io) {
    const svc = (ctx as unknown as Ctx).provided.parties;
    const [sub, ...rest] = args;
    if (sub === 'issue') {
      const v = parse(rest, { party: { type: 'string' }, ttl: { type: 'string' } });
      const ttl = v.ttl === undefined ? undefined : Number(v.ttl);
      if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 60 || ttl > 30 * 86400)) throw usage('--ttl must be whole seconds from 60 to 2592000');
      const t = await svc.issue(await svc.party(need(v.party, 'party')), ttl);
      io.out(v.json ? JSON.stringify(t) : t.access_token);
      return 0;
    }
    if (sub === 'revoke') {
      const v = parse(rest, { jti: { type: 'string' } });
      await svc.revoke(need(v.jti, 'jti'));
      io.out(v.json ? JSON.stringify({ revoked: v.jti }) : `revoked ${String(v.jti)}`);
      return 0;
    }
    throw usage(sub ? `unknown tokens command '${sub}'; try issue or revoke` : 'tokens needs a command: issue or revoke');
  },
};

/** `gridflex audit` */
export const auditCommand: PluginCommand = {
  summary: 'show the audit trail of writes (who, what, when, request id)',
  usage: `Usage: gridflex audit [--party ID] [--after-id N] [--limit N] [--json]`,
  async run(args, ctx, io) {
    const svc = (ctx as unknown as Ctx).provided.parties;
    const v = parse(args, { party: { type: 'string' }, 'after-id': { type: 'string' }, limit: { type: 'string' } });
    const num = (x: unknown, flag: string) => {
      if (x === undefined) return undefined;
      if (typeof x !== 'string' || !/^\d{1,15}$/.test(x)) throw usage(`--${flag} must be a whole number`);
      return Number(x);
    };
    const afterId = num(v['after-id'], 'after-id');
    const limit = num(v.limit, 'limit');
    const list = await svc.audit({ ...(typeof v.party === 'string' ? { partyId: v.party } : {}), ...(afterId !== undefined ? { afterId } : {}), ...(limit !== undefined ? { limit } : {}) });
    if (v.json) io.out(JSON.stringify(list));
    else for (const e of list) io.out(`${String(e.id).padStart(6)} ${e.at} ${(e.partyId ?? '-').padEnd(16)} ${e.method.padEnd(6)} ${e.path} ${e.status} ${e.requestId}`);
    return 0;
  },
};

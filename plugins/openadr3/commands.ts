import { parseArgs } from 'node:util';
import { GfError, KernelErrors, type PluginCommand } from '../../core/index.js';
import type { ClientRole } from '../../standards/openadr3/types.js';
import type { Oa3Token } from './api.js';
import type { Oa3Config } from './config.js';

const USAGE = `Usage: gridflex clients add --role bl|ven --name NAME [--client-id ID] [--json]
       gridflex clients list [--json]
       (both also take --config FILE and --data DIR)

Provisions OAuth2 client credentials for the OpenADR 3 VTN. 'add' prints the client id and a
generated secret once (--json: {"clientId","clientSecret"} for scripts); only a hash is stored.
Roles: bl (business logic: utility, aggregator) and ven.`;

function usage(message: string): GfError {
  return new GfError(KernelErrors.GF_CLI_USAGE, message);
}

/** `gridflex clients …`: provision VTN clients out of band, as OpenADR 3 expects. */
export const clientsCommand: PluginCommand<Oa3Config, {}, { openadr3: typeof Oa3Token }> = {
  summary: 'provision OpenADR 3 client credentials (add, list)',
  usage: USAGE,
  async run(args, ctx, io) {
    const [sub, ...rest] = args;
    let parsed;
    try {
      parsed = parseArgs({
        args: rest,
        options: { role: { type: 'string' }, name: { type: 'string' }, 'client-id': { type: 'string' }, json: { type: 'boolean' } },
        strict: true,
      });
    } catch (e) {
      throw usage((e as Error).message.split('\n')[0]!);
    }
    const { values } = parsed;
    const registry = ctx.provided.openadr3.clients;
    if (sub === 'add') {
      if (values.role !== 'bl' && values.role !== 'ven') throw usage('--role must be bl or ven');
      if (!values.name) throw usage('--name is required');
      const created = await registry.add({ role: values.role as ClientRole, name: values.name, ...(values['client-id'] ? { clientId: values['client-id'] } : {}) });
      if (values.json) io.out(JSON.stringify(created));
      else {
        io.out(`client id:     ${created.clientId}`);
        io.out(`client secret: ${created.clientSecret}`);
        io.out('The secret is shown once; gridflex stores only its hash.');
      }
      return 0;
    }
    if (sub === 'list') {
      const all = await registry.list();
      if (values.json) io.out(JSON.stringify(all));
      else for (const c of all) io.out(`${c.clientId.padEnd(32)} ${c.role.padEnd(4)} ${c.name}`);
      return 0;
    }
    throw usage(sub ? `unknown clients command '${sub}'; try add or list` : 'clients needs a command: add or list');
  },
};

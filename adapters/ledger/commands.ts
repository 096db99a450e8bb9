import { parseArgs } from 'node:util';
import { GfError, KernelErrors, LedgerToken, type PluginCommand } from '../../core/index.js';
import { CONTRACT_NAMES } from './abi.js';
import type { LedgerConfig } from './config.js';

const USAGE = `Usage: gridflex ledger info [--json]
       gridflex ledger wallets [--json]
       gridflex ledger rebuild-mirror
       (all also take --config FILE and --data DIR; the server must not be running)

info: chain id, operator account, contract addresses, chain time.
wallets: the custodial wallets whose keys this ledger keeps (addresses and labels only).
rebuild-mirror: drops the event mirror in storage and indexes it again from the chain, with progress.`;

export const ledgerCommand: PluginCommand<LedgerConfig, {}, { ledger: typeof LedgerToken }> = {
  summary: 'ledger information, custodial wallets, rebuild the event mirror',
  usage: USAGE,
  async run(args, ctx, io) {
    const [sub, ...rest] = args;
    let json = false;
    try {
      json = parseArgs({ args: rest, options: { json: { type: 'boolean' } }, strict: true }).values.json ?? false;
    } catch (e) {
      throw new GfError(KernelErrors.GF_CLI_USAGE, (e as Error).message.split('\n')[0]!);
    }
    const { ledger } = ctx.provided;
    if (sub === 'info') {
      const info = {
        chainId: ledger.chainId,
        embedded: ledger.embedded,
        operator: ledger.operator,
        chainTime: await ledger.chainTime(),
        contracts: Object.fromEntries(CONTRACT_NAMES.map((n) => [n, ledger.addressOf(n)])),
      };
      if (json) io.out(JSON.stringify(info));
      else {
        io.out(`chain ${info.chainId} (${info.embedded ? 'embedded EVM' : 'remote node'}), operator ${info.operator}`);
        for (const [n, a] of Object.entries(info.contracts)) io.out(`${n.padEnd(22)} ${a}`);
      }
      return 0;
    }
    if (sub === 'wallets') {
      const all = await ledger.wallets();
      if (json) io.out(JSON.stringify(all));
      else for (const w of all) io.out(`${w.address} ${w.createdAt} ${w.label}`);
      return 0;
    }
    if (sub === 'rebuild-mirror') {
      let last = 0;
      const n = await ledger.rebuildMirror((block, head) => {
        if (block - last >= 10_000 || block === head) {
          io.err(`indexed to block ${block} of ${head}`);
          last = block;
        }
      });
      io.out(`${n} events indexed`);
      return 0;
    }
    throw new GfError(KernelErrors.GF_CLI_USAGE, sub ? `unknown ledger command '${sub}'; try info, wallets or rebuild-mirror` : 'ledger needs a command: info, wallets or rebuild-mirror');
  },
};

import { access, GfError, LedgerErrors, Router, invalidParam } from '../../core/index.js';
import { CONTRACT_NAMES } from './abi.js';
import { EVM_VERSION, SOLC_VERSION } from '../../contracts/_generated/index.js';
import type { LedgerService } from './ledger.js';

/** JSON-RPC methods the read-only endpoint forwards: reading state, logs and blocks; nothing that writes. */
export const READ_ONLY_RPC = new Set([
  'eth_chainId', 'net_version', 'web3_clientVersion', 'eth_blockNumber', 'eth_getBlockByNumber', 'eth_getBlockByHash',
  'eth_getTransactionByHash', 'eth_getTransactionReceipt', 'eth_getTransactionCount', 'eth_getBalance', 'eth_getCode',
  'eth_getStorageAt', 'eth_call', 'eth_estimateGas', 'eth_getLogs', 'eth_gasPrice', 'eth_syncing',
]);

function intParam(v: unknown, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v) || Number(v) < min || Number(v) > max) {
    throw invalidParam(name, `query parameter ${name} must be a whole number from ${min} to ${max}`);
  }
  return Number(v);
}

/** `/api/ledger`: contract addresses, the event mirror, and the embedded EVM's read-only JSON-RPC. */
export function ledgerRouter(l: LedgerService, exposeRpc: boolean): Router {
  const r = new Router();
  r.get('/', access.signedIn(), async (ctx) => {
        ctx.body = {
      chainId: l.chainId,
      embedded: l.embedded,
      operator: l.operator,
      chainTime: await l.chainTime(),
      contracts: Object.fromEntries(CONTRACT_NAMES.map((n) => [n, l.addressOf(n)])),
      solc: SOLC_VERSION,
      evmVersion: EVM_VERSION,
    };
  });
  r.get('/events', access.roles(['dso', 'aggregator']), async (ctx) => {
    const q = ctx.query;
    for (const k of Object.keys(q)) {
      if (!['contract', 'event', 'afterId', 'limit'].includes(k) && !k.startsWith('arg.')) {
        throw invalidParam(k, `unknown query parameter '${k}' (contract, event, afterId, limit, arg.<name>)`);
      }
    }
    for (const k of ['contract', 'event']) if (Array.isArray(q[k])) throw invalidParam(k, `query parameter ${k} given twice`);
    if (q.contract !== undefined && !CONTRACT_NAMES.includes(q.contract as never)) {
      throw invalidParam('contract', `no contract '${String(q.contract)}' (known: ${CONTRACT_NAMES.join(', ')})`);
    }
    const where: Record<string, string> = {};
    for (const [k, v] of Object.entries(q)) if (k.startsWith('arg.') && typeof v === 'string') where[k.slice(4)] = v.startsWith('0x') ? v.toLowerCase() : v;
    const afterId = intParam(q.afterId, 'afterId', 0, Number.MAX_SAFE_INTEGER);
    const limit = intParam(q.limit, 'limit', 1, 10000);
    ctx.body = await l.events({
      ...(q.contract ? { contract: q.contract as string } : {}),
      ...(q.event ? { event: q.event as string } : {}),
      ...(afterId !== undefined ? { afterId } : {}),
      ...(limit !== undefined ? { limit } : {}),
      where,
    });
  });
  if (exposeRpc) {
    r.post('/rpc', access.roles(['dso', 'aggregator']), async (ctx) => {
            if (!l.embedded) throw new GfError(LedgerErrors.GF_LEDGER_UNSUPPORTED, 'connect to the ledger node directly; this server relays only its embedded EVM');
      const body = ctx.request.body as { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown } | undefined;
      const id = body && (typeof body.id === 'number' || typeof body.id === 'string') ? body.id : null;
      const answer = (error: { code: number; message: string; data?: unknown }) => {
        ctx.body = { jsonrpc: '2.0', id, error };
      };
      if (!body || typeof body !== 'object' || Array.isArray(body) || body.jsonrpc !== '2.0' || typeof body.method !== 'string') {
        return answer({ code: -32600, message: 'Invalid Request: one JSON-RPC 2.0 object with a method' });
      }
      if (!READ_ONLY_RPC.has(body.method)) return answer({ code: -32601, message: `method ${body.method} is not served here (read-only relay)` });
      if (body.params !== undefined && !Array.isArray(body.params)) return answer({ code: -32602, message: 'params must be an array' });
      try {
        const result = await l.rpc.request({ method: body.method, params: (body.params as unknown[]) ?? [] });
        ctx.body = { jsonrpc: '2.0', id, result: result ?? null };
      } catch (err) {
        const e = err as { message?: string; code?: number; data?: unknown };
        answer({ code: typeof e.code === 'number' ? e.code : -32000, message: e.message ?? 'error', ...(e.data !== undefined ? { data: e.data } : {}) });
      }
    });
  }
  return r;
}

import { Type, type Static } from 'typebox';

/** The `ledger` plugin's config: one schema, its type derived from it. */
export const LedgerConfig = Type.Object({
  rpcUrl: Type.String({ default: "", pattern: "^(https?://.+)?$", description: "JSON-RPC URL of Besu or another Ethereum node (env LEDGER_RPC_URL); empty: the embedded EVM." }),
  chainId: Type.Integer({ minimum: 1, default: 1337, description: "The chain id transactions are signed for; checked against the node." }),
  operatorKey: Type.String({ default: "", pattern: "^(0x[0-9a-fA-F]{64})?$", description: "The operator's private key (env LEDGER_OPERATOR_KEY). Required with rpcUrl; on the embedded EVM a key is generated at first start and stored sealed under the KEK." }),
  walletKey: Type.String({ default: "", pattern: "^([0-9a-fA-F]{64})?$", description: "Deprecated: the wallet master key of earlier versions (hex), read only to seal the custodial keys it encrypted under the KEK; remove it afterwards." }),
  gasPrice: Type.String({ default: "0", pattern: "^[0-9]{1,30}$", description: "Gas price in wei for legacy transactions (0 on free-gas networks)." }),
  maxGas: Type.Integer({ minimum: 21000, default: 25000000, description: "Upper bound of the gas limit of one transaction." }),
  receiptTimeoutMs: Type.Integer({ minimum: 100, default: 60000, description: "How long to wait for a receipt." }),
  receiptPollMs: Type.Integer({ minimum: 10, default: 250, description: "Receipt polling interval on a remote node." }),
  rpcTimeoutMs: Type.Integer({ minimum: 100, default: 30000, description: "Timeout of one JSON-RPC request to a remote node." }),
  blockGasLimit: Type.Integer({ minimum: 1000000, default: 60000000, description: "Embedded EVM block gas limit. At least twice maxGas: a block using more than half of it would raise the base fee above zero and stop free-gas transactions." }),
  token: Type.Object({
    name: Type.String({ minLength: 1, default: "gridflex Energy Token" }),
    symbol: Type.String({ minLength: 1, maxLength: 11, default: "GFE" }),
    decimals: Type.Integer({ minimum: 0, maximum: 18, default: 3 }),
    whPerToken: Type.Integer({ minimum: 1, default: 1000, description: "Watt-hours one whole token stands for." }),
  }, { additionalProperties: false, default: {}, description: "EnergyToken parameters (used when it is first deployed)." }),
  contracts: Type.Object({
    EnergyToken: Type.Optional(Type.String({ pattern: "^0x[0-9a-fA-F]{40}$" })),
    ParticipantRegistry: Type.Optional(Type.String({ pattern: "^0x[0-9a-fA-F]{40}$" })),
    FlexibilityContract: Type.Optional(Type.String({ pattern: "^0x[0-9a-fA-F]{40}$" })),
    MarketSession: Type.Optional(Type.String({ pattern: "^0x[0-9a-fA-F]{40}$" })),
  }, { additionalProperties: false, default: {}, description: "Addresses of contracts already deployed (production); the others are deployed at first start." }),
  exposeRpc: Type.Boolean({ default: true, description: "Serve read-only JSON-RPC of the embedded EVM at POST /api/ledger/rpc (for auditors and other nodes)." }),
}, { additionalProperties: false });
export type LedgerConfig = Static<typeof LedgerConfig>;

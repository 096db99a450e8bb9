import { Type, type Static } from 'typebox';

/** The `openadr2b` plugin's config: one schema, its type derived from it. */
export const Oa2Config = Type.Object({
  vtnId: Type.String({ minLength: 1, maxLength: 128, default: "gridflex-vtn", description: "ei:vtnID in every message." }),
  basePath: Type.String({ pattern: "^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$", default: "/OpenADR2/Simple/2.0b", description: "Where the services are served (the simple HTTP binding path)." }),
  pollFreq: Type.String({ pattern: "^P(?!$)(\\d+D)?(T(?=\\d)(\\d+H)?(\\d+M)?(\\d+S)?)?$", default: "PT10S", description: "oadrRequestedOadrPollFreq given to VENs." }),
  marketContextBase: Type.String({ minLength: 1, default: "urn:gridflex:program:", description: "A program's market context is this followed by its programName." }),
  currency: Type.String({ pattern: "^[A-Z]{3}$", default: "EUR", description: "Currency of PRICE signals whose payload descriptor names none." }),
  openRegistration: Type.Boolean({ default: false, description: "Opt-in, and unsafe where strangers can reach the VTN: let VENs nobody provisioned register, each bound to the first credential it presents (its certificate over mutual TLS, its registration secret over plain HTTP), first come first served. Off: only provisioned VENs (config vens or POST /api/openadr2b/vens) register." }),
  requireSignatures: Type.Boolean({ default: false, description: "Refuse unsigned messages from every VEN (otherwise only from VENs registered with oadrXmlSignature)." }),
  autoRequestReports: Type.Array(Type.Enum(["TELEMETRY_USAGE", "TELEMETRY_STATUS", "HISTORY_USAGE"]), { default: ["TELEMETRY_USAGE", "TELEMETRY_STATUS"], description: "Reports requested as soon as a VEN registers them." }),
  reportBackDuration: Type.String({ pattern: "^P(?!$)(\\d+D)?(T(?=\\d)(\\d+H)?(\\d+M)?(\\d+S)?)?$", default: "PT1M", description: "How often a VEN reports back on requested telemetry." }),
  nearMinutes: Type.Integer({ minimum: 0, maximum: 1440, default: 15, description: "An event this close to its start has status near (else far)." }),
  maxXmlBytes: Type.Integer({ minimum: 1024, maximum: 16777216, default: 1048576, description: "Largest accepted message." }),
  pushTimeoutMs: Type.Integer({ minimum: 100, maximum: 60000, default: 10000, description: "Per push request to a VEN." }),
  pushHostsWithoutTls: Type.Array(Type.String({ minLength: 1 }), { default: ["127.0.0.1", "localhost", "::1"], description: "Hosts a VEN registering over plain HTTP (not authenticated) may name as its push address; VENs registered over mutual TLS may name any." }),
  tls: Type.Optional(Type.Object({
    host: Type.String({ default: "127.0.0.1" }),
    port: Type.Integer({ minimum: 0, maximum: 65535, description: "0 picks a free port (logged and in GET /api/openadr2b)." }),
    certFile: Type.String({ minLength: 1 }),
    keyFile: Type.String({ minLength: 1 }),
    caFile: Type.String({ minLength: 1, description: "CA certificates VEN certificates must chain to." }),
  }, { additionalProperties: false, description: "An HTTPS listener with mutual TLS (TLS 1.2+): VENs present certificates from caFile and are identified by fingerprint." })),
  signing: Type.Optional(Type.Object({
    certFile: Type.String({ minLength: 1 }),
    keyFile: Type.String({ minLength: 1 }),
  }, { additionalProperties: false, description: "Certificate and RSA key the VTN signs with (for VENs that registered with oadrXmlSignature); the TLS ones when absent." })),
  vens: Type.Array(Type.Object({
    venName: Type.String({ minLength: 1, maxLength: 128 }),
    fingerprint: Type.Optional(Type.String({ pattern: "^([0-9A-F]{2}:){9}[0-9A-F]{2}$", description: "Its TLS certificate's fingerprint: it registers and speaks over mutual TLS only." })),
    secret: Type.Optional(Type.String({ minLength: 16, maxLength: 256, description: "Its registration secret (stored hashed): over plain HTTP it sends HTTP Basic credentials venName:secret with every message." })),
  }, { additionalProperties: false }), { default: [], description: "VENs provisioned at start, each with its credential (a certificate fingerprint, or a registration secret)." }),
}, { additionalProperties: false });
export type Oa2Config = Static<typeof Oa2Config>;

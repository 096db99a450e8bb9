import path from 'node:path';
import type { ClientSession, ClientSubscription, OPCUACertificateManager, OPCUAClient } from 'node-opcua';
import { GfError } from '../../core/index.js';
import { DeviceErrors } from './errors.js';
import { loadOpcua } from './opcua-loader.js';

export interface OpcuaEndpoint {
  endpointUrl: string;
  securityMode: 'None' | 'Sign' | 'SignAndEncrypt';
  securityPolicy: 'None' | 'Basic256Sha256' | 'Aes128_Sha256_RsaOaep' | 'Aes256_Sha256_RsaPss';
  username?: string;
  password?: string;
  timeoutMs: number;
}


/**
 * One OPC UA client session (node-opcua): security mode and policy, anonymous or user/password login, the
 * client's certificate and its trust list in a folder under the data directory (not ~/.config); reads, writes
 * and monitored items by node id. A lost connection or session is dropped and rebuilt on the next call, with
 * node-opcua's own backoff while connecting; subscriptions are re-created then.
 */
export class OpcuaConnection {
  #client: OPCUAClient | undefined;
  #session: ClientSession | undefined;
  #subs: { nodeIds: string[]; cb: (nodeId: string, value: number) => void; sub?: ClientSubscription }[] = [];
  #state: 'disconnected' | 'connecting' | 'connected' = 'disconnected';
  #tail: Promise<unknown> = Promise.resolve();
  #cm: OPCUACertificateManager | undefined;
  lastError: string | undefined;
  requests = 0;
  failures = 0;

  constructor(
    readonly endpoint: OpcuaEndpoint,
    private readonly pkiDir: string,
  ) {}

  get state(): string {
    return this.#state;
  }

  async #open(): Promise<ClientSession> {
    if (this.#session && this.#state === 'connected') return this.#session;
    this.#state = 'connecting';
    const ua = await loadOpcua();
    this.#cm ??= new ua.OPCUACertificateManager({ rootFolder: path.join(this.pkiDir, 'opcua-client'), automaticallyAcceptUnknownCertificate: true });
    const client = ua.OPCUAClient.create({
      applicationName: 'gridflex',
      endpointMustExist: false,
      securityMode: ua.MessageSecurityMode[this.endpoint.securityMode],
      securityPolicy: ua.SecurityPolicy[this.endpoint.securityPolicy],
      clientCertificateManager: this.#cm,
      requestedSessionTimeout: 60_000,
      connectionStrategy: { maxRetry: 1, initialDelay: 100, maxDelay: 1000 },
      transportTimeout: this.endpoint.timeoutMs,
    } as never);
    try {
      await client.connect(this.endpoint.endpointUrl);
    } catch (cause) {
      this.#state = 'disconnected';
      await client.disconnect().catch(() => undefined);
      throw new GfError(DeviceErrors.GF_DEVICE_UNREACHABLE, `OPC UA server ${this.endpoint.endpointUrl} unreachable: ${(cause as Error).message}`, { cause, data: { endpointUrl: this.endpoint.endpointUrl } });
    }
    let session: ClientSession;
    try {
      session = await client.createSession(
        this.endpoint.username ? { type: ua.UserTokenType.UserName, userName: this.endpoint.username, password: this.endpoint.password ?? '' } : { type: ua.UserTokenType.Anonymous },
      );
    } catch (cause) {
      this.#state = 'disconnected';
      await client.disconnect().catch(() => undefined);
      throw new GfError(DeviceErrors.GF_DEVICE_REFUSED, `OPC UA server ${this.endpoint.endpointUrl} refused the session: ${(cause as Error).message}`, { cause, data: { endpointUrl: this.endpoint.endpointUrl } });
    }
    client.on('connection_lost', () => {
      this.#state = 'disconnected';
      this.#session = undefined;
    });
    this.#client = client;
    this.#session = session;
    this.#state = 'connected';
    for (const s of this.#subs) await this.#monitor(s);
    return session;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #call<T>(what: string, fn: (s: ClientSession) => Promise<T>): Promise<T> {
    return this.#serial(async () => {
      this.requests++;
      try {
        const s = await this.#open();
        const r = await fn(s);
        this.lastError = undefined;
        return r;
      } catch (e) {
        this.failures++;
        this.lastError = (e as Error).message;
        if (e instanceof GfError && e.code !== DeviceErrors.GF_DEVICE_UNREACHABLE) throw e;
        await this.close();
        if (e instanceof GfError) throw e;
        throw new GfError(DeviceErrors.GF_DEVICE_UNREACHABLE, `${what} on ${this.endpoint.endpointUrl}: ${(e as Error).message}`, { cause: e });
      }
    });
  }

  async read(nodeIds: readonly string[]): Promise<number[]> {
    const ua = await loadOpcua();
    return this.#call(`read ${nodeIds.join(', ')}`, async (s) => {
      const dvs = await s.read(nodeIds.map((nodeId) => ({ nodeId, attributeId: ua.AttributeIds.Value })));
      return dvs.map((dv, i) => {
        if (!dv.statusCode.isGood()) throw new GfError(DeviceErrors.GF_DEVICE_REFUSED, `${nodeIds[i]}: ${dv.statusCode.name}`, { data: { nodeId: nodeIds[i], status: dv.statusCode.name } });
        return Number(dv.value.value);
      });
    });
  }

  async write(nodeId: string, value: number): Promise<void> {
    const ua = await loadOpcua();
    await this.#call(`write ${nodeId}`, async (s) => {
      const st = await s.write({ nodeId, attributeId: ua.AttributeIds.Value, value: { value: new ua.Variant({ dataType: ua.DataType.Double, value }) } });
      if (!st.isGood()) throw new GfError(DeviceErrors.GF_DEVICE_REFUSED, `${nodeId}: ${st.name}`, { data: { nodeId, status: st.name } });
    });
  }

  /** Monitored items (sampling 250 ms): `cb` gets every change, also after a reconnect. */
  async subscribe(nodeIds: readonly string[], cb: (nodeId: string, value: number) => void): Promise<void> {
    const entry = { nodeIds: [...nodeIds], cb };
    this.#subs.push(entry);
    await this.#call('subscribe', async () => {
      await this.#monitor(entry);
    });
  }

  async #monitor(e: { nodeIds: string[]; cb: (nodeId: string, value: number) => void; sub?: ClientSubscription }): Promise<void> {
    const ua = await loadOpcua();
    const sub = ua.ClientSubscription.create(this.#session!, { requestedPublishingInterval: 250, requestedLifetimeCount: 100, requestedMaxKeepAliveCount: 10, publishingEnabled: true });
    // A server that refuses the subscription (too many, …) must not crash the process: polling goes on.
    sub.on('error', (err: Error) => {
      this.lastError = `subscription: ${err.message}`;
      e.sub = undefined;
    });
    e.sub = sub;
    for (const nodeId of e.nodeIds) {
      const item = ua.ClientMonitoredItem.create(sub, { nodeId, attributeId: ua.AttributeIds.Value }, { samplingInterval: 250, discardOldest: true, queueSize: 1 }, ua.TimestampsToReturn.Both);
      item.on('changed', (dv) => {
        if (dv.statusCode.isGood()) e.cb(nodeId, Number(dv.value.value));
      });
    }
  }

  async close(): Promise<void> {
    const c = this.#client;
    const s = this.#session;
    this.#client = undefined;
    this.#session = undefined;
    this.#state = 'disconnected';
    for (const x of this.#subs) x.sub = undefined;
    await s?.close().catch(() => undefined);
    await c?.disconnect().catch(() => undefined);
  }
}

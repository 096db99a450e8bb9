import ModbusRTU from 'modbus-serial';
import { GfError } from '../../core/index.js';
import { DeviceErrors } from './errors.js';

export interface ModbusEndpoint {
  /** tcp (default): Modbus TCP to host:port; rtu: Modbus RTU on a serial line at `path`. */
  transport?: 'tcp' | 'rtu';
  path?: string;
  baudRate?: number;
  host: string;
  port: number;
  unitId: number;
  timeoutMs: number;
  retries: number;
}

export type ConnectionState = 'disconnected' | 'connecting' | 'connected';

/**
 * One Modbus TCP connection (modbus-serial), used one request at a time: reads and writes of holding and input
 * registers with a timeout, retried after a reconnect when the connection dropped, and coded errors: a device
 * that cannot be reached, one that does not answer in time, and one that answers with a Modbus exception.
 */
export class ModbusConnection {
  #client: any;
  #state: ConnectionState = 'disconnected';
  #tail: Promise<unknown> = Promise.resolve();
  lastError: string | undefined;
  requests = 0;
  failures = 0;

  constructor(readonly endpoint: ModbusEndpoint) {}

  #where(): string {
    return this.endpoint.transport === 'rtu' ? `${this.endpoint.path} (RTU)` : `${this.endpoint.host}:${this.endpoint.port}`;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  async #connect(): Promise<void> {
    if (this.#state === 'connected' && this.#client?.isOpen) return;
    this.#state = 'connecting';
    const client = new (ModbusRTU as any)();
    try {
      if (this.endpoint.transport === 'rtu') await client.connectRTUBuffered(this.endpoint.path, { baudRate: this.endpoint.baudRate ?? 9600 });
      else await client.connectTCP(this.endpoint.host, { port: this.endpoint.port });
    } catch (cause) {
      this.#state = 'disconnected';
      throw new GfError(DeviceErrors.GF_DEVICE_UNREACHABLE, `Modbus device ${this.#where()} unreachable: ${(cause as Error).message}`, {
        cause,
        data: { host: this.endpoint.host, port: this.endpoint.port, path: this.endpoint.path },
      });
    }
    client.setID(this.endpoint.unitId);
    client.setTimeout(this.endpoint.timeoutMs);
    this.#client = client;
    this.#state = 'connected';
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #call<T>(what: string, fn: (c: any) => Promise<T>): Promise<T> {
    return this.#serial(async () => {
      let last: unknown;
      for (let attempt = 0; attempt <= this.endpoint.retries; attempt++) {
        this.requests++;
        try {
          await this.#connect();
          const r = await fn(this.#client);
          this.lastError = undefined;
          return r;
        } catch (e) {
          this.failures++;
          last = e;
          const err = e as { modbusCode?: number; errno?: string; message?: string };
          this.lastError = err.message;
          if (typeof err.modbusCode === 'number') {
            throw new GfError(DeviceErrors.GF_DEVICE_REFUSED, `${what}: Modbus exception ${err.modbusCode} from ${this.endpoint.host}:${this.endpoint.port}`, { data: { modbusCode: err.modbusCode } });
          }
          // A dropped or timed-out connection: start afresh on the next attempt.
          this.close();
          if (e instanceof GfError && attempt === this.endpoint.retries) throw e;
          await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
        }
      }
      const m = (last as Error)?.message ?? String(last);
      throw new GfError(/timed out|timeout/i.test(m) ? DeviceErrors.GF_DEVICE_TIMEOUT : DeviceErrors.GF_DEVICE_UNREACHABLE, `${what} on ${this.endpoint.host}:${this.endpoint.port} failed after ${this.endpoint.retries + 1} attempt(s): ${m}`, {
        data: { host: this.endpoint.host, port: this.endpoint.port },
      });
    });
  }

  readHolding(address: number, count: number): Promise<number[]> {
    return this.#call(`read ${count} holding register(s) at ${address}`, async (c) => (await c.readHoldingRegisters(address, count)).data as number[]);
  }

  readInput(address: number, count: number): Promise<number[]> {
    return this.#call(`read ${count} input register(s) at ${address}`, async (c) => (await c.readInputRegisters(address, count)).data as number[]);
  }

  writeHolding(address: number, values: number[]): Promise<void> {
    return this.#call(`write ${values.length} register(s) at ${address}`, async (c) => {
      await c.writeRegisters(address, values);
    });
  }

  close(): void {
    const c = this.#client;
    this.#client = undefined;
    this.#state = 'disconnected';
    if (c?.isOpen) c.close(() => undefined);
  }
}

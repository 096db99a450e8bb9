import path from 'node:path';
import client from 'prom-client';
import { access, ref, createToken, definePlugin, GfError, isGfError, MetricsRegistryToken, Router, StorageToken } from '../../core/index.js';
import { DevicesConfig } from './config.js';
import { DeviceErrors } from './errors.js';
import { simulateCommand } from './simulate.js';
import { VenDeviceDriver } from './ven-driver.js';
import { setOpcuaLogSink } from './opcua-loader.js';
import { checkDecl, DeviceManager, type DeviceDecl, type DeviceState, type RegisterSpec } from './manager.js';

export { DevicesConfig } from './config.js';

/** The device registry, for other plugins and for the VEN driver. */
export const DeviceManagerToken = createToken<DeviceManager>('devices.registry');

/** Fills the defaults of a declaration from config or the API (checked afterwards by the manager). */
export function normalise(raw: unknown): DeviceDecl {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new GfError(DeviceErrors.GF_DEVICE_BAD_MAP, 'body: a device declaration object', { data: { field: 'body' } });
  const r = raw as Partial<DeviceDecl> & { endpoint?: Partial<DeviceDecl['endpoint']> };
  const known = ['id', 'nature', 'bridge', 'endpoint', 'opcua', 'nodes', 'pollSeconds', 'ratedW', 'responseTimeS', 'sunspec', 'map'];
  for (const k of Object.keys(r)) if (!known.includes(k)) throw new GfError(DeviceErrors.GF_DEVICE_BAD_MAP, `${k}: unknown field (${known.join(', ')})`, { data: { field: k } });
  return {
    id: String(r.id ?? ''),
    nature: r.nature as DeviceDecl['nature'],
    bridge: r.bridge ?? (r.opcua ? 'opcua' : 'modbus'),
    endpoint: {
      ...(r.endpoint?.transport ? { transport: r.endpoint.transport } : {}),
      ...(r.endpoint?.path ? { path: r.endpoint.path } : {}),
      ...(r.endpoint?.baudRate ? { baudRate: r.endpoint.baudRate } : {}),
      host: r.endpoint?.host ?? '127.0.0.1',
      port: r.endpoint?.port as number,
      unitId: r.endpoint?.unitId ?? 1,
      timeoutMs: r.endpoint?.timeoutMs ?? 2000,
      retries: r.endpoint?.retries ?? 2,
    },
    pollSeconds: r.pollSeconds ?? 10,
    ratedW: r.ratedW as number,
    ...(r.responseTimeS !== undefined ? { responseTimeS: r.responseTimeS } : {}),
    sunspec: r.sunspec ?? false,
    ...(r.opcua ? { opcua: Object.assign({ securityMode: 'None', securityPolicy: 'None', timeoutMs: 5000 }, r.opcua) as DeviceDecl['opcua'] } : {}),
    ...(r.nodes ? { nodes: { readings: fillNodes(r.nodes.readings), setpoints: fillNodes(r.nodes.setpoints) } } : {}),
    ...(r.map ? { map: { readings: fillRegs(r.map.readings), setpoints: fillRegs(r.map.setpoints) } } : {}),
  };
}

function fillNodes(m: Record<string, Partial<{ nodeId: string; scale: number }>> | undefined): Record<string, { nodeId: string; scale: number }> {
  return Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, { scale: 1, ...v } as { nodeId: string; scale: number }]));
}

function fillRegs(m: Record<string, Partial<RegisterSpec>> | undefined): Record<string, RegisterSpec> {
  return Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, { kind: 'holding', wordOrder: 'big', scale: 1, ...v } as RegisterSpec]));
}

/**
 * Field devices over Modbus/SunSpec: declared in config (`devices`) or through `POST /api/devices`, polled into
 * the time-series store, set points written, read back and verified. See docs/devices.md.
 */
export const devicesPlugin = definePlugin({
  manifest: {
    id: 'devices',
    version: '0.2.0',
    kernel: '^0.2.0',
    description: 'field devices over Modbus TCP and SunSpec: registry, polling, set points with verification',
  },
  config: DevicesConfig,
  deps: { storage: StorageToken, metrics: MetricsRegistryToken },
  provides: { devices: DeviceManagerToken },
  validate: (cfg) =>
    cfg.devices.flatMap((d, i) => {
      try {
        checkDecl(normalise(d));
        return [];
      } catch (e) {
        if (!isGfError(e)) throw e;
        const field = typeof e.data?.field === 'string' ? e.data.field : '';
        return [{ path: `devices[${i}]${field ? `.${field}` : ''}`, message: e.message.replace(/^[^:]+: /, '') }];
      }
    }),
  commands: { simulate: simulateCommand },
  async start(ctx) {
    // node-opcua's console output goes to the server's log, not stdout.
    setOpcuaLogSink((level, line) => ctx.log[level]({ component: 'node-opcua' }, line));
    const registry = ctx.deps.metrics;
    const gauges = {
      connected: new client.Gauge({ name: 'gridflex_device_connected', help: 'Device connection up (1) or down (0)', labelNames: ['device'], registers: [registry] }),
      failures: new client.Gauge({ name: 'gridflex_device_request_failures', help: 'Failed device requests since start', labelNames: ['device'], registers: [registry] }),
      following: new client.Gauge({ name: 'gridflex_device_following', help: 'Last set point followed (1), not (0), none yet (-1)', labelNames: ['device'], registers: [registry] }),
    };
    const onState = (s: DeviceState) => {
      gauges.connected.set({ device: s.id }, s.connection === 'connected' ? 1 : 0);
      gauges.failures.set({ device: s.id }, s.failures);
      gauges.following.set({ device: s.id }, s.following === null ? -1 : s.following ? 1 : 0);
    };
    const readings = ctx.deps.storage.readings;
    const manager = new DeviceManager(() => readings, ctx.log, onState, path.join(ctx.kernel.dataDir || '.', 'pki'));
    ctx.onStop(() => manager.stop());
    const r = new Router();
    r.get('/', access.signedIn(), async (http) => {
      const seen = await http.state.auth!.authorizer.visible(http.state.caller!, 'device');
      http.body = manager.states().filter((s) => seen === 'all' || seen.has(s.id));
    });
    r.post('/', access.roles(['operator']), (http) => {
      http.status = 201;
      http.body = manager.add(normalise(http.request.body));
    });
    /** An event signal applied to the devices (the control loop's last step; the VEN calls the same). */
    r.post('/signals', access.roles(['operator']), async (http) => {
      const b = (http.request.body ?? {}) as { type?: unknown; value?: unknown; devices?: unknown };
      const types = ['IMPORT_CAPACITY_LIMIT', 'EXPORT_CAPACITY_LIMIT', 'SIMPLE', 'PRICE'];
      if (typeof b.type !== 'string' || !types.includes(b.type)) throw new GfError(DeviceErrors.GF_DEVICE_BAD_MAP, `type: one of ${types.join(', ')}`, { data: { field: 'type' } });
      if (typeof b.value !== 'number' || !Number.isFinite(b.value)) throw new GfError(DeviceErrors.GF_DEVICE_BAD_MAP, 'value: a number (W for capacity limits)', { data: { field: 'value' } });
      if (b.devices !== undefined && !(Array.isArray(b.devices) && b.devices.every((x) => typeof x === 'string'))) throw new GfError(DeviceErrors.GF_DEVICE_BAD_MAP, 'devices: a list of device ids', { data: { field: 'devices' } });
      http.body = await manager.applySignal(b.type as never, b.value, b.devices as string[] | undefined);
    });
    const device = { owns: (c: { params: Record<string, string> }) => ref.device(c.params.id), owner: 'a device at its own site, or its portfolio\'s' };
    r.get('/:id', access.roles(['aggregator', 'prosumer'], device), (http) => {
      manager.get(http.params.id!);
      http.body = manager.states().find((s) => s.id === http.params.id);
    });
    r.post('/:id/poll', access.roles(['aggregator', 'prosumer'], device), async (http) => {
      http.body = await manager.poll(http.params.id!);
    });
    r.post('/:id/setpoints', access.roles(['aggregator', 'prosumer'], device), async (http) => {
      const b = (http.request.body ?? {}) as { name?: unknown; value?: unknown };
      if (typeof b.name !== 'string') throw new GfError(DeviceErrors.GF_DEVICE_BAD_MAP, 'name: the set point name', { data: { field: 'name' } });
      http.body = await manager.setpoint(http.params.id!, b.name, b.value as number);
    });
    ctx.mount('/api/devices', r);
    // validate() has checked every declaration.
    for (const d of ctx.config.devices) manager.add(normalise(d));
    const v = ctx.config.ven;
    if (v) {
      const driver = new VenDeviceDriver({ vtnUrl: v.vtnUrl, clientId: v.clientId, clientSecret: v.clientSecret, venName: v.venName, notify: v.notify, pollMs: v.pollMs, log: (m) => ctx.log.info(m) }, manager, ctx.log, v.devices);
      let stopped = false;
      // The VTN may be unreachable now: keep trying every 10 s in the background rather than hold up the start.
      const attempt = () =>
        driver.start().catch((err) => {
          ctx.log.warn({ err }, 'the VEN driving the devices could not start; retrying in 10 s');
          if (!stopped) setTimeout(attempt, 10_000).unref();
        });
      void attempt();
      ctx.onStop(async () => {
        stopped = true;
        await driver.stop().catch(() => undefined);
      });
    }
    return { devices: manager };
  },
});

export default devicesPlugin;

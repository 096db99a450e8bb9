import { parseArgs, type ParseArgsConfig } from 'node:util';
import { pino } from 'pino';
import { createRootContainer } from '../di.js';
import { createLogger } from '../log.js';
import { resolvePlugins, sameFileAsSources } from '../catalogue.js';
import { loadConfig, loadConfigOrThrow, type GridflexConfig } from '../config/config.js';
import { GfError, KernelErrors, isGfError } from '../errors.js';
import { PluginHost } from '../plugin/host.js';
import { readServerInfo } from '../server-info.js';
import { startServer } from '../server.js';
import { KERNEL_PLAN, kernelServices, VERSION } from '../kernel.js';

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

const stdio: CliIo = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

const HELP: Record<string, string> = {
  main: `gridflex ${VERSION}: OpenADR and IEC standards server for demand response

Usage: gridflex <command> [options]

Commands:
  serve            run the server (the default for npm start)
  plugins          list plugins, their versions and states
  config check     validate a config file and print every error
  ven              run an OpenADR 3.1 VEN against a VTN
  ven2b            run an OpenADR 2.0b VEN against a VTN
  conformance      run a conformance suite against any VTN (gridflex conformance --help)
  usecases         list and export the eDREAM use cases as IEC 62559 models (gridflex usecases --help)

Options: --help on any command, --version`,
  serve: `Usage: gridflex serve [--port N] [--host ADDR] [--config FILE] [--data DIR]

Runs the server until SIGINT or SIGTERM (graceful: in-flight requests finish, plugins stop in reverse).
  --port N       TCP port (env PORT; default 8080; 0 picks a free one)
  --host ADDR    address to listen on (env HOST; default 127.0.0.1)
  --config FILE  JSON or YAML config (env GRIDFLEX_CONFIG)
  --data DIR     data folder of the embedded database (env GRIDFLEX_DATA_DIR; default ./data)
Set DATABASE_URL=postgres://... to use a PostgreSQL server instead of the embedded engine.`,
  plugins: `Usage: gridflex plugins [--config FILE] [--data DIR] [--json]

Lists plugins with versions and states. When a server holds the data folder, asks its API
(GET /api/plugins); otherwise lists what the config would load, without starting anything.`,
  ven: `Usage: gridflex ven --vtn URL --client-id ID [--client-secret SECRET] --ven-name NAME
                    [--resource NAME]... [--notify auto|mqtt|webhook|poll] [--poll-seconds N]
                    [--webhook-host ADDR --webhook-port N --webhook-url URL] [--json]

Runs an OpenADR 3.1 VEN against any VTN: discovers the token endpoint, registers its ven and
resources, follows events (MQTT if offered, else webhook if --webhook-port is given, else polling)
and prints each change of its event timeline (JSON lines with --json) until SIGINT or SIGTERM.
The secret may come from GRIDFLEX_VEN_CLIENT_SECRET instead of the command line.`,
  ven2b: `Usage: gridflex ven2b --vtn URL --ven-name NAME [--secret SECRET | --cert FILE --key FILE --ca FILE] [--sign]
                      [--push-host ADDR --push-port N] [--opt in|out] [--poll-seconds N] [--json]

Runs an OpenADR 2.0b VEN (profile B, simple HTTP) against any VTN. URL is the service base, e.g.
https://vtn.example:8443/OpenADR2/Simple/2.0b. With --cert, --key and --ca it uses mutual TLS (the VTN
identifies it by its certificate's fingerprint, printed at start); --sign signs every message. On plain
HTTP, --secret (or GRIDFLEX_VEN2B_SECRET) is its registration secret, sent as HTTP Basic credentials
NAME:SECRET with every message (a gridflex VTN requires one: the operator provisions it). It
registers, answers every event with --opt (default in), polls at the VTN's requested frequency (or
--poll-seconds), or listens for pushes with --push-port, and prints each event it receives (JSON lines
with --json) until SIGINT or SIGTERM.`,
  config: `Usage: gridflex config check [FILE] [--json]

Validates the config (FILE, else GRIDFLEX_CONFIG, else defaults) with environment overrides:
the root keys, each plugin's config against its schema, unknown plugins, and requires.
Prints every error at once; exits 1 when there is any.`,
};

/** Runs the CLI; resolves to the exit code (serve resolves when the server has stopped). */
export async function main(argv: string[], io: CliIo = stdio): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      io.out(HELP.main!);
      const extra = await pluginCommands(undefined).catch(() => []);
      if (extra.length > 0) {
        io.out('\nCommands of loaded plugins:');
        for (const c of extra) io.out(`  ${c.name.padEnd(16)} ${c.summary} (${c.plugin})`);
      }
      return 0;
    }
    if (command === '--version' || command === '-v') {
      io.out(VERSION);
      return 0;
    }
    switch (command) {
      case 'serve':
        return await serve(rest, io);
      case 'plugins':
        return await plugins(rest, io);
      case 'config':
        return await configCommand(rest, io);
      case 'ven':
        return await venCommand(rest, io);
      case 'ven2b':
        return await ven2bCommand(rest, io);
      case 'conformance':
        return await conformanceCommand(rest, io);
      case 'usecases':
        return await usecasesCommand(rest, io);
      default:
        return await pluginCommand(command, rest, io);
    }
  } catch (e) {
    io.err(`gridflex: ${oneLine(e)}`);
    return isGfError(e) && e.code === KernelErrors.GF_CLI_USAGE ? 2 : 1;
  }
}

/** The commands the configured plugins add. */
async function pluginCommands(configFile: string | undefined) {
  const config = loadConfigOrThrow({ file: configFile });
  const { plugins } = await resolvePlugins(config);
  return plugins.flatMap((p) => Object.entries(p.commands ?? {}).map(([name, cmd]) => ({ name, summary: cmd.summary, plugin: p.manifest.id, cmd, def: p })));
}

/**
 * Runs a command a plugin adds: boots that plugin and its requires (no HTTP) on the configured
 * storage, runs it, stops them. The embedded engine is single-process, so while a server holds the
 * data folder this refuses (GF_STORAGE_LOCKED) rather than open it twice.
 */
async function pluginCommand(name: string, args: string[], io: CliIo): Promise<number> {
  const { values, tokens } = parseArgs({
    args,
    options: { config: { type: 'string' }, data: { type: 'string' } },
    strict: false,
    tokens: true,
  });
  const configFile = typeof values.config === 'string' ? values.config : undefined;
  const config = loadConfigOrThrow({ file: configFile, overrides: typeof values.data === 'string' ? { dataDir: values.data } : {} });
  const resolved = await resolvePlugins(config);
  const owner = resolved.plugins.find((p) => p.commands?.[name]);
  if (!owner) throw usage(`unknown command '${name}'; run gridflex --help`);
  const cmd = owner.commands![name]!;
  // The command sees its own arguments, without the kernel's --config/--data.
  const own: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const t = tokens?.find((x) => x.index === i);
    if (t?.kind === 'option' && (t.name === 'config' || t.name === 'data')) {
      if (t.inlineValue === false) i++;
      continue;
    }
    own.push(args[i]!);
  }
  if (own.includes('--help') || own.includes('-h')) {
    io.out(cmd.usage);
    return 0;
  }
  if (cmd.runStandalone) {
    // Standalone work has no use for the kernel's data folder: it sees every argument, --data included.
    const code = await cmd.runStandalone(args, io);
    if (code !== undefined) return code;
  }
  if (!config.database.url) {
    const holder = readServerInfo(config.dataDir);
    if (holder && cmd.runRemote) return cmd.runRemote(own, holder.url, io);
    if (holder) {
      throw new GfError(KernelErrors.GF_STORAGE_LOCKED, `data folder ${config.dataDir} is in use by the server at ${holder.url} (pid ${holder.pid}); stop it first, or run this against a PostgreSQL DATABASE_URL`, {
        data: { dataDir: config.dataDir, pid: holder.pid, url: holder.url },
      });
    }
  }
  const plugins = PluginHost.closure(resolved.plugins, owner.manifest.id, KERNEL_PLAN);
  const log = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', destination: pino.destination({ fd: 2, sync: true }) });
  const host = new PluginHost({
    plugins,
    configs: resolved.configs,
    root: createRootContainer(),
    log,
    kernelVersion: VERSION,
    services: kernelServices(),
    kernel: { dataDir: config.dataDir, databaseUrl: config.database.url || undefined, instanceId: `cli-${process.pid}` },
    startTimeoutMs: config.server.startTimeoutMs,
  });
  if (!cmd.run) throw usage(`gridflex ${name} needs no server or data folder here; check its arguments (gridflex ${name} --help)`);
  await host.boot();
  try {
    return await cmd.run(own, host.commandContext(owner.manifest.id), io);
  } finally {
    await host.stop();
  }
}

function usage(message: string): GfError {
  return new GfError(KernelErrors.GF_CLI_USAGE, message);
}

function oneLine(e: unknown): string {
  if (isGfError(e)) return `${e.code}: ${e.message}`.replace(/\s*\n\s*/g, ' ');
  return (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ');
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (e) {
    throw usage((e as Error).message.split('\n')[0]!);
  }
}

function portOf(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw usage(`--port must be a whole number 0..65535, got '${v}'`);
  return Number(v);
}

/** The VEN commands' shared checks: required flags named, the VTN's URL, and a poll interval. */
function requireFlags(command: string, flags: readonly (readonly [string, string | undefined])[]): void {
  for (const [name, v] of flags) if (!v) throw usage(`${name} is required (see gridflex ${command} --help)`);
}

function vtnUrlOf(v: string): string {
  try {
    const u = new URL(v);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw usage(`--vtn must be an http(s) URL, got '${v}'`);
  }
  return v;
}

function pollSecondsOf(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw usage('--poll-seconds must be a whole number ≥ 1');
  return n;
}

/** Runs a VEN until SIGINT or SIGTERM: exit 0 when it stops cleanly, 1 when stopping fails. */
function untilSignal(ven: { stop(): Promise<void> }): Promise<number> {
  return new Promise<number>((resolve) => {
    const stop = () => {
      ven.stop().then(() => resolve(0), () => resolve(1));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

async function serve(args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, {
    port: { type: 'string' },
    host: { type: 'string' },
    config: { type: 'string' },
    data: { type: 'string' },
  });
  if (values.help) {
    io.out(HELP.serve!);
    return 0;
  }
  const port = portOf(values.port);
  const config = loadConfigOrThrow({
    file: values.config,
    overrides: { ...(port !== undefined ? { port } : {}), ...(values.host ? { host: values.host } : {}), ...(values.data ? { dataDir: values.data } : {}) },
  });
  const t0 = Date.now();
  const server = await startServer({ config });
  io.err(`gridflex ${VERSION} ready at ${server.url} in ${Date.now() - t0} ms (health: ${server.url}/health)`);
  return new Promise<number>((resolve) => {
    let signalled = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signalled++;
      if (signalled > 1) {
        io.err(`gridflex: ${sig} again, exiting now`);
        process.exit(1);
      }
      server.log.info({ signal: sig }, 'shutting down');
      server.close().then(
        () => resolve(0),
        (e) => {
          io.err(`gridflex: shutdown failed: ${oneLine(e)}`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

async function venCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, {
    vtn: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'ven-name': { type: 'string' },
    resource: { type: 'string', multiple: true },
    notify: { type: 'string' },
    'poll-seconds': { type: 'string' },
    'webhook-host': { type: 'string' },
    'webhook-port': { type: 'string' },
    'webhook-url': { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.out(HELP.ven!);
    return 0;
  }
  const secret = values['client-secret'] ?? process.env.GRIDFLEX_VEN_CLIENT_SECRET;
  requireFlags('ven', [['--vtn', values.vtn], ['--client-id', values['client-id']], ['--ven-name', values['ven-name']], ['--client-secret', secret]]);
  vtnUrlOf(values.vtn!);
  const notify = values.notify ?? 'auto';
  if (!['auto', 'mqtt', 'webhook', 'poll'].includes(notify)) throw usage(`--notify must be auto, mqtt, webhook or poll, got '${notify}'`);
  const pollSeconds = pollSecondsOf(values['poll-seconds']) ?? 30;
  const webhookPort = values['webhook-port'] === undefined ? undefined : portOf(values['webhook-port']);
  const { Oa3Ven } = await import('../openadr3/ven.js');
  const ven = new Oa3Ven({
    vtnUrl: values.vtn!,
    clientId: values['client-id']!,
    clientSecret: secret!,
    venName: values['ven-name']!,
    resources: values.resource ?? [],
    notify: notify as 'auto',
    pollMs: pollSeconds * 1000,
    ...(webhookPort !== undefined ? { webhook: { host: values['webhook-host'] ?? '127.0.0.1', port: webhookPort, ...(values['webhook-url'] ? { publicUrl: values['webhook-url'] } : {}) } } : {}),
    log: (m) => io.err(`ven: ${m}`),
    onChange: (c) => {
      const line = { at: new Date().toISOString(), change: c.kind, status: c.status, eventID: c.event.id, eventName: c.event.eventName ?? null, programID: c.event.programID, intervals: c.event.intervals ?? [] };
      io.out(values.json ? JSON.stringify(line) : `${line.at} ${c.kind.padEnd(9)} ${c.status.padEnd(9)} ${c.event.id} ${c.event.eventName ?? ''}`.trimEnd());
    },
  });
  await ven.start();
  io.err(`gridflex ven: ${values['ven-name']} (${ven.venId}) following events by ${ven.mode}; targets ${ven.targets.join(', ') || '(none)'}`);
  return untilSignal(ven);
}

/**
 * The conformance runner (conformance/) is black-box code that imports nothing of the kernel; the CLI
 * names it by module path and loads it on demand, as the catalogue loads plugins, so the kernel does
 * not depend on it either.
 */
const CONFORMANCE_MODULE = '../../conformance/cli.js';

async function conformanceCommand(args: string[], io: CliIo): Promise<number> {
  const mod = (await import(sameFileAsSources(new URL(CONFORMANCE_MODULE, import.meta.url).href))) as { conformanceMain(args: string[], io: CliIo): Promise<number> };
  return mod.conformanceMain(args, io);
}

/** The use case models live in conformance/usecases/ and are loaded the same way. */
const USECASES_MODULE = '../../conformance/usecases/cli.js';

async function usecasesCommand(args: string[], io: CliIo): Promise<number> {
  const mod = (await import(sameFileAsSources(new URL(USECASES_MODULE, import.meta.url).href))) as { usecasesMain(args: string[], io: CliIo): Promise<number> };
  return mod.usecasesMain(args, io);
}

async function ven2bCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, {
    vtn: { type: 'string' },
    'ven-name': { type: 'string' },
    secret: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    ca: { type: 'string' },
    sign: { type: 'boolean' },
    'push-host': { type: 'string' },
    'push-port': { type: 'string' },
    opt: { type: 'string' },
    'poll-seconds': { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.out(HELP.ven2b!);
    return 0;
  }
  requireFlags('ven2b', [['--vtn', values.vtn], ['--ven-name', values['ven-name']]]);
  vtnUrlOf(values.vtn!);
  const tlsFiles = [values.cert, values.key, values.ca].filter((x) => x !== undefined).length;
  if (tlsFiles !== 0 && tlsFiles !== 3) throw usage('--cert, --key and --ca go together (mutual TLS)');
  if (values.sign && tlsFiles === 0) throw usage('--sign needs --cert and --key (messages are signed with the TLS key)');
  const secret = values.secret ?? (process.env.GRIDFLEX_VEN2B_SECRET || undefined);
  if (secret !== undefined && values['ven-name']!.includes(':')) throw usage('--secret: a VEN name with a colon cannot carry HTTP Basic credentials');
  const opt = values.opt ?? 'in';
  if (opt !== 'in' && opt !== 'out') throw usage(`--opt must be in or out, got '${opt}'`);
  const pollSeconds = pollSecondsOf(values['poll-seconds']);
  const pushPort = values['push-port'] === undefined ? undefined : portOf(values['push-port']);
  let tls: { certPem: string; keyPem: string; caPem: string } | undefined;
  if (tlsFiles === 3) {
    const { readFileSync } = await import('node:fs');
    const read = (flag: string, file: string): string => {
      try {
        return readFileSync(file, 'utf8');
      } catch (e) {
        throw usage(`${flag} ${file}: ${(e as Error).message}`);
      }
    };
    tls = { certPem: read('--cert', values.cert!), keyPem: read('--key', values.key!), caPem: read('--ca', values.ca!) };
  }
  const { Oadr2bVen } = await import('../openadr2b/ven.js');
  const print = (kind: string, e: { eventID: string; modificationNumber: number; status: string; marketContext: string; startMs: number; durationMs: number; optType?: string }): void => {
    const line = { at: new Date().toISOString(), change: kind, eventID: e.eventID, modificationNumber: e.modificationNumber, status: e.status, marketContext: e.marketContext, start: new Date(e.startMs).toISOString(), durationS: e.durationMs / 1000, optType: e.optType ?? null };
    io.out(values.json ? JSON.stringify(line) : `${line.at} ${kind.padEnd(9)} ${e.status.padEnd(9)} ${e.eventID} #${e.modificationNumber} ${e.marketContext}`);
  };
  const ven = new Oadr2bVen({
    vtnUrl: values.vtn!,
    venName: values['ven-name']!,
    ...(secret !== undefined ? { secret } : {}),
    ...(tls ? { tls } : {}),
    sign: values.sign === true,
    ...(pushPort !== undefined ? { push: { host: values['push-host'] ?? '127.0.0.1', port: pushPort } } : {}),
    ...(pollSeconds !== undefined ? { pollMs: pollSeconds * 1000 } : {}),
    log: (m, d) => io.err(`ven2b: ${m}${d ? ` ${JSON.stringify(d)}` : ''}`),
    onEvent: (e) => {
      print('event', { ...e, optType: opt === 'in' ? 'optIn' : 'optOut' });
      return opt === 'in' ? 'optIn' : 'optOut';
    },
    onCancel: (e) => print('cancelled', e),
  });
  await ven.start();
  io.err(`gridflex ven2b: ${values['ven-name']} registered as ${ven.venID}${ven.fingerprint ? ` (certificate ${ven.fingerprint})` : ''}; ${pushPort !== undefined ? `listening for pushes on port ${ven.pushPort}` : `polling every ${(pollSeconds ?? ven.pollFreqMs / 1000)} s`}`);
  return untilSignal(ven);
}

async function plugins(args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, { config: { type: 'string' }, data: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    io.out(HELP.plugins!);
    return 0;
  }
  const config = loadConfigOrThrow({ file: values.config, overrides: values.data ? { dataDir: values.data } : {} });
  const running = readServerInfo(config.dataDir);
  let rows: { id: string; version: string; state: string; description?: string | undefined }[];
  let source: string;
  if (running) {
    // The server answers signed-in callers: a token from GRIDFLEX_TOKEN, else the config's first server.apiTokens.
    const token = process.env.GRIDFLEX_TOKEN || config.server.apiTokens[0];
    const res = await fetch(`${running.url}/api/plugins`, { signal: AbortSignal.timeout(5_000), ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
    if (res.status === 401) throw new Error(`server at ${running.url} wants a credential for GET /api/plugins: set GRIDFLEX_TOKEN (gridflex tokens issue --party operator) or server.apiTokens`);
    if (!res.ok) throw new Error(`server at ${running.url} answered ${res.status} to GET /api/plugins`);
    rows = ((await res.json()) as { plugins: typeof rows }).plugins;
    source = `server pid ${running.pid} at ${running.url}`;
  } else {
    const resolved = await resolvePlugins(config);
    const plan = PluginHost.plan(resolved.plugins, resolved.configs, KERNEL_PLAN);
    for (const p of [...resolved.problems, ...plan.problems]) io.err(`${p.code}: ${p.message}`);
    rows = resolved.plugins.map((p) => ({ id: p.manifest.id, version: p.manifest.version, state: 'not running', description: p.manifest.description }));
    source = 'config (no server running on this data folder)';
  }
  if (values.json) {
    io.out(JSON.stringify({ source, plugins: rows }));
  } else {
    io.out(`plugins from ${source}:`);
    const w = Math.max(...rows.map((r) => r.id.length), 2);
    for (const r of rows) io.out(`  ${r.id.padEnd(w)}  ${r.version.padEnd(8)}  ${r.state.padEnd(11)}  ${r.description ?? ''}`.trimEnd());
  }
  return 0;
}

async function configCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h' || sub === undefined) {
    io.out(HELP.config!);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'check') throw usage(`unknown config command '${sub}'; try gridflex config check`);
  const { values, positionals } = parse(rest, { json: { type: 'boolean' } }, true);
  if (values.help) {
    io.out(HELP.config!);
    return 0;
  }
  if (positionals.length > 1) throw usage('config check takes at most one file');
  const errors = await checkConfig(positionals[0]);
  if (values.json) io.out(JSON.stringify({ ok: errors.errors.length === 0, source: errors.source, errors: errors.errors }));
  else if (errors.errors.length === 0) io.out(`config OK (${errors.source}): plugins ${errors.plugins.join(', ')}`);
  else {
    io.err(`config ${errors.source} has ${errors.errors.length} error(s):`);
    for (const e of errors.errors) io.err(`  ${e.code} ${e.path}: ${e.message}`);
  }
  return errors.errors.length === 0 ? 0 : 1;
}

/**
 * Every problem in a config, all at once: the root schema, unknown or unloadable plugins, plugin configs against
 * their schemas, dependencies, kernel versions, extension-point entries, and each plugin's own `validate` rules
 * (everything a boot would refuse before any plugin starts). Root violations do not hide plugin errors: the plugins
 * section is checked whenever it has the right shape.
 */
export async function checkConfig(file: string | undefined): Promise<{
  source: string;
  plugins: string[];
  errors: { code: string; path: string; message: string }[];
}> {
  let loaded;
  try {
    loaded = loadConfig({ file });
  } catch (e) {
    const code = isGfError(e) ? e.code : KernelErrors.GF_CONFIG_UNREADABLE;
    return { source: file ?? 'defaults', plugins: [], errors: [{ code, path: '(file)', message: (e as Error).message }] };
  }
  const errors: { code: string; path: string; message: string }[] = loaded.violations.map((v) => ({ code: KernelErrors.GF_CONFIG_INVALID, path: v.path, message: v.message }));
  const config: GridflexConfig = loaded.config;
  // Without a well-formed plugins section there is nothing more to check.
  if (errors.some((e) => e.path === 'plugins' || /^plugins\.[^.]+(\.(enabled|module))?$/.test(e.path))) return { source: loaded.source, plugins: [], errors };
  const resolved = await resolvePlugins(config);
  const host = new PluginHost({
    plugins: resolved.plugins,
    configs: resolved.configs,
    root: createRootContainer(),
    log: createLogger({ level: 'silent' }),
    kernelVersion: VERSION,
    services: kernelServices(),
    kernel: { dataDir: config.dataDir, databaseUrl: config.database?.url || undefined, instanceId: 'config-check' },
  });
  for (const p of [...resolved.problems, ...host.check()]) {
    if (p.violations) for (const v of p.violations) errors.push({ code: p.code, path: v.path, message: v.message });
    else errors.push({ code: p.code, path: `plugins.${p.plugin}`, message: p.message });
  }
  return { source: loaded.source, plugins: resolved.plugins.map((p) => p.manifest.id), errors };
}

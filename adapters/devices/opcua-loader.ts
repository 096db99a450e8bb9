/**
 * node-opcua, loaded only when an OPC UA device or simulator is used, with its console output routed away
 * from stdout (where the CLI prints JSON and the server its log lines): to `sink`, stderr by default.
 */
type NodeOpcua = typeof import('node-opcua');

let sink: (level: 'debug' | 'warn' | 'error', line: string) => void = (level, line) => {
  if (level !== 'debug') process.stderr.write(`node-opcua ${level}: ${line}\n`);
};

export function setOpcuaLogSink(fn: typeof sink): void {
  sink = fn;
}

let loading: Promise<NodeOpcua> | undefined;

export function loadOpcua(): Promise<NodeOpcua> {
  loading ??= (async () => {
    const dbg = await import('node-opcua-debug');
    const fmt = (args: unknown[]) => args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : JSON.stringify(a))).join(' ');
    dbg.setDebugLogger((...a: unknown[]) => sink('debug', fmt(a)));
    dbg.setTraceLogger((...a: unknown[]) => sink('debug', fmt(a)));
    dbg.setWarningLogger((...a: unknown[]) => sink('warn', fmt(a)));
    dbg.setErrorLogger((...a: unknown[]) => sink('error', fmt(a)));
    return import('node-opcua');
  })();
  return loading;
}

import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

export type Logger = PinoLogger;

export interface LogOptions {
  level?: string;
  /** Where JSON lines go; stdout by default. Tests pass a stream to read the lines back. */
  destination?: DestinationStream;
}

/** Structured JSON logs, one object per line (pino). */
export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? process.env.LOG_LEVEL ?? 'info';
  return pino(
    { level, base: { service: 'gridflex' }, timestamp: pino.stdTimeFunctions.isoTime },
    opts.destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

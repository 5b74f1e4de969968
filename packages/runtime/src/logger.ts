import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Paths never logged: tokens and passwords (request headers, config, URLs we log as objects). */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'token',
  'tokens',
  'password',
  '*.password',
  '*.token',
];

/** One root logger per process; callers derive child({ reqId }) / child({ jobId }). */
export function createLogger(opts: { level?: string; name?: string; destination?: number } = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: opts.name ? { name: opts.name } : undefined,
    serializers: { err: pino.stdSerializers.err },
  };
  return pino(options, pino.destination({ dest: opts.destination ?? 1, sync: false }));
}

/** A logger that writes nothing (library defaults, tests). */
export const silentLogger: Logger = pino({ level: 'silent' });

/** Strip the password from a database or Redis URL before it is logged or shown. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z0-9+]+:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

/**
 * The composition root of remote mode (--server / IMGPORT_SERVER): the configuration, the
 * logger, and an API client carrying IMGPORT_TOKEN. Nothing local is opened: the server owns
 * the database, the install root and the jobs.
 */
import { createLogger, ImgportError, loadConfig, redactUrl, type Config, type Logger } from '@imgport/runtime';
import { cliLogLevel, type ContextOptions } from './context.js';
import { ApiClient } from './remote-client.js';

export interface Remote {
  config: Config;
  log: Logger;
  client: ApiClient;
}

/** --server wins over IMGPORT_SERVER; either empty means inline. */
export function serverOf(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (flag !== undefined) return flag === '' ? undefined : flag;
  return loadConfig(env).server;
}

export async function withRemote<T>(opts: ContextOptions & { server: string }, fn: (r: Remote) => Promise<T>): Promise<T> {
  const config = loadConfig(opts.env);
  const base = parseServer(opts.server);
  if (!config.clientToken) {
    throw new ImgportError(
      'BAD_REQUEST',
      `--server ${base.href} needs an API token: set IMGPORT_TOKEN to one of the server's tokens (IMGPORT_TOKENS); ` +
        'it is read from the environment only, so it never shows in a process listing',
    );
  }
  const log = createLogger({ level: cliLogLevel(config.logLevel, opts.verbose), name: opts.name, destination: 2 });
  try {
    log.debug({ server: base.href }, 'remote mode');
    return await fn({ config, log, client: new ApiClient(base, config.clientToken, log) });
  } finally {
    log.flush();
  }
}

/**
 * An http(s) base URL, kept with its path (an API behind a reverse proxy at /imgport/). A URL
 * with user:password is refused: fetch would not send it, and it would end up in messages.
 */
export function parseServer(value: string): URL {
  const shown = redactUrl(value);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ImgportError('BAD_REQUEST', `--server / IMGPORT_SERVER: "${shown}" is not a URL (expected http://host:port)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ImgportError('BAD_REQUEST', `--server / IMGPORT_SERVER: ${shown} must be an http:// or https:// URL`);
  }
  if (url.username || url.password) {
    throw new ImgportError('BAD_REQUEST', `--server / IMGPORT_SERVER: ${shown} must not carry credentials; put the token in IMGPORT_TOKEN`);
  }
  url.search = '';
  url.hash = '';
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/**
 * A real OCI registry for tests: Debian's docker-registry (the CNCF distribution registry) on a
 * free loopback port with its storage in a temp dir, ended by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export interface TestRegistry {
  host: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startRegistry(): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'imgport-registry-'));
  const port = await freePort();
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    ['version: 0.1', 'log:', '  level: error', 'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'data')}`, '  delete:', '    enabled: true', 'http:', `  addr: 127.0.0.1:${port}`, ''].join('\n'),
  );
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  while (!(await answers(host))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not start: ${stderr.slice(0, 500)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host,
    dir,
    stop: async () => {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        process.kill(child.pid!, 'SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function answers(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`http://${host}/v2/`, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * Docker does not run on our machines, so the deployment files are checked by reading them:
 * names, ports, volumes and every variable against the code's own configuration schema.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '@imgport/runtime';
import { REPO } from '../support/bundles.js';

interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, unknown>;
}
const compose = parse(readFileSync(join(REPO, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};
const svc = (name: string): ComposeService => {
  const s = compose.services[name];
  assert.ok(s, `service ${name} in docker-compose.yml`);
  return s;
};

/** KEY=VALUE lines of an env file, comments and blanks skipped. */
function envFile(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** `[Section]` → key → value of a systemd unit. */
function unit(path: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let section = '';
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) out[(section = s[1]!)] = {};
    else {
      const i = line.indexOf('=');
      assert.ok(i > 0 && section, `${path}: "${line}" is key=value inside a section`);
      out[section]![line.slice(0, i)] = line.slice(i + 1);
    }
  }
  return out;
}

test('compose has redis (noeviction, AOF), mariadb, api and worker', () => {
  assert.deepEqual(Object.keys(compose.services).sort(), ['api', 'mariadb', 'redis', 'worker']);
  const redis = svc('redis').command!.join(' ');
  assert.match(redis, /--maxmemory-policy noeviction/);
  assert.match(redis, /--appendonly yes/);
  assert.equal(svc('mariadb').environment?.MARIADB_DATABASE, 'xcatdb');
});

test('api and worker use only configuration names the code reads, with valid values', () => {
  for (const name of ['api', 'worker']) {
    const env = svc(name).environment!;
    for (const key of Object.keys(env)) assert.ok(CONFIG_VARIABLES.includes(key), `${name}: ${key} is a config variable`);
    const c = loadConfig(env);
    assert.match(c.redisUrl, /^redis:\/\/redis:6379$/);
    assert.match(c.xcatDb, /^mysql:\/\/.*@mariadb:3306\/xcatdb$/);
  }
});

test('the api publishes PORT, and both services mount the install root and IMGPORT_DATA where the config says', () => {
  const api = svc('api');
  const port = loadConfig(api.environment!).port;
  assert.ok(api.ports?.some((p) => p.endsWith(`:${port}`)), `api publishes ${port}`);
  for (const name of ['api', 'worker']) {
    const s = svc(name);
    const c = loadConfig(s.environment!);
    const targets = (s.volumes ?? []).map((v) => v.split(':')[1]);
    assert.ok(targets.includes(c.installRoot), `${name} mounts ${c.installRoot}`);
    assert.ok(targets.includes(c.dataDir), `${name} mounts ${c.dataDir}`);
    for (const v of s.volumes ?? []) assert.ok(v.split(':')[0]! in compose.volumes, `${name}: volume ${v} is declared`);
    assert.ok(existsSync(join(REPO, s.command![1]!.replace('/dist/', '/src/').replace(/\.js$/, '.ts'))), `${name} command ${s.command![1]} is built from a source file`);
  }
  assert.deepEqual(svc('api').volumes, svc('worker').volumes, 'api and worker share the same volumes');
});

test('systemd units run the built services with the env file; the env file is valid config', () => {
  const env = envFile(join(REPO, 'deploy/imgport.env'));
  for (const key of Object.keys(env)) assert.ok(CONFIG_VARIABLES.includes(key), `deploy/imgport.env: ${key} is a config variable`);
  assert.equal(loadConfig({ ...env, IMGPORT_TOKENS_FILE: undefined }).port, 8080);
  const units = readdirSync(join(REPO, 'deploy')).filter((f) => f.endsWith('.service')).sort();
  assert.deepEqual(units, ['imgport-api.service', 'imgport-worker@.service']);
  for (const [file, main] of [['imgport-api.service', 'services/api/dist/main.js'], ['imgport-worker@.service', 'services/worker/dist/main.js']] as const) {
    const u = unit(join(REPO, 'deploy', file));
    assert.equal(u.Service?.ExecStart, `/usr/bin/node ${main}`);
    assert.equal(u.Service?.EnvironmentFile, '/etc/imgport/imgport.env');
    assert.ok(existsSync(join(REPO, main.replace('/dist/', '/src/').replace(/\.js$/, '.ts'))), `${main} has a source`);
    assert.equal(u.Install?.WantedBy, 'multi-user.target');
  }
});

test('.env.example lists every configuration variable', () => {
  const example = envFile(join(REPO, '.env.example'));
  assert.deepEqual(Object.keys(example).sort(), [...CONFIG_VARIABLES].sort());
});

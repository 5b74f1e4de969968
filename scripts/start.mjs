#!/usr/bin/env node
// `npm start`: the API and one worker in the foreground, with the environment as it is (see
// .env.example). Ctrl-C or SIGTERM stops both gracefully. Production runs them as separate
// services (deploy/, docker-compose.yml).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const mains = ['services/api/dist/main.js', 'services/worker/dist/main.js'];
for (const m of mains) {
  if (!existsSync(root + m)) {
    console.error(`imgport: ${m} is not built; run npm run build first`);
    process.exit(2);
  }
}
const children = mains.map((m) => spawn(process.execPath, [root + m], { stdio: 'inherit' }));
let stopping = false;
const stop = (signal) => {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill(signal);
};
process.on('SIGINT', () => stop('SIGTERM'));
process.on('SIGTERM', () => stop('SIGTERM'));
let code = 0;
await Promise.all(
  children.map(
    (c) =>
      new Promise((resolve) =>
        c.on('exit', (status) => {
          if (status) code = status;
          // One part gone means the pair is broken: stop the other too.
          stop('SIGTERM');
          resolve();
        }),
      ),
  ),
);
process.exit(code);

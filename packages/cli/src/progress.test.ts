import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createProgressBar, renderBar } from './progress.js';
import { formatBytes, formatDuration } from './units.js';

const MiB = 1024 * 1024;

function fakeTty(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 100 as number | undefined, write: (s: string) => writes.push(s) > 0 } };
}

test('renders phase, bar, percent, bytes and rate', () => {
  const line = renderBar({ phase: 'stage', percent: 40, bytesDone: 12 * MiB, bytesTotal: 30 * MiB }, 3, 100);
  assert.equal(line, 'stage    [############------------------]  40%  12.0 MiB / 30.0 MiB  4.0 MiB/s');
});

test('an unknown total shows bytes only; a narrow terminal drops the bar', () => {
  const p = { phase: 'receive', percent: 0, bytesDone: 2048, bytesTotal: 0 } as const;
  assert.equal(renderBar(p, 0, 100), `receive  [${'-'.repeat(30)}]   0%  2.0 KiB`);
  assert.ok(renderBar({ ...p, bytesTotal: 4096, percent: 50 }, 1, 30).length < 30);
});

test('redraws at most every 100 ms and erases itself at the end', () => {
  const { writes, stream } = fakeTty(true);
  let t = 0;
  const bar = createProgressBar(stream, { enabled: true, now: () => t });
  for (t = 0; t < 1000; t += 10) bar.update({ phase: 'stage', percent: t / 10, bytesDone: t, bytesTotal: 1000 });
  assert.equal(writes.length, 10);
  bar.done();
  assert.equal(writes.at(-1), '\r\x1b[2K');
  assert.equal(writes.length, 11);
});

test('no bar when stderr is not a terminal or when disabled', () => {
  for (const [tty, enabled] of [[false, true], [true, false]] as const) {
    const { writes, stream } = fakeTty(tty);
    const bar = createProgressBar(stream, { enabled });
    bar.update({ phase: 'stage', percent: 1, bytesDone: 1, bytesTotal: 100 });
    bar.done();
    assert.deepEqual(writes, []);
  }
});

test('units', () => {
  assert.deepEqual([formatBytes(0), formatBytes(1023), formatBytes(1536), formatBytes(3 * MiB)], ['0 B', '1023 B', '1.5 KiB', '3.0 MiB']);
  assert.deepEqual([formatDuration(850), formatDuration(12_340), formatDuration(125_000)], ['0.85 s', '12.3 s', '2 min 5 s']);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgportError } from '@imgport/runtime';
import { ExpandBudget, ExpandMeter } from './expand-meter.js';
import { DEFAULT_LIMITS } from './types.js';

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;

/** A count of bytes read that grows with what was written (as an honest input does), counting how often it is asked. */
function input(ratio: number) {
  const state = { written: 0, asked: 0 };
  return { state, read: () => (state.asked++, Math.floor(state.written / ratio)) };
}

test('the budget asks how much was read only when the ratio check would fail with the last answer', () => {
  const { state, read } = input(2);
  const budget = new ExpandBudget({ maxExpandedBytes: 10 * 1024 * MiB, maxRatio: 200 }, read);
  for (let done = 0; done < 300 * MiB; done += CHUNK) {
    state.written += CHUNK;
    budget.charge(CHUNK, 'f');
  }
  assert.equal(budget.bytes, 300 * MiB);
  // Asking for every chunk was 2 400 reads of /proc for this much; a handful is the point.
  assert.ok(state.asked <= 3, `asked ${state.asked} times`);
});

test('a compression bomb still stops at the ratio, as soon as a fresh answer says so', () => {
  // 1 MiB read, then nothing more: 200-fold is passed after 200 MiB.
  let asked = 0;
  const budget = new ExpandBudget({ maxExpandedBytes: 10 * 1024 * MiB, maxRatio: 200 }, () => (asked++, MiB));
  let charged = 0;
  assert.throws(
    () => {
      for (;;) {
        budget.charge(CHUNK, 'zeros');
        charged += CHUNK;
      }
    },
    (err: unknown) => err instanceof ImgportError && err.code === 'LIMIT_EXCEEDED' && /maxRatio/.test(err.message),
  );
  assert.equal(charged, 200 * MiB, 'stopped at the first chunk past the ratio');
  assert.ok(asked > 1, 'the stale answer was refreshed before refusing');
});

test('an expansion meter judges its own ratio the same way: rarely asked, never looser', () => {
  const { state, read } = input(3);
  const meter = new ExpandMeter({ ...DEFAULT_LIMITS, maxRatio: 200 }, read);
  for (let done = 0; done < 200 * MiB; done += CHUNK) {
    state.written += CHUNK;
    meter.bytesFor(CHUNK, 'f');
  }
  assert.ok(state.asked <= 3, `asked ${state.asked} times`);

  const bomb = new ExpandMeter({ ...DEFAULT_LIMITS, maxRatio: 100 }, () => MiB / 2);
  let charged = 0;
  assert.throws(() => {
    for (;;) {
      bomb.bytesFor(CHUNK, 'zeros');
      charged += CHUNK;
    }
  }, /maxRatio/);
  assert.equal(charged, 64 * MiB, 'judged from the grace of 64 MiB on: 50 MiB allowed at 100-fold, so at once');
});

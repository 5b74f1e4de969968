/** The short subset of the fault tests that `npm test` runs: 20 uploads of one bundle under 20 profiles. */
import { after, before, test } from 'node:test';
import { world, type World } from './harness.js';
import { manyUploads } from './uploads-case.js';

let w: World;
before(async () => {
  w = await world('smoke');
});
after(() => w.close());

test('20 uploads of one bundle under 20 profiles, two workers: all succeed, nothing left', () => manyUploads(w, 20));

#!/usr/bin/env -S node --max-semi-space-size=4 --expose-gc
// Memory of an import: the chunks it inflates are buffers outside the JS heap, freed when a
// scavenge finds them dead. A 4 MiB young generation lets the short-lived objects of each entry
// die there (with 1 MiB they were promoted, and full collections took a fifth of the CPU); the
// archive code asks for a scavenge per 4 MiB of chunks through the gc() that --expose-gc
// provides, so dead chunks do not pile up before the next one (packages/archive/src/scavenge.ts).
import { launch } from './launch.js';

await launch('xcatimport');

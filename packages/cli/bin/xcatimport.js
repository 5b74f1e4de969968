#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=65536 node --max-semi-space-size=4 --expose-gc
// Memory of an import: the chunks it inflates are buffers outside the JS heap, freed when a
// scavenge finds them dead. A 4 MiB young generation lets the short-lived objects of each entry
// die there (with 1 MiB they were promoted, and full collections took a fifth of the CPU); the
// archive code asks for a scavenge per 4 MiB of chunks through the gc() that --expose-gc
// provides, so dead chunks do not pile up before the next one (packages/archive/src/scavenge.ts).
// MALLOC_MMAP_THRESHOLD_: glibc's malloc raises its mmap threshold each time a large block is
// freed, after which the 256 KiB inflate chunks and 64 KiB reads come from the brk heap, which
// fragments and never shrinks: on the 628 MiB bench bundle it grew 22 → 48 MiB and the peak RSS
// to 148 MiB. A fixed threshold keeps them mmapped, returned to the system when freed (peak
// 112 MiB, flat), for some page faults.
import { launch } from './launch.js';

await launch('xcatimport');

#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=4 --expose-gc
// Memory of an import: the chunks it inflates are buffers outside the JS heap, freed when a
// scavenge finds them dead. A 4 MiB young generation lets the short-lived objects of each entry
// die there (with 1 MiB they were promoted, and full collections took a fifth of the CPU); the
// archive code asks for a scavenge per 4 MiB of chunks through the gc() that --expose-gc
// provides, so dead chunks do not pile up before the next one (packages/archive/src/scavenge.ts).
// MALLOC_MMAP_THRESHOLD_: glibc's malloc raises its mmap threshold each time a large block is
// freed, after which the 256 KiB inflate chunks came from the brk heap too, which fragments and
// never shrinks (on the 628 MiB bench bundle it grew 22 → 48 MiB, peak RSS 148 MiB). A fixed
// 128 KiB keeps blocks that large mmapped, returned to the system when freed, while the 64 KiB
// reads from the inflating programs come from the heap and reuse its pages: mmapped, each was
// fresh memory to fault in and zero, 0.3 s of system time on the 97 MiB bench bundle, with the
// peak RSS the same (101–103 MiB; 127 MiB on the 628 MiB one).
// The other bins start node with the same flags: V8 takes the start-up bundle's code cache only
// under the flags it was made with (scripts/bundle-cli.mjs).
'use strict';
require('./launch.js').launch('xcatimport');

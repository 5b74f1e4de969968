#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=4 --expose-gc --max-inlined-bytecode-size-cumulative=200 --v8-pool-size=2
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
// --v8-pool-size=2: V8's background threads (TurboFan compiles, GC helpers; four by default)
// compete on a two-core node with the threads an import keeps busy (the parser, the writer, two
// inflating programs); with two, the import of the 97 MiB bench bundle took 1.70 → 1.54 s and
// 2.08 → 1.89 s (medians of 6 and 8 alternated runs), CPU 2.40 → 2.23 s, peak RSS unchanged. It
// is a node option, not a V8 flag, so the code cache still applies. An export does not gain from
// it (0.50 → 0.53 s), so xcatexport keeps the default.
// --max-inlined-bytecode-size-cumulative=200 (V8's default is 920): TurboFan inlines less into
// each function it optimizes, so its compiles are smaller. On the 97 MiB bench bundle they took
// ~390 ms of CPU in a 1 s import, on the second core beside the writer and the inflate, and 290 ms
// with the cap; the import took 2 % less (three sets of 10-12 alternated runs: 0.97-0.98 of the
// time, CPU -35 ms) and the export 5 % less, while the 628 MiB bundle's import stayed the same
// (1.00 and 1.01, 6 pairs each), its code no slower for it. Optimizing later instead
// (--interrupt-budget 2-6 times V8's) gained the small import 2-6 % but cost the large one 1-5 %.
// The other bins start node with the same V8 flags: V8 takes the start-up bundle's code cache
// only under the flags it was made with (scripts/bundle-cli.mjs).
'use strict';
require('./launch.js').launch('xcatimport');

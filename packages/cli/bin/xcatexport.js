#!/usr/bin/env -S node --max-semi-space-size=4 --expose-gc --max-inlined-bytecode-size-cumulative=200
// The node flags of xcatimport.js: under other flags V8 refuses the start-up bundle's code cache.
// Not its fixed MALLOC_MMAP_THRESHOLD_: an export copies each 512 KiB read of a root image into
// a buffer of its own (direct-read.ts), and with the threshold fixed at 128 KiB every such buffer
// was a fresh mapping to fault in and zero. Left to glibc, the threshold rises past them after
// the first is freed and they reuse the heap's pages: 0.45 → 0.36 s and 0.59 → 0.46 s of CPU on
// the 97 MiB bench image, peak RSS 99 → 100 MiB.
'use strict';
require('./launch.js').launch('xcatexport');

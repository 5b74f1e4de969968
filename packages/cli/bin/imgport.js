#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=4 --expose-gc --max-inlined-bytecode-size-cumulative=200 --v8-pool-size=2
// `imgport import` and `revert` import as xcatimport does: the same young generation, scavenges and V8 thread pool (see xcatimport.js).
'use strict';
require('./launch.js').launch('imgport');

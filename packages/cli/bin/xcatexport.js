#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=4 --expose-gc
// The flags of xcatimport.js: under other flags V8 refuses the start-up bundle's code cache.
'use strict';
require('./launch.js').launch('xcatexport');

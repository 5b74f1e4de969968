#!/usr/bin/env -S node --max-semi-space-size=1
// A small young generation for import: the chunks it inflates die young and are freed at the
// next scavenge, which then comes often; with the default (16 MiB semi-spaces) they pile up to
// tens of MiB before it comes (peak RSS over 128 MiB on large root images).
import { launch } from './launch.js';

await launch('xcatimport');

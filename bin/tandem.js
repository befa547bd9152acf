#!/usr/bin/env node
// The `tandem` binary: runs the compiled CLI (built by `npm install` through the `prepare` script).
import '../dist/cli/run.js';

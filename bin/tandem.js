#!/usr/bin/env node
// The `tandem` binary: runs the compiled CLI (built by `npm install` through the `prepare` script).
import { main } from '../dist/cli/index.js';
main(process.argv).then((code) => { process.exitCode = code; });

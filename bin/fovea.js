#!/usr/bin/env node
// Entry point for `npx fovea` / the package's bin: runs the compiled CLI.
import { main } from '../dist/src/cli.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`fovea: ${err?.stack ?? err}\n`); process.exitCode = 1; },
);

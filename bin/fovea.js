#!/usr/bin/env node
// Entry point for `npx fovea` / the package's bin: runs the compiled CLI (npm run build).
import { holdYoungGeneration } from '../dist/src/agent/young-generation.js';

// The agent starts with V8's young generation held small, before the CLI's modules load
// (src/agent/young-generation.ts); other commands keep V8's defaults.
if (process.argv[2] === 'agent') holdYoungGeneration();
const { main } = await import('../dist/src/cli.js');

// `fovea reasons | head` closes our stdout early: that is not an error.
process.stdout.on('error', (err) => { if (err.code === 'EPIPE') process.exit(0); throw err; });

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`fovea: ${err?.stack ?? err}\n`); process.exitCode = 1; },
);

/**
 * Builds what the end-to-end tests run (eBPF objects, dist/ for bin/fovea.js) once per test run,
 * so a test never runs a stale build. Incremental and quick when nothing changed.
 */
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  if (process.env['FOVEA_SKIP_BUILD'] === '1') return;
  execFileSync('bash', ['scripts/build.sh'], { stdio: ['ignore', 'ignore', 'inherit'] });
}

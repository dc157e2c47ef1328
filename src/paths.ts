/** Locations inside the installed package (works from src/ under vitest and from dist/src/). */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: the nearest parent directory holding package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = resolve(dir, '..');
    if (up === dir) throw new Error('cannot find the fovea package root');
    dir = up;
  }
}

/** Where the compiled eBPF objects are (npm run build:bpf). */
export function defaultBpfObjectDir(): string {
  return join(packageRoot(), 'bpf', 'build');
}

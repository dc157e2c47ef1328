#!/usr/bin/env node
// Removes from a production node_modules (after `npm prune --omit=dev`) files Node never loads, for
// a smaller image. The Dockerfile's build stage runs it; test/deploy/dockerfile.test.ts runs the
// CLI from what is left, test/e2e/image.test.ts the agent in the image.
//   - type declarations (*.d.ts, *.d.mts, *.d.cts), source maps (*.map), TypeScript sources (*.ts,
//     *.mts, *.cts) and Markdown (READMEs, changelogs): Node runs none of them (the agent runs
//     without --enable-source-maps);
//   - a package's alternative builds for bundlers and browsers (build/esm, build/esnext, dist/esm,
//     umd, browser, …) that none of its entry points reachable from Node (main, and the targets
//     of exports/imports under the node, import, require and default conditions) leads into;
//   - koffi's prebuilt binaries for every other platform (it ships ~18 of them, 74 MB) and the
//     C++ sources it would rebuild from: koffi loads build/koffi/<platform>_<arch>/koffi.node, and
//     the image runs on the architecture it is built on.
// package.json files, licences and everything else stay.
// Usage: node scripts/slim-node-modules.mjs <node_modules>
import { existsSync, lstatSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join, posix } from 'node:path';

const root = process.argv[2];
if (!root || !existsSync(join(root, '.package-lock.json'))) {
  console.error('usage: node scripts/slim-node-modules.mjs <node_modules of an npm install>');
  process.exit(2);
}

const DROP_FILE = /\.(d\.[cm]?ts|[cm]?ts|map|md|markdown)$/i;
const KEEP_FILE = /^(licen[cs]e|copying|notice)/i;
const ALT_BUILDS = ['build/esm', 'build/esnext', 'dist/esm', 'dist/es', 'dist/umd', 'esm', 'es', 'umd', 'browser'];
const NODE_CONDITIONS = new Set(['node', 'import', 'require', 'default', 'node-addons', 'module-sync']);
const removed = { files: 0, alt: 0, koffi: 0 };

/** Size of a file or a whole tree, then remove it. */
function remove(path) {
  let bytes = 0;
  const walk = (p) => {
    const st = lstatSync(p);
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
    else bytes += st.size;
  };
  walk(path);
  rmSync(path, { recursive: true, force: true });
  return bytes;
}

/** Every target an exports/imports map can resolve to under Node's conditions (any order). */
function targets(map, out) {
  if (typeof map === 'string') out.push(map);
  else if (Array.isArray(map)) for (const m of map) targets(m, out);
  else if (map && typeof map === 'object') {
    for (const [k, v] of Object.entries(map)) if (k.startsWith('.') || k.startsWith('#') || NODE_CONDITIONS.has(k)) targets(v, out);
  }
  return out;
}

/** Alternative builds no Node entry point of the package at `dir` leads into. */
function unusedAltBuilds(dir) {
  let pkg;
  try { pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')); } catch { return []; }
  if (!pkg.name) return [];
  const entries = [pkg.main ?? 'index.js', ...targets(pkg.exports, []), ...targets(pkg.imports, []),
    ...(typeof pkg.bin === 'string' ? [pkg.bin] : Object.values(pkg.bin ?? {}))]
    .filter((t) => typeof t === 'string' && !t.startsWith('#'))
    .map((t) => posix.normalize(t).replace(/^\.\//, ''));
  return ALT_BUILDS.filter((alt) => existsSync(join(dir, alt)) && lstatSync(join(dir, alt)).isDirectory()
    && !entries.some((e) => e === alt || e.startsWith(`${alt}/`) || e.includes('*')));
}

function walk(dir) {
  if (existsSync(join(dir, 'package.json'))) {
    for (const alt of unusedAltBuilds(dir)) {
      if (process.env.SLIM_VERBOSE) console.log(`  ${join(dir, alt)}`);
      removed.alt += remove(join(dir, alt));
    }
  }
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.isFile() && DROP_FILE.test(e.name) && !KEEP_FILE.test(e.name)) {
      removed.files += remove(p);
    }
  }
}
walk(root);

const koffi = join(root, 'koffi');
if (existsSync(join(koffi, 'package.json'))) {
  const keep = `${process.platform}_${process.arch}`;
  const builds = join(koffi, 'build', 'koffi');
  if (!existsSync(join(builds, keep, 'koffi.node'))) {
    console.error(`slim-node-modules: koffi has no prebuilt binary for ${keep}: left as is`);
  } else {
    for (const d of readdirSync(builds)) if (d !== keep) removed.koffi += remove(join(builds, d));
    for (const d of ['src', 'vendor', 'doc']) if (existsSync(join(koffi, d))) removed.koffi += remove(join(koffi, d));
  }
}

const mb = (b) => (b / 1e6).toFixed(1);
console.log(`slim-node-modules: removed ${mb(removed.files)} MB of declarations, maps, TypeScript and Markdown, `
  + `${mb(removed.alt)} MB of bundler/browser builds, ${mb(removed.koffi)} MB of koffi's other platforms and sources`);

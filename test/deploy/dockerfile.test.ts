/**
 * Dockerfile, read: its stages, packages, build commands, labels and entrypoint, checked against
 * package.json, scripts/setup.sh and src/runtime.ts. Unprivileged and quick. The image itself is
 * built from this file and run by test/e2e/image.test.ts (podman, scripts/image.sh), which checks
 * the layout its commands produce (the eBPF objects, the compiled CLI, production dependencies
 * only, modes for any UID) in the real image.
 */
import { AGENT_NODE_FLAGS } from '../../src/runtime.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './helpers.js';

interface Instruction { keyword: string; args: string; line: number }
interface Stage { from: string; name?: string; instructions: Instruction[] }

/** Dockerfile → stages of instructions (continuations joined, comments dropped, global ARG defaults applied to FROM). */
function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const logical: Array<{ text: string; line: number }> = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const l = raw.trim();
    if (buf === '' && (l === '' || l.startsWith('#'))) return;
    if (buf !== '' && l.startsWith('#')) return;         // comment lines inside a continuation
    if (buf === '') start = i + 1;
    if (l.endsWith('\\')) { buf += `${l.slice(0, -1)} `; return; }
    logical.push({ text: buf + l, line: start });
    buf = '';
  });
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const { text: t, line } of logical) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(t);
    if (!m) throw new Error(`Dockerfile:${line}: cannot parse ${t}`);
    const keyword = m[1]!.toUpperCase();
    const rest = m[2]!.trim();
    if (keyword === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)!;
      stages.push({ from: f[1]!.replace(/\$\{(\w+)\}/g, (_a, n: string) => args[n] ?? ''), name: f[2], instructions: [] });
    } else if (stages.length === 0 && keyword === 'ARG') {
      const [n, v] = rest.split('=');
      args[n!] = v ?? '';
    } else {
      stages.at(-1)!.instructions.push({ keyword, args: rest, line });
    }
  }
  return { args, stages };
}

/** apt-get install lines → packages. */
const aptPackages = (stage: Stage): string[] => stage.instructions
  .filter((i) => i.keyword === 'RUN' && /apt-get\s+install/.test(i.args))
  .flatMap((i) => /apt-get\s+install\s+([^&]*)/.exec(i.args)![1]!.split(/\s+/).filter((w) => w && !w.startsWith('-')));

/** The Debian packages scripts/setup.sh installs (PKGS and the --test additions). */
function setupPackages(): Set<string> {
  const text = readFileSync(join(REPO, 'scripts/setup.sh'), 'utf8');
  return new Set([...text.matchAll(/PKGS\+?=\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(/\s+/).filter(Boolean)));
}

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  version: string; license: string; engines: { node: string }; dependencies: Record<string, string>; devDependencies: Record<string, string>;
};
const dockerfile = parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));
const build = dockerfile.stages.find((s) => s.name === 'build')!;
const runtime = dockerfile.stages.at(-1)!;

describe('Dockerfile', () => {
  it('builds on Debian 12 (bookworm, what scripts/setup.sh targets) with the Node major package.json asks for', () => {
    expect(dockerfile.stages).toHaveLength(2);
    expect(build).toBeDefined();
    const major = /(\d+)/.exec(pkg.engines.node)![1];
    for (const s of dockerfile.stages) expect(s.from).toBe(`node:${major}-bookworm-slim`);
  });

  it('installs only Debian packages scripts/setup.sh installs (the build as CI builds, the runtime as the demo runs)', () => {
    const setup = setupPackages();
    expect(aptPackages(build).sort()).toEqual(['clang', 'libbpf-dev', 'llvm']);
    expect(aptPackages(runtime).sort()).toEqual(['iproute2', 'libbpf1']);
    for (const p of [...aptPackages(build), ...aptPackages(runtime)]) expect(setup.has(p), p).toBe(true);
  });

  it('runs the build script CI runs, prunes dev dependencies, then what Node never loads', () => {
    const runs = build.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /(^|&&\s*)bash scripts\/build\.sh(\s|$)/.test(r))).toBe(true);
    expect(readFileSync(join(REPO, 'scripts/setup.sh'), 'utf8')).toMatch(/^bash scripts\/build\.sh$/m);
    expect(runs.some((r) => /npm prune --omit=dev.*&&\s*node scripts\/slim-node-modules\.mjs node_modules/.test(r))).toBe(true);
  });

  it('takes npm from the base image, else (Debian\'s nodejs has none) from corepack at a pinned release', () => {
    const npmArg = build.instructions.find((i) => i.keyword === 'ARG' && i.args.startsWith('NPM_VERSION='));
    expect(npmArg?.args).toMatch(/^NPM_VERSION=\d+\.\d+\.\d+$/);
    const i = build.instructions.findIndex((x) => x.keyword === 'RUN' && x.args.includes('corepack'));
    expect(build.instructions[i]?.args).toBe('command -v npm >/dev/null || { corepack enable npm && corepack prepare "npm@${NPM_VERSION}" --activate; }');
    expect(i).toBeLessThan(build.instructions.findIndex((x) => x.keyword === 'RUN' && x.args.startsWith('npm ci')));
  });

  it('the commit comes last: a new revision changes only the image\'s last layer', () => {
    const last = runtime.instructions.slice(-2);
    expect(last.map((i) => `${i.keyword} ${i.args}`)).toEqual(['ARG REVISION=unknown', 'LABEL org.opencontainers.image.revision="${REVISION}"']);
    expect(runtime.instructions.filter((i) => i.args.includes('REVISION'))).toHaveLength(2);
  });

  it('labels the image (OCI annotations) with package.json\'s version and licence', () => {
    const labels = runtime.instructions.filter((i) => i.keyword === 'LABEL').map((i) => i.args).join(' ');
    for (const key of ['title', 'description', 'version', 'revision', 'licenses']) expect(labels).toContain(`org.opencontainers.image.${key}=`);
    expect(labels).toContain(`org.opencontainers.image.licenses="${pkg.license}"`);
    const version = runtime.instructions.find((i) => i.keyword === 'ARG' && i.args.startsWith('VERSION='));
    expect(version?.args).toBe(`VERSION=${pkg.version}`);
  });

  it('runs the CLI from /opt/fovea, the agent by default', () => {
    expect(runtime.instructions.find((i) => i.keyword === 'WORKDIR')?.args).toBe('/opt/fovea');
    expect(JSON.parse(runtime.instructions.find((i) => i.keyword === 'ENTRYPOINT')!.args)).toEqual(['node', ...AGENT_NODE_FLAGS, '/opt/fovea/bin/fovea.js']);
    expect(JSON.parse(runtime.instructions.find((i) => i.keyword === 'CMD')!.args)).toEqual(['agent']);
    // and as `fovea` on the PATH for kubectl exec (bin/fovea.js is executable, with a node shebang)
    expect(runtime.instructions.some((i) => i.keyword === 'RUN' && i.args === 'ln -s /opt/fovea/bin/fovea.js /usr/local/bin/fovea')).toBe(true);
    expect(readFileSync(join(REPO, 'bin/fovea.js'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
  });
});

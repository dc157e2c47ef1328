/**
 * Dockerfile: its build stage's commands run outside Docker, so they cannot rot. In a temp
 * directory, the build stage's COPY lines copy from the repository (so the build sees only what the
 * image build would), its RUN lines run in order (`npm ci`, `bash scripts/build.sh`, `npm prune`,
 * …), then the runtime stage's COPY --from lines assemble /opt/fovea, which is checked: the eBPF
 * objects, the compiled CLI, production dependencies only, modes for any UID, and the CLI running
 * from there. apt-get lines are not run: their packages must be ones scripts/setup.sh installs
 * (Debian 12, as the node:*-bookworm images), which are on this machine.
 */
import { AGENT_NODE_FLAGS } from '../../src/runtime.js';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { cp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, run } from './helpers.js';

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

/** COPY [--flags] src... dest */
function copyOf(i: Instruction): { from?: string; srcs: string[]; dest: string } {
  const words = i.args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  return { from: flags.find((f) => f.startsWith('--from='))?.slice('--from='.length), srcs: paths.slice(0, -1), dest: paths.at(-1)! };
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

/** A RUN line, asynchronously (a synchronous minute-long build would stall vitest's worker). */
function runShell(cmd: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', cmd], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (b: Buffer) => { output = (output + b.toString()).slice(-8_000); };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
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

  it('runs the build script CI runs, and prunes dev dependencies', () => {
    const runs = build.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /(^|&&\s*)bash scripts\/build\.sh(\s|$)/.test(r))).toBe(true);
    expect(readFileSync(join(REPO, 'scripts/setup.sh'), 'utf8')).toMatch(/^bash scripts\/build\.sh$/m);
    expect(runs.some((r) => /npm prune --omit=dev/.test(r))).toBe(true);
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

  describe('build stage, run outside Docker', () => {
    let root: string;
    let buildDir: string;
    let app: string;
    const env: NodeJS.ProcessEnv = { ...process.env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' };
    const ran: string[] = [];

    beforeAll(async () => {
      root = mkdtempSync(join(tmpdir(), 'fovea-dockerfile-'));
      buildDir = root;
      let workdir = '/';
      const at = (p: string) => join(root, posix.isAbsolute(p) ? p : posix.join(workdir, p));
      for (const i of build.instructions) {
        if (i.keyword === 'WORKDIR') { workdir = i.args; mkdirSync(at('.'), { recursive: true }); buildDir = at('.'); }
        else if (i.keyword === 'COPY') {
          const c = copyOf(i);
          for (const src of c.srcs) {
            const dest = c.dest.endsWith('/') && c.srcs.length === 1 && !src.endsWith('/') ? posix.join(c.dest, posix.basename(src)) : c.dest;
            const from = join(REPO, src);
            const to = src.endsWith('/') || statSync(from).isDirectory() ? at(dest) : (dest.endsWith('/') ? join(at(dest), posix.basename(src)) : at(dest));
            await cp(from, to, { recursive: true });
          }
        } else if (i.keyword === 'RUN') {
          if (/apt-get/.test(i.args)) continue;            // checked above: setup.sh's packages
          const r = await runShell(i.args, at('.'), env);
          if (r.code !== 0) throw new Error(`Dockerfile:${i.line}: RUN ${i.args}\nexit ${r.code}\n${r.output}`);
          ran.push(i.args);
        } else if (i.keyword === 'ENV') {
          const [k, v] = i.args.split('=');
          env[k!] = v;
        }
      }
      // the runtime stage: its COPY --from=build lines assemble the image's WORKDIR
      const runtimeDir = join(root, 'runtime');
      let rworkdir = '/';
      for (const i of runtime.instructions) {
        if (i.keyword === 'WORKDIR') rworkdir = i.args;
        else if (i.keyword === 'COPY') {
          const c = copyOf(i);
          expect(c.from, `Dockerfile:${i.line}: runtime COPY only from the build stage`).toBe('build');
          for (const src of c.srcs) {
            const from = join(root, src);
            const dest = posix.isAbsolute(c.dest) ? c.dest : posix.join(rworkdir, c.dest);
            const to = statSync(from).isDirectory() ? join(runtimeDir, dest) : join(runtimeDir, dest.endsWith('/') ? posix.join(dest, posix.basename(src)) : dest);
            await cp(from, to, { recursive: true, verbatimSymlinks: true });
          }
        } else if (i.keyword === 'ENV') {
          const [k, v] = i.args.split('=');
          env[k!] = v;
        }
        // RUN lines of the runtime stage (apt-get, the PATH link) touch system paths: checked above, not run here
      }
      app = join(runtimeDir, rworkdir);
    }, 600_000);

    afterAll(async () => { if (root) await rm(root, { recursive: true, force: true }); }, 300_000);

    it('ran npm ci, the build script and the prune', () => {
      expect(ran.some((r) => r.startsWith('npm ci'))).toBe(true);
      expect(ran.some((r) => r.includes('bash scripts/build.sh'))).toBe(true);
      expect(buildDir).toBe(join(root, 'src'));
    });

    it('the image holds the eBPF objects, the compiled CLI, package.json — and nothing of the sources', () => {
      const objects = readdirSync(join(REPO, 'bpf')).filter((f) => f.endsWith('.bpf.c')).map((f) => f.replace(/\.c$/, '.o')).sort();
      const shipped = readdirSync(join(app, 'bpf/build')).sort();
      expect(shipped).toEqual(expect.arrayContaining(objects));      // one per program (build-bpf.sh may add variants)
      expect(shipped.filter((f) => !f.endsWith('.bpf.o'))).toEqual([]);
      expect(shipped).toEqual(readdirSync(join(buildDir, 'bpf/build')).filter((f) => f.endsWith('.bpf.o')).sort());
      expect(existsSync(join(app, 'dist/src/cli.js'))).toBe(true);
      expect(statSync(join(app, 'bin/fovea.js')).mode & 0o111).toBe(0o111);   // executable by all (the PATH link)
      expect(JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'))).toMatchObject({ name: 'fovea', version: pkg.version, type: 'module' });
      expect(readdirSync(app).sort()).toEqual(['bin', 'bpf', 'dist', 'node_modules', 'package.json']);
      expect(readdirSync(join(app, 'dist'))).toEqual(['src']);
    });

    it('production dependencies only (package-lock.json: every non-dev package, no dev-only one)', () => {
      const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean }> };
      const missing: string[] = [];
      const extra: string[] = [];
      for (const [path, p] of Object.entries(lock.packages)) {
        if (!path) continue;
        const there = existsSync(join(app, path, 'package.json'));
        if (p.dev && there) extra.push(path);
        if (!p.dev && !p.optional && !there) missing.push(path);
      }
      expect({ missing, extra }).toEqual({ missing: [], extra: [] });
      for (const d of Object.keys(pkg.dependencies)) expect(existsSync(join(app, 'node_modules', d, 'package.json')), d).toBe(true);
      expect(existsSync(join(app, 'node_modules/typescript'))).toBe(false);
    });

    it('every file is readable by any user and writable by none but its owner', () => {
      const bad: string[] = [];
      const walk = (p: string): void => {
        const st = statSync(p);
        if ((st.mode & 0o022) !== 0) bad.push(`${p}: group/other-writable`);
        if ((st.mode & 0o004) === 0) bad.push(`${p}: not readable by others`);
        if (st.isDirectory()) {
          if ((st.mode & 0o001) === 0) bad.push(`${p}: not searchable by others`);
          for (const e of readdirSync(p)) walk(join(p, e));
        }
      };
      walk(app);
      expect(bad.slice(0, 10)).toEqual([]);
    });

    it('the CLI runs from the image layout: --help, agent --help, and reasons (koffi + the system libbpf + kernel BTF)', () => {
      const cli = (...args: string[]) => run('node', ['bin/fovea.js', ...args], { cwd: app, env });
      const help = cli('--help');
      expect(help.code, help.stderr).toBe(0);
      expect(help.stdout).toMatch(/Usage: fovea <command>/);
      const agentHelp = cli('agent', '--help');
      expect(agentHelp.code, agentHelp.stderr).toBe(0);
      expect(agentHelp.stdout).toMatch(/Usage: fovea agent/);
      const reasons = cli('reasons', '--json');
      expect(reasons.code, reasons.stderr).toBe(0);
      expect(reasons.stdout).toContain('NETFILTER_DROP');
    });
  });
});

/**
 * The real image, built and run. scripts/image.sh builds the Dockerfile with podman on a base made
 * from Debian packages (no image registry), and the image runs the way the DaemonSet runs it: the
 * podman flags are derived from the rendered manifest (`kubectl kustomize deploy/base`) — not
 * privileged, `--cap-drop ALL` plus the manifest's capabilities, host network, read-only root
 * filesystem, its volumes (the ConfigMap read-only at /etc/fovea, /run/fovea a memory-backed tmpfs),
 * its user, seccomp profile, resource limits, environment and grace period. Anything in the
 * manifest this test cannot map to podman fails it. Against a lab: the container becomes ready,
 * loads both probes, and the drops it exports equal the nft rule's counter; `fovea doctor` passes
 * through `podman exec` (as through `kubectl exec`), `fovea reasons` runs as UID 65534. Where the
 * manifest and the image disagree (image name, entrypoint, paths, user, capabilities, mounts), a
 * test fails.
 *
 * Seccomp `RuntimeDefault` is a runtime's default profile: here the current one of the container
 * tools (Debian 13's containers-common: bpf(2) with CAP_BPF, perf_event_open with CAP_PERFMON, as
 * containerd >= 1.7's). Older profiles allow both only with CAP_SYS_ADMIN (Debian 12's podman,
 * containerd < 1.7): there the probes cannot load, and deploy/components/seccomp-unconfined is the
 * remedy — both checked below.
 *
 * Needs root, kubectl (scripts/setup.sh --test) and the network the build needs (Debian mirror, npm
 * registry). Elsewhere it skips and says why; in CI (CI=true) it fails instead. FOVEA_SKIP_IMAGE=1
 * skips it on a development machine (not in CI).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DENY_PORT, Lab } from '../../src/lab/lab.js';
import { nftRuleCounters } from '../../src/lab/kernel-truth.js';
import { sendUdp } from '../../src/lab/traffic.js';
import { OtlpReceiver } from '../../src/otlp/receiver.js';
import { AGENT_NODE_FLAGS } from '../../src/runtime.js';
import {
  REPO, agentConfig, configMap, fileSource, kustomize, missingTools, one, podSpec,
  type Container, type K8sObject, type PodSpec,
} from '../deploy/helpers.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { PODMAN, PODMAN_GLOBAL, podman, runAsync, spawnPodmanRun, ulimitFlags } from '../helpers/podman.js';

const PACKAGE_VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const SECCOMP_CURRENT = join(REPO, '.cache/deb13-tools/root/usr/share/containers/seccomp.json');
const SIZE_TARGET = 250e6;
const NF_UDP = { 'fovea.drop.reason': 'NETFILTER_DROP', 'network.transport': 'udp', 'network.type': 'ipv4' };

// ---- the manifest → podman run ------------------------------------------------------------------

interface SeccompProfiles { RuntimeDefault: string }
interface HttpProbe { host: string; port: number; path: string }
interface RunPlan {
  /** `podman run` flags, without the image and its arguments. */
  flags: string[];
  env: Record<string, string>;
  args: string[];
  command?: string[];
  uid: number | undefined;
  readiness?: HttpProbe;
  liveness?: HttpProbe;
  gracePeriodS: number;
  /** Volumes by mount path, as mapped. */
  mounts: Array<{ path: string; kind: 'configMap' | 'emptyDir' | 'hostPath'; writable: boolean }>;
}

/** Kubernetes quantities: 512Mi → bytes, 500m → 0.5. */
function quantity(q: string | number): number {
  const m = /^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(q));
  if (!m) throw new Error(`cannot read quantity ${q}`);
  const f: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
  return Number(m[1]) * (m[2] ? f[m[2]]! : 1);
}

const POD_KEYS_IGNORED = new Set(['serviceAccountName', 'automountServiceAccountToken', 'priorityClassName', 'dnsPolicy',
  'tolerations', 'nodeSelector', 'affinity', 'containers', 'volumes', 'hostNetwork', 'hostPID', 'hostIPC', 'terminationGracePeriodSeconds']);
const CONTAINER_KEYS = new Set(['name', 'image', 'imagePullPolicy', 'args', 'command', 'env', 'resources', 'securityContext',
  'livenessProbe', 'readinessProbe', 'startupProbe', 'volumeMounts', 'ports']);
const SECURITY_KEYS = new Set(['privileged', 'runAsUser', 'runAsGroup', 'runAsNonRoot', 'allowPrivilegeEscalation',
  'readOnlyRootFilesystem', 'seccompProfile', 'capabilities']);

/**
 * What the kubelet and container runtime would do with this pod, as podman flags. Throws on
 * anything it does not know how to map: the test must then learn it, not ignore it.
 */
function planFromManifest(objs: readonly K8sObject[], spec: PodSpec, c: Container, seccomp: SeccompProfiles, scratch: string): RunPlan {
  const unknownPod = Object.keys(spec).filter((k) => !POD_KEYS_IGNORED.has(k));
  if (unknownPod.length) throw new Error(`pod spec fields not mapped to podman: ${unknownPod.join(', ')}`);
  const unknownC = Object.keys(c).filter((k) => !CONTAINER_KEYS.has(k));
  if (unknownC.length) throw new Error(`container fields not mapped to podman: ${unknownC.join(', ')}`);
  const flags: string[] = ['--pull', 'never', ...ulimitFlags()];
  const s = spec as PodSpec & { hostPID?: boolean; hostIPC?: boolean; terminationGracePeriodSeconds?: number };
  if (s.hostNetwork) flags.push('--network', 'host');
  if (s.hostPID) flags.push('--pid', 'host');
  if (s.hostIPC) flags.push('--ipc', 'host');

  // securityContext
  const sc = (c.securityContext ?? {}) as Record<string, unknown> & {
    privileged?: boolean; runAsUser?: number; runAsGroup?: number; runAsNonRoot?: boolean; allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean; seccompProfile?: { type: string; localhostProfile?: string }; capabilities?: { add?: string[]; drop?: string[] };
  };
  const unknownSc = Object.keys(sc).filter((k) => !SECURITY_KEYS.has(k));
  if (unknownSc.length) throw new Error(`securityContext fields not mapped to podman: ${unknownSc.join(', ')}`);
  if (sc.privileged) flags.push('--privileged');
  if (sc.runAsUser !== undefined) flags.push('--user', sc.runAsGroup !== undefined ? `${sc.runAsUser}:${sc.runAsGroup}` : String(sc.runAsUser));
  if (sc.allowPrivilegeEscalation === false) flags.push('--security-opt', 'no-new-privileges');
  // Kubernetes mounts nothing writable on a read-only root by itself (podman would: /tmp, /run, /var/tmp)
  if (sc.readOnlyRootFilesystem) flags.push('--read-only', '--read-only-tmpfs=false');
  const seccompType = sc.seccompProfile?.type ?? 'RuntimeDefault';
  if (seccompType === 'RuntimeDefault') flags.push('--security-opt', `seccomp=${seccomp.RuntimeDefault}`);
  else if (seccompType === 'Unconfined') flags.push('--security-opt', 'seccomp=unconfined');
  else throw new Error(`seccompProfile ${seccompType} not mapped to podman`);
  for (const cap of sc.capabilities?.drop ?? []) flags.push('--cap-drop', cap.toUpperCase() === 'ALL' ? 'all' : cap);
  for (const cap of sc.capabilities?.add ?? []) flags.push('--cap-add', cap);

  // resources: the limits are the cgroup's; the CPU request is the kubelet's cpu.shares
  const lim = c.resources?.limits ?? {};
  if (lim['memory']) flags.push('--memory', `${quantity(lim['memory'])}b`);
  if (lim['cpu']) flags.push('--cpus', String(quantity(lim['cpu'])));
  const req = c.resources?.requests?.['cpu'];
  if (req) flags.push('--cpu-shares', String(Math.max(2, Math.floor(quantity(req) * 1024))));

  // volumes
  const mounts: RunPlan['mounts'] = [];
  for (const m of c.volumeMounts ?? []) {
    if (m.subPath) throw new Error(`volumeMount ${m.name}: subPath not mapped`);
    const v = spec.volumes?.find((x) => x.name === m.name);
    if (!v) throw new Error(`volumeMount ${m.name}: no such volume`);
    if (v.configMap) {
      const data = configMap(objs, v.configMap.name.replace(/-[a-z0-9]{10}$/, '')).data;
      const dir = join(scratch, `configmap-${m.name}`);
      mkdirSync(dir, { recursive: true });
      const items = v.configMap.items ?? Object.keys(data).map((key) => ({ key, path: key }));
      for (const it of items) {
        mkdirSync(dirname(join(dir, it.path)), { recursive: true });
        writeFileSync(join(dir, it.path), data[it.key]!, { mode: 0o644 });
      }
      flags.push('--volume', `${dir}:${m.mountPath}:ro`);        // ConfigMap volumes are read-only
      mounts.push({ path: m.mountPath, kind: 'configMap', writable: false });
    } else if (v.emptyDir !== undefined) {
      const e = (v.emptyDir ?? {}) as { medium?: string; sizeLimit?: string };
      if (e.medium === 'Memory') {
        const size = e.sizeLimit ? `,size=${quantity(e.sizeLimit)}` : '';
        flags.push('--tmpfs', `${m.mountPath}:rw,mode=0777${size}`);
      } else {
        const dir = join(scratch, `emptydir-${m.name}`);
        mkdirSync(dir, { recursive: true, mode: 0o777 });
        flags.push('--volume', `${dir}:${m.mountPath}${m.readOnly ? ':ro' : ''}`);
      }
      mounts.push({ path: m.mountPath, kind: 'emptyDir', writable: !m.readOnly });
    } else if (v.hostPath) {
      flags.push('--volume', `${v.hostPath.path}:${m.mountPath}${m.readOnly ? ':ro' : ''}`);
      mounts.push({ path: m.mountPath, kind: 'hostPath', writable: !m.readOnly });
    } else {
      throw new Error(`volume ${v.name}: only configMap, emptyDir and hostPath are mapped`);
    }
  }

  // environment (the downward API's node name: this host's)
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') env[e.name] = hostname();
    else if (e.valueFrom?.configMapKeyRef) env[e.name] = configMap(objs, e.valueFrom.configMapKeyRef.name.replace(/-[a-z0-9]{10}$/, '')).data[e.valueFrom.configMapKeyRef.key]!;
    else throw new Error(`env ${e.name}: source not mapped`);
  }
  if ((c as Container & { envFrom?: unknown }).envFrom) throw new Error('envFrom not mapped');

  const httpProbe = (p: Container['livenessProbe']): HttpProbe | undefined => {
    const g = p?.httpGet as { host?: string; port: number | string; path?: string } | undefined;
    if (p && !g) throw new Error('only httpGet probes are mapped');
    return g ? { host: g.host ?? '127.0.0.1', port: Number(g.port), path: g.path ?? '/' } : undefined;
  };
  return {
    flags, env, args: c.args ?? [], command: c.command, uid: sc.runAsUser,
    readiness: httpProbe(c.readinessProbe), liveness: httpProbe(c.livenessProbe),
    gracePeriodS: s.terminationGracePeriodSeconds ?? 30, mounts,
  };
}

const envFlags = (env: Record<string, string>): string[] => Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]);

/** The same flags with one capability left out of --cap-add. */
function withoutCap(flags: readonly string[], cap: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    if (flags[i] === '--cap-add' && flags[i + 1] === cap) { i++; continue; }
    out.push(flags[i]!);
  }
  return out;
}

/** The same flags, without the host's network (for checks that need none). */
const noNetwork = (flags: readonly string[]): string[] =>
  [...flags.filter((f, i, a) => !(f === '--network' && a[i + 1] === 'host') && !(f === 'host' && a[i - 1] === '--network')), '--network', 'none'];

/** The same flags, another seccomp profile. */
function withSeccomp(flags: readonly string[], profile: string): string[] {
  return flags.map((f) => (f.startsWith('seccomp=') ? `seccomp=${profile}` : f));
}

/**
 * The profile of runtimes that predate CAP_BPF/CAP_PERFMON (Debian 12's podman, containerd < 1.7):
 * the current one without its rules that allow bpf(2) and perf_event_open(2) to those
 * capabilities, and with the rules that refuse them (EPERM) excepting CAP_SYS_ADMIN alone.
 */
function legacySeccomp(current: string, out: string): string {
  type Rule = { names: string[]; action: string; includes?: { caps?: string[] }; excludes?: { caps?: string[] } };
  const p = JSON.parse(readFileSync(current, 'utf8')) as { syscalls: Rule[] };
  const newCaps = new Set(['CAP_BPF', 'CAP_PERFMON']);
  const ours = (r: Rule): boolean => r.names.some((n) => n === 'bpf' || n === 'perf_event_open');
  const allowsNewCaps = (r: Rule): boolean => ours(r) && r.action === 'SCMP_ACT_ALLOW' && (r.includes?.caps ?? []).some((c) => newCaps.has(c));
  if (!p.syscalls.some(allowsNewCaps)) throw new Error(`${current} has no CAP_BPF/CAP_PERFMON rules to remove`);
  const syscalls = p.syscalls.filter((r) => !allowsNewCaps(r)).map((r) => (ours(r) && r.action === 'SCMP_ACT_ERRNO' && r.excludes?.caps
    ? { ...r, excludes: { ...r.excludes, caps: r.excludes.caps.filter((c) => !newCaps.has(c)) } }
    : r));
  writeFileSync(out, JSON.stringify({ ...p, syscalls }));
  return out;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function httpStatus(p: HttpProbe): Promise<number> {
  try { return (await fetch(`http://${p.host}:${p.port}${p.path}`, { signal: AbortSignal.timeout(2_000) })).status; } catch { return 0; }
}

async function until(cond: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface DoctorJson { checks: Array<{ id: string; status: string; detail: string; fix?: string }>; summary: { canRun: boolean; message: string } }

// ---- the test -----------------------------------------------------------------------------------

const isRoot = process.getuid?.() === 0;
const why = !isRoot ? 'needs root (rootful podman, eBPF, the lab\'s network namespaces)'
  : missingTools(['kubectl'])
  ?? (existsSync(SECCOMP_CURRENT) ? undefined : `${SECCOMP_CURRENT} missing — run: bash scripts/setup.sh --test`)
  ?? (process.env['FOVEA_SKIP_IMAGE'] === '1' ? 'FOVEA_SKIP_IMAGE=1' : undefined);
const NAME = 'the real image (scripts/image.sh), run as deploy/base\'s DaemonSet runs it';

if (why && process.env['CI'] === 'true') {
  it(`${NAME} runs in CI`, () => { throw new Error(`${NAME}: ${why} — CI runs it as root after scripts/setup.sh --test, without FOVEA_SKIP_IMAGE`); });
} else {
  describe.skipIf(why !== undefined)(why ? `${NAME} — skipped: ${why}` : NAME, () => {
    let tag: string;
    let inspect: { Size: number; Config: { User?: string; Entrypoint?: string[]; Cmd?: string[]; WorkingDir?: string; Env?: string[]; Labels?: Record<string, string>; Volumes?: Record<string, unknown> } };
    let objs: K8sObject[];
    let spec: PodSpec;
    let c: Container;
    let plan: RunPlan;
    let scratch: string;
    let lab: Lab;
    /** The image's filesystem, mounted (read-only) on this host: `podman image mount`. */
    let rootfs: string | undefined;
    const containers: string[] = [];
    const buildLog: string[] = [];

    beforeAll(async () => {
      scratch = mkdtempSync(join(tmpdir(), 'fovea-image-'));
      // 1. the image
      const t0 = Date.now();
      const built = await runAsync('bash', ['scripts/image.sh'], {
        cwd: REPO, timeoutMs: 20 * 60_000,
        onStderr: (s) => { for (const l of s.split('\n')) if (l.startsWith('image: ')) buildLog.push(l); },
      });
      if (built.code !== 0) throw new Error(`scripts/image.sh failed (exit ${built.code}):\n${built.stderr.slice(-8_000)}`);
      tag = built.stdout.trim().split('\n').at(-1)!;
      console.log(`${buildLog.join('\n')}\nimage test: scripts/image.sh took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      const ins = await podman(['image', 'inspect', tag]);
      if (ins.code !== 0) throw new Error(`podman image inspect ${tag}: ${ins.stderr}`);
      inspect = (JSON.parse(ins.stdout) as Array<typeof inspect>)[0]!;
      const mnt = await podman(['image', 'mount', tag]);
      if (mnt.code !== 0) throw new Error(`podman image mount ${tag}: ${mnt.stderr}`);
      rootfs = mnt.stdout.trim();
      // 2. the manifest, as kustomize renders it
      objs = kustomize(join(REPO, 'deploy/base'));
      spec = podSpec(one(objs, 'DaemonSet', 'fovea-agent'));
      c = spec.containers.find((x) => x.name === 'fovea')!;
      plan = planFromManifest(objs, spec, c, { RuntimeDefault: SECCOMP_CURRENT }, scratch);
      // 3. the lab
      lab = await Lab.create({ name: 'img', pods: 2 });
    }, 25 * 60_000);

    afterAll(async () => {
      for (const name of containers) await podman(['rm', '--force', '--time', '0', name]);
      if (rootfs) await podman(['image', 'unmount', tag]);
      await lab?.destroy();
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    }, 120_000);

    /** `podman run --rm` with the plan's flags (and extra ones), to its end. */
    const runOnce = async (flags: readonly string[], args: readonly string[], extraEnv: Record<string, string> = {}, timeoutMs = 60_000) => {
      const name = `fovea-e2e-image-${process.pid}-${containers.length}`;
      containers.push(name);
      return runAsync(PODMAN, [...PODMAN_GLOBAL, 'run', '--rm', '--name', name,
        ...flags, ...envFlags({ ...plan.env, ...extraEnv }), tag, ...args], { timeoutMs });
    };
    const doctor = async (flags: readonly string[]): Promise<{ code: number | null; json: DoctorJson; stderr: string }> => {
      const r = await runOnce(flags, ['doctor', '--json']);
      let json: DoctorJson;
      try { json = JSON.parse(r.stdout) as DoctorJson; } catch { throw new Error(`doctor --json: not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`); }
      return { code: r.code, json, stderr: r.stderr };
    };
    const status = (d: DoctorJson): Record<string, string> => Object.fromEntries(d.checks.map((x) => [x.id, x.status]));

    it(`is built from the Dockerfile on a base of Debian packages, within ${SIZE_TARGET / 1e6} MB`, () => {
      console.log(`image test: ${tag} is ${(inspect.Size / 1e6).toFixed(1)} MB (${(inspect.Size / 2 ** 20).toFixed(1)} MiB)`);
      expect(inspect.Size).toBeLessThanOrEqual(SIZE_TARGET);
      const labels = inspect.Config.Labels ?? {};
      expect(labels['org.opencontainers.image.title']).toBe('fovea');
      expect(labels['org.opencontainers.image.version']).toBe(PACKAGE_VERSION);
      expect(labels['org.opencontainers.image.base.name']).toMatch(/^localhost\/fovea-base:trixie-node20-[0-9a-f]{12}$/);
      expect(labels['org.opencontainers.image.revision']).toMatch(/^[0-9a-f]{40}$|^unknown$/);
    });

    it('holds the eBPF objects, the compiled CLI, package.json and production dependencies only — nothing of the sources', () => {
      const app = join(rootfs!, 'opt/fovea');
      expect(readdirSync(app).sort()).toEqual(['bin', 'bpf', 'dist', 'node_modules', 'package.json']);
      expect(readdirSync(join(app, 'dist'))).toEqual(['src']);
      expect(existsSync(join(app, 'dist/src/cli.js'))).toBe(true);
      expect(JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'))).toMatchObject({ name: 'fovea', version: PACKAGE_VERSION, type: 'module' });
      // one object per program (scripts/build-bpf.sh may add variants), objects only
      const objects = readdirSync(join(REPO, 'bpf')).filter((f) => f.endsWith('.bpf.c')).map((f) => f.replace(/\.c$/, '.o'));
      const shipped = readdirSync(join(app, 'bpf/build'));
      expect(shipped).toEqual(expect.arrayContaining(objects));
      expect(shipped.filter((f) => !f.endsWith('.bpf.o'))).toEqual([]);
      // package-lock.json: every non-dev package, no dev-only one
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
      // slimmed (scripts/slim-node-modules.mjs): koffi for this platform only, no declarations or maps
      const triplet = `${process.platform}_${process.arch}`;
      expect(readdirSync(join(app, 'node_modules/koffi/build/koffi'))).toEqual([triplet]);
      const leftovers: string[] = [];
      const walk = (d: string): void => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(join(d, e.name));
          else if (/\.(d\.[cm]?ts|map)$/.test(e.name)) leftovers.push(relative(app, join(d, e.name)));
        }
      };
      walk(join(app, 'node_modules'));
      expect(leftovers.slice(0, 5)).toEqual([]);
      expect(statSync(join(rootfs!, 'run/fovea')).isDirectory()).toBe(true);
    });

    it('is the image the manifest names, and the manifest runs its entrypoint with the agent command', async () => {
      expect(`localhost/${c.image}`).toBe(tag);                     // kustomize: fovea → fovea:<version>
      expect(c.command, 'the manifest keeps the image\'s ENTRYPOINT').toBeUndefined();
      expect(inspect.Config.Entrypoint).toEqual(['node', ...AGENT_NODE_FLAGS, '/opt/fovea/bin/fovea.js']);
      expect(plan.args).toEqual(['agent']);
      expect(inspect.Config.WorkingDir).toBe('/opt/fovea');
      const r = await runOnce([...noNetwork(plan.flags), '--entrypoint', 'sh'],
        ['-c', 'test -f /opt/fovea/bin/fovea.js && test -x /opt/fovea/bin/fovea.js && readlink /usr/local/bin/fovea && fovea --help']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('/opt/fovea/bin/fovea.js');
      expect(r.stdout).toMatch(/Usage: fovea <command>/);
    });

    it('user: the manifest\'s runAsUser and the image agree; every file is readable by any UID and writable by none but root', async () => {
      const sc = c.securityContext as { runAsUser?: number; runAsNonRoot?: boolean; capabilities?: { add?: string[] } };
      const imageUser = inspect.Config.User ?? '';
      const imageUid = imageUser === '' || imageUser === 'root' ? 0 : Number(imageUser.split(':')[0]);
      expect(Number.isNaN(imageUid), `image USER ${imageUser} is a name: the manifest cannot know its UID`).toBe(false);
      const uid = sc.runAsUser ?? imageUid;
      if (sc.runAsNonRoot) expect(uid, 'runAsNonRoot with a root user: the kubelet refuses to start it').not.toBe(0);
      // added capabilities reach a non-root process only as ambient ones, which runtimes do not set
      if ((sc.capabilities?.add ?? []).length > 0) expect(uid, 'the capabilities need UID 0 in the container').toBe(0);
      const r = await runOnce(['--pull', 'never', ...ulimitFlags(), '--network', 'none', '--read-only', '--user', '65534', '--entrypoint', 'find'],
        ['/opt/fovea', '!', '-type', 'l', '(', '-perm', '/022', '-o', '!', '-perm', '-004', '-o', '-type', 'd', '!', '-perm', '-001', ')', '-printf', '%m %p\\n']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.split('\n').filter(Boolean).slice(0, 10)).toEqual([]);
    });

    it('mounts: the config file is the ConfigMap\'s, every path the agent writes is on a writable volume, and the image has no volume of its own', async () => {
      const fovea = plan.env['FOVEA_CONFIG'];
      expect(fovea, 'FOVEA_CONFIG set by the manifest').toBeDefined();
      const src = fileSource(spec, c, fovea!);
      expect(src, `${fovea} comes from a mounted ConfigMap key`).toMatchObject({ kind: 'ConfigMap', key: posix.basename(fovea!) });
      expect(configMap(objs, src!.name.replace(/-[a-z0-9]{10}$/, '')).data[src!.key]).toBeDefined();
      const { config } = agentConfig(objs, spec, c);
      const writes = [
        ...(config.observe.enabled ? [config.observe.socket] : []),
        ...(config.hubble.enabled && config.hubble.socket ? [config.hubble.socket] : []),
      ];
      expect(writes.length).toBeGreaterThan(0);
      for (const w of writes) {
        const m = plan.mounts.filter((x) => w.startsWith(`${x.path}/`)).sort((a, b) => b.path.length - a.path.length)[0];
        expect(m, `${w}: the root filesystem is read-only, so its directory must be a volume`).toBeDefined();
        expect(m!.writable, `${w} on a writable volume`).toBe(true);
      }
      expect(Object.keys(inspect.Config.Volumes ?? {}).filter((v) => !plan.mounts.some((m) => m.path === v))).toEqual([]);
      // each mount point is a directory in the image, or absent (the runtime makes it)
      const paths = plan.mounts.map((m) => m.path);
      const r = await runOnce(['--pull', 'never', ...ulimitFlags(), '--network', 'none', '--entrypoint', 'sh'],
        ['-c', paths.map((p) => `if [ -d '${p}' ]; then echo 'dir ${p}'; elif [ -e '${p}' ]; then echo 'file ${p}'; else echo 'absent ${p}'; fi`).join('; ')]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.split('\n').filter((l) => l.startsWith('file '))).toEqual([]);
      // the image's own promise (the Dockerfile): /run/fovea is there, for the volume the manifest puts there
      expect(r.stdout).toContain('dir /run/fovea');
      expect(plan.mounts.find((m) => m.path === '/run/fovea')).toMatchObject({ kind: 'emptyDir', writable: true });
    });

    it('runs as the DaemonSet runs it: ready, both probes loaded, the drops it exports equal the nft counter; doctor passes through exec; stops in its grace period', async () => {
      const rx = await OtlpReceiver.start({});
      const healthPort = await freePort();
      // The test's settings, over the rendered ConfigMap as a DaemonSet's env would override it:
      // the receiver in this process, a short interval, no API server, the lab's veths, a free
      // health port (the probes follow it).
      const overrides = {
        OTEL_EXPORTER_OTLP_ENDPOINT: rx.endpoint,
        OTEL_METRIC_EXPORT_INTERVAL: '500',
        FOVEA_KUBERNETES_MODE: 'off',
        FOVEA_INTERFACES: 'fvimg-*',
        FOVEA_HEALTH_ADDRESS: `127.0.0.1:${healthPort}`,
      };
      const name = `fovea-e2e-image-${process.pid}-agent`;
      containers.push(name);
      const agent = AgentProcess.wrap(spawnPodmanRun(['--rm', '--name', name, ...plan.flags, ...envFlags({ ...plan.env, ...overrides }), tag, ...plan.args]));
      try {
        expect(plan.readiness && plan.liveness, 'the manifest probes the agent\'s health endpoint').toBeTruthy();
        const ready = { ...plan.readiness!, port: healthPort };
        const live = { ...plan.liveness!, port: healthPort };
        await until(async () => {
          if (agent.exited) throw new Error(`the container exited ${JSON.stringify(agent.exited)}:\n${agent.stderrText.slice(-4000)}`);
          return (await httpStatus(ready)) === 200;
        }, 60_000, `readinessProbe ${ready.path}`);
        expect(await httpStatus(live)).toBe(200);
        const started = await agent.waitStarted();
        const probes = Object.fromEntries((started['probes'] as Array<{ name: string; state: string }>).map((p) => [p.name, p.state]));
        expect(probes).toMatchObject({ drop: 'up', traffic: 'up' });
        await rx.waitFor((r) => r.latest('fovea.agent.interfaces.attached') === 2
          && r.latest('fovea.agent.probe.up', { 'fovea.probe': 'drop' }) === 1
          && r.latest('fovea.agent.probe.up', { 'fovea.probe': 'traffic' }) === 1, 20_000);

        const drops = () => rx.latest('fovea.network.drop.packets', NF_UDP) ?? 0;
        const base = drops();
        const nft0 = await nftRuleCounters(lab.nftTable);
        await sendUdp(lab, 0, lab.pod(1).ip, DENY_PORT, 500, { size: 100 });
        const nft1 = await nftRuleCounters(lab.nftTable);
        const want = nft1['deny-udp']!.packets - nft0['deny-udp']!.packets;
        expect(want).toBe(500);
        await rx.waitFor(() => drops() - base >= want, 15_000);
        const seen = rx.requestCount;
        await rx.waitFor((r) => r.requestCount >= seen + 2, 10_000);   // and it stays there
        expect(drops() - base).toBe(want);
        console.log(`image test: ${want} packets dropped by nft, ${drops() - base} NETFILTER_DROP exported by the container`);

        // `kubectl exec … -- fovea doctor`: the same container, its capabilities, user and seccomp
        const d = await podman(['exec', name, 'fovea', 'doctor', '--json'], { timeoutMs: 60_000 });
        expect(d.code, d.stderr + d.stdout).toBe(0);
        const json = JSON.parse(d.stdout) as DoctorJson;
        expect(json.summary).toMatchObject({ canRun: true, message: 'Fovea can run: drop probe via tp_btf/kfree_skb, traffic via tcx' });
        expect(status(json)).toMatchObject({ libbpf: 'ok', privileges: 'ok', btf: 'ok', 'drop-tp_btf': 'ok', 'traffic-tcx': 'ok', ringbuf: 'ok' });

        // the kubelet's stop: SIGTERM, SIGKILL after the grace period
        const t0 = Date.now();
        const stop = await podman(['stop', '--time', String(plan.gracePeriodS), name], { timeoutMs: (plan.gracePeriodS + 30) * 1000 });
        expect(stop.code, stop.stderr).toBe(0);
        const exit = await agent.wait();
        expect(exit.code, agent.stderrText.slice(-2000)).toBe(0);
        expect(Date.now() - t0).toBeLessThan(plan.gracePeriodS * 1000);
        expect(agent.logs.some((l) => l['msg'] === 'final export done')).toBe(true);
      } finally {
        if (!agent.exited) await podman(['rm', '--force', '--time', '0', name]);
        await agent.wait();
        await rx.stop();
      }
    }, 180_000);

    it('capabilities: the manifest adds only ones the probes need — without each, a probe cannot load', async () => {
      const added = (c.securityContext?.capabilities?.add ?? []);
      expect(c.securityContext?.capabilities?.drop).toEqual(['ALL']);
      // what each one is for, as the manifest's comments say
      const needs: Record<string, string[]> = { BPF: ['drop-tp_btf', 'traffic-tcx'], PERFMON: ['drop-tp_btf', 'drop-raw_tp'], NET_ADMIN: ['traffic-tcx'] };
      expect([...added].sort()).toEqual(Object.keys(needs).sort());
      for (const cap of added) {
        const d = await doctor(withoutCap(plan.flags, cap));
        const st = status(d.json);
        for (const id of needs[cap]!) expect(st[id], `without ${cap}: ${id}`).not.toBe('ok');
      }
    }, 120_000);

    it('fovea reasons runs as a non-root user (UID 65534), on the read-only root filesystem', async () => {
      const flags = plan.flags.map((f, i, a) => (a[i - 1] === '--user' ? '65534' : f));
      expect(flags).toContain('65534');
      const r = await runOnce(flags, ['reasons']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/NETFILTER_DROP/);
      const j = await runOnce(flags, ['reasons', '--json']);
      expect(j.code, j.stderr).toBe(0);
      expect(j.stdout).toContain('NO_SOCKET');
      const id = await runOnce([...flags, '--entrypoint', 'id'], ['-u']);
      expect(id.stdout.trim()).toBe('65534');
    }, 60_000);

    it('seccomp: where the default profile allows bpf() only with CAP_SYS_ADMIN the probes cannot load; deploy/components/seccomp-unconfined makes them', async () => {
      const legacy = legacySeccomp(SECCOMP_CURRENT, join(scratch, 'seccomp-legacy.json'));
      const before = await doctor(withSeccomp(plan.flags, legacy));
      expect(before.code).toBe(1);
      expect(before.json.summary.canRun).toBe(false);
      expect(before.json.checks.find((x) => x.id === 'drop-tp_btf')?.detail).toMatch(/EPERM/);
      // and says why: the filter, not the kernel or the capabilities
      expect(before.json.checks.find((x) => x.id === 'drop-tp_btf')?.fix).toMatch(/seccomp filter denies bpf\(\).*seccomp-unconfined/);
      // the agent itself gives up: no probe can run
      const agent = await runOnce(withSeccomp(plan.flags, legacy), plan.args, {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', FOVEA_KUBERNETES_MODE: 'off', FOVEA_INTERFACES: 'fvimg-*',
        FOVEA_HEALTH_ADDRESS: `127.0.0.1:${await freePort()}`,
      });
      expect(agent.code).not.toBe(0);
      expect(agent.stderr).toMatch(/EPERM/);

      // base + the component, rendered
      const dir = join(scratch, 'kustomize');
      mkdirSync(dir);
      const rel = (p: string) => relative(dir, join(REPO, 'deploy', p));
      writeFileSync(join(dir, 'kustomization.yaml'), ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization',
        'resources:', `  - ${rel('base')}`, 'components:', `  - ${rel('components/seccomp-unconfined')}`, ''].join('\n'));
      const objs2 = kustomize(dir);
      const spec2 = podSpec(one(objs2, 'DaemonSet', 'fovea-agent'));
      const plan2 = planFromManifest(objs2, spec2, spec2.containers.find((x) => x.name === 'fovea')!, { RuntimeDefault: legacy }, join(scratch, 'unconfined'));
      expect(plan2.flags).toContain('seccomp=unconfined');
      expect(plan2.flags.filter((f) => !f.startsWith('seccomp=') && !f.startsWith(scratch))).toEqual(plan.flags.filter((f) => !f.startsWith('seccomp=') && !f.startsWith(scratch)));
      const after = await doctor(plan2.flags);
      expect(after.code, after.stderr).toBe(0);
      expect(after.json.summary.canRun).toBe(true);
      expect(status(after.json)).toMatchObject({ 'drop-tp_btf': 'ok', 'traffic-tcx': 'ok' });
    }, 120_000);
  });
}

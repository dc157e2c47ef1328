/**
 * defaults < config file < FOVEA_* environment < flags. Each source is validated on its own (so
 * every issue names the file/variable/flag that caused it, and all of them are reported at once),
 * then the raw sources are merged and parsed once more to fill in defaults.
 */
import { readFileSync } from 'node:fs';
import { parseConfigText, type FileFormat } from './file.js';
import type { FlagValues } from './flags.js';
import { describeZodIssues, hint, pathString, type ConfigIssue, type IssueSource } from './issues.js';
import { ConfigSchema, leafPaths, type Config } from './schema.js';
import { CONFIG_FILE_ENV, KNOWN_ENV, SETTINGS, shapeValue, splitList } from './settings.js';

export interface ConfigSources {
  /** Config file path. Falls back to flags.config, then $FOVEA_CONFIG; none = no file. */
  file?: string;
  env: NodeJS.ProcessEnv;
  flags: Partial<FlagValues>;
  /** The one place the file is read; injectable for tests. Default: fs.readFileSync(path, 'utf8'). */
  readFile?: (path: string) => string;
}

export type ValueSource = 'default' | IssueSource;

export type LoadResult =
  | {
    readonly ok: true;
    readonly config: Config;
    /** Where each leaf setting's value came from, e.g. { 'export.endpoint': 'flag', logLevel: 'default' }. */
    readonly sources: Readonly<Record<string, ValueSource>>;
    readonly file?: { readonly path: string; readonly format: FileFormat };
    /** Not fatal: unknown FOVEA_* variables (likely typos), reported with a hint. */
    readonly warnings: ConfigIssue[];
  }
  | { readonly ok: false; readonly issues: ConfigIssue[] };

type Raw = Record<string, unknown>;

interface Layer {
  readonly source: IssueSource;
  readonly value: Raw;
  /** Setting path → env var / flag that set it (env and flag layers). */
  readonly origins: Map<string, string>;
  /** File layer: path → "file:line:col". */
  readonly locate?: (path: readonly (string | number)[]) => string;
}

function setPath(root: Raw, path: string, value: unknown): void {
  const segs = path.split('.');
  let o = root;
  for (const seg of segs.slice(0, -1)) {
    const next = o[seg];
    if (next !== null && typeof next === 'object' && !Array.isArray(next)) o = next as Raw;
    else { const fresh: Raw = {}; o[seg] = fresh; o = fresh; }
  }
  o[segs[segs.length - 1] ?? ''] = value;
}

function hasPath(root: unknown, path: string): boolean {
  let v = root;
  for (const seg of path.split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, seg)) return false;
    v = (v as Raw)[seg];
  }
  return v !== undefined;
}

const isPlainObject = (v: unknown): v is Raw => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Objects merge key by key; anything else (lists included) is replaced by the higher layer. */
function deepMerge(low: unknown, high: unknown): unknown {
  if (high === undefined) return low;
  if (isPlainObject(low) && isPlainObject(high)) {
    const out: Raw = { ...low };
    for (const [k, v] of Object.entries(high)) out[k] = deepMerge(low[k], v);
    return out;
  }
  return high;
}

function envLayer(env: NodeJS.ProcessEnv): Layer {
  const value: Raw = {};
  const origins = new Map<string, string>();
  for (const s of SETTINGS) {
    const name = s.env?.find((e) => (env[e] ?? '').trim() !== '');
    if (name === undefined) continue; // empty = unset
    setPath(value, s.path, shapeValue(s.kind, env[name] ?? ''));
    origins.set(s.path, name);
  }
  return { source: 'env', value, origins };
}

function flagLayer(flags: Partial<FlagValues>): Layer {
  const value: Raw = {};
  const origins = new Map<string, string>();
  for (const s of SETTINGS) {
    if (s.flag === undefined) continue;
    const v: unknown = flags[s.flag];
    if (v === undefined) continue;
    if (s.negate) {
      if (v !== true) continue;
      setPath(value, s.path, false);
    } else if (s.kind === 'list') {
      const items = (Array.isArray(v) ? v : [v]).map(String);
      setPath(value, s.path, items.flatMap(splitList));
    } else {
      setPath(value, s.path, typeof v === 'string' ? shapeValue(s.kind, v) : v);
    }
    origins.set(s.path, `--${s.flag}`);
  }
  return { source: 'flag', value, origins };
}

function originOf(layer: Layer, path: readonly (string | number)[]): string | undefined {
  if (layer.locate) return layer.locate(path);
  // "interfaces[2]" was set by whatever set "interfaces".
  for (let n = path.length; n > 0; n--) {
    const o = layer.origins.get(path.slice(0, n).join('.'));
    if (o !== undefined) return o;
  }
  return undefined;
}

function validate(layer: Layer): ConfigIssue[] {
  const r = ConfigSchema.safeParse(layer.value);
  if (r.success) return [];
  return describeZodIssues(r.error.issues, layer.value).map((pm) => {
    const origin = originOf(layer, pm.path);
    return { source: layer.source, path: pathString(pm.path), message: pm.message, ...(origin === undefined ? {} : { origin }) };
  });
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object') {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}

/** Kubernetes injects <SERVICE>_SERVICE_HOST / _PORT* for a Service named "fovea"; not typos. */
const SERVICE_LINK = /^FOVEA_(SERVICE_|PORT($|_))/;

function unknownEnvWarnings(env: NodeJS.ProcessEnv): ConfigIssue[] {
  return Object.keys(env)
    .filter((k) => k.startsWith('FOVEA_') && !KNOWN_ENV.includes(k) && !SERVICE_LINK.test(k))
    .sort()
    .map((k) => ({ source: 'env', path: '', origin: k, message: `unknown variable, ignored${hint(k, KNOWN_ENV)}` }));
}

export function loadConfig(src: ConfigSources): LoadResult {
  const issues: ConfigIssue[] = [];
  const layers: Layer[] = [];

  const configFlag = src.flags.config;
  const envFile = (src.env[CONFIG_FILE_ENV] ?? '').trim();
  const filePath = src.file ?? (configFlag !== undefined && configFlag !== '' ? configFlag : envFile !== '' ? envFile : undefined);
  let file: { path: string; format: FileFormat } | undefined;
  if (filePath !== undefined) {
    let text: string | undefined;
    try {
      text = (src.readFile ?? ((p: string) => readFileSync(p, 'utf8')))(filePath);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied'
        : err.code === 'EISDIR' ? 'is a directory' : err.message;
      issues.push({ source: 'file', path: '', origin: filePath, message: `cannot read config file: ${why}${err.code ? ` (${err.code})` : ''}` });
    }
    if (text !== undefined) {
      const parsed = parseConfigText(text, filePath);
      if (parsed.ok) {
        file = { path: filePath, format: parsed.format };
        layers.push({ source: 'file', value: parsed.value as Raw, origins: new Map(), locate: parsed.locate });
      } else {
        issues.push(...parsed.issues);
      }
    }
  }
  layers.push(envLayer(src.env), flagLayer(src.flags));

  for (const layer of layers) issues.push(...validate(layer));
  if (issues.length > 0) return { ok: false, issues };

  const merged = layers.reduce<unknown>((acc, l) => deepMerge(acc, l.value), {});
  const final = ConfigSchema.safeParse(merged);
  if (!final.success) {
    // Every constraint is per setting, so valid layers make a valid merge; kept as a safety net.
    return {
      ok: false,
      issues: describeZodIssues(final.error.issues, merged).map((pm) => ({
        source: [...layers].reverse().find((l) => hasPath(l.value, pm.path.join('.')))?.source ?? 'file',
        path: pathString(pm.path),
        message: pm.message,
      })),
    };
  }

  const sources: Record<string, ValueSource> = {};
  for (const p of leafPaths()) {
    const top = [...layers].reverse().find((l) => hasPath(l.value, p));
    if (top !== undefined) sources[p] = top.source;
    else if (hasPath(final.data, p)) sources[p] = 'default';
  }
  return {
    ok: true,
    config: deepFreeze(final.data) as Config,
    sources,
    ...(file === undefined ? {} : { file }),
    warnings: unknownEnvWarnings(src.env),
  };
}

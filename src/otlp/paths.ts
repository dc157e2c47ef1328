/**
 * Where the test backends fetched from Debian 13 live (see scripts/fetch-deb13.sh):
 * the official OTLP .proto files (package opentelemetry-proto) and the VictoriaMetrics binary.
 * Both can be overridden: FOVEA_OTLP_PROTO_DIR, FOVEA_VICTORIA_METRICS_BIN.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root: this file is src/otlp/paths.ts (or dist/src/otlp/paths.js). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** Extracted Debian 13 packages. */
export const DEB13_ROOT = join(repoRoot(), '.cache', 'deb13', 'root');

/** Relative to the proto include dir: the OTLP metrics service definition. */
export const METRICS_SERVICE_PROTO = 'opentelemetry/proto/collector/metrics/v1/metrics_service.proto';
/** Relative to the proto include dir: the OTLP logs service definition (same package). */
export const LOGS_SERVICE_PROTO = 'opentelemetry/proto/collector/logs/v1/logs_service.proto';

const FETCH_HINT = 'run `bash scripts/fetch-deb13.sh`';

export class MissingArtifactError extends Error {
  override readonly name = 'MissingArtifactError';
}

/**
 * Include dir holding `opentelemetry/proto/...` (Debian installs them under /usr/include).
 * @throws MissingArtifactError naming the fix when the files are not there.
 */
export function otlpProtoDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['FOVEA_OTLP_PROTO_DIR'];
  const dir = fromEnv !== undefined && fromEnv !== '' ? resolve(fromEnv) : join(DEB13_ROOT, 'usr', 'include');
  if (!existsSync(join(dir, METRICS_SERVICE_PROTO))) {
    throw new MissingArtifactError(
      `OTLP proto files not found: ${join(dir, METRICS_SERVICE_PROTO)} is missing. ` +
        (fromEnv ? 'Fix FOVEA_OTLP_PROTO_DIR or unset it and ' : '') + FETCH_HINT,
    );
  }
  return dir;
}

/**
 * Path of the `victoria-metrics` single-node binary.
 * @throws MissingArtifactError naming the fix when the binary is missing or not executable.
 */
export function victoriaMetricsBinary(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['FOVEA_VICTORIA_METRICS_BIN'];
  const bin = fromEnv !== undefined && fromEnv !== '' ? resolve(fromEnv) : join(DEB13_ROOT, 'usr', 'bin', 'victoria-metrics');
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    throw new MissingArtifactError(
      `VictoriaMetrics binary not found or not executable: ${bin}. ` +
        (fromEnv ? 'Fix FOVEA_VICTORIA_METRICS_BIN or unset it and ' : '') + FETCH_HINT,
    );
  }
  return bin;
}

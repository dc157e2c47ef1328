/** `host:port` / `[v6]:port` listen addresses, as the config gives them. */
import { isIPv6 } from 'node:net';

/**
 * Parses a listen address; `what` names the setting in the error. An empty host means every
 * address (`::`), which the caller should only use when the user asked for it.
 */
export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new Error(`${what} must be host:port or [ipv6]:port (got ${JSON.stringify(text)})`);
  const host = m[1] ?? m[2] ?? '';
  if (m[1] !== undefined && !isIPv6(m[1])) throw new Error(`${what}: not an IPv6 address in ${JSON.stringify(text)}`);
  return { host: host === '' ? '::' : host, port };
}

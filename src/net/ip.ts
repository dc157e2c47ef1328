/**
 * One spelling per IP address everywhere in the agent (identity caches, interface discovery,
 * decoded kernel keys): IPv4 dotted quad; IPv6 lower-case RFC 5952 (as the WHATWG URL serializer
 * writes it), without a zone; IPv4-mapped IPv6 as plain IPv4.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** Canonical text of an address, or undefined for text that is no IP. */
export function canonicalIp(text: string): string | undefined {
  if (isIPv4(text)) return text;
  const bare = text.split('%')[0]!;
  if (!isIPv6(bare)) return undefined;
  const host = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16), lo = parseInt(mapped[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return host;
}

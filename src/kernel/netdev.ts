/**
 * Network interfaces of the agent's network namespace, read from /sys/class/net, and the
 * glob selection the configuration describes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface NetInterface {
  readonly name: string;
  readonly ifindex: number;
}

/** Lists interfaces of the current network namespace. `root` is for tests. */
export function listInterfaces(root = '/sys/class/net'): NetInterface[] {
  const out: NetInterface[] = [];
  for (const name of readdirSync(root)) {
    try {
      const ifindex = Number(readFileSync(join(root, name, 'ifindex'), 'utf8').trim());
      if (Number.isInteger(ifindex) && ifindex > 0) out.push({ name, ifindex });
    } catch {
      // vanished between readdir and read, or not an interface directory (e.g. bonding_masters)
    }
  }
  return out.sort((a, b) => a.ifindex - b.ifindex);
}

/** Converts a shell-style glob (*, ?, [abc], [!abc]) to an anchored RegExp. */
export function globToRegExp(glob: string): RegExp {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) { re += '\\['; continue; }
      let body = glob.slice(i + 1, end);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      re += '[' + body.replace(/\\/g, '\\\\') + ']';
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(re + '$');
}

export interface InterfaceSelector {
  /** names or globs; empty = every interface except loopback */
  readonly include: readonly string[];
  readonly exclude: readonly string[];
}

export function makeInterfaceFilter(sel: InterfaceSelector): (name: string) => boolean {
  const inc = sel.include.map(globToRegExp);
  const exc = sel.exclude.map(globToRegExp);
  return (name) => {
    if (exc.some((r) => r.test(name))) return false;
    if (inc.length === 0) return name !== 'lo';
    return inc.some((r) => r.test(name));
  };
}

/** Interface selection globs and /sys/class/net listing (against a temp directory). */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { globToRegExp, listInterfaces, makeInterfaceFilter } from '../../src/kernel/netdev.js';

describe('globToRegExp', () => {
  const m = (glob: string, name: string): boolean => globToRegExp(glob).test(name);

  it('literal names match exactly (anchored)', () => {
    expect(m('eth0', 'eth0')).toBe(true);
    expect(m('eth0', 'eth01')).toBe(false);
    expect(m('eth0', 'xeth0')).toBe(false);
  });

  it('* matches any run, including empty', () => {
    expect(m('veth*', 'veth')).toBe(true);
    expect(m('veth*', 'veth3f2a')).toBe(true);
    expect(m('veth*', 'eth0')).toBe(false);
    expect(m('*0', 'eth0')).toBe(true);
    expect(m('*', 'anything')).toBe(true);
  });

  it('? matches exactly one character', () => {
    expect(m('eth?', 'eth1')).toBe(true);
    expect(m('eth?', 'eth')).toBe(false);
    expect(m('eth?', 'eth10')).toBe(false);
  });

  it('[abc] and ranges match one character of the set', () => {
    expect(m('eth[01]', 'eth0')).toBe(true);
    expect(m('eth[01]', 'eth1')).toBe(true);
    expect(m('eth[01]', 'eth2')).toBe(false);
    expect(m('eth[0-3]', 'eth3')).toBe(true);
    expect(m('eth[0-3]', 'eth4')).toBe(false);
  });

  it('[!abc] negates the set', () => {
    expect(m('eth[!01]', 'eth2')).toBe(true);
    expect(m('eth[!01]', 'eth0')).toBe(false);
    expect(m('eth[!01]', 'eth')).toBe(false);
  });

  it('regex metacharacters in names are literal', () => {
    expect(m('br.lan', 'br.lan')).toBe(true);
    expect(m('br.lan', 'brXlan')).toBe(false);
    expect(m('a+b', 'a+b')).toBe(true);
    expect(m('a+b', 'aab')).toBe(false);
    expect(m('if(1)', 'if(1)')).toBe(true);
    expect(m('x$', 'x$')).toBe(true);
  });

  it('an unclosed [ is a literal [', () => {
    expect(m('eth[0', 'eth[0')).toBe(true);
    expect(m('eth[0', 'eth0')).toBe(false);
  });
});

describe('makeInterfaceFilter', () => {
  it('empty include selects every interface except lo', () => {
    const f = makeInterfaceFilter({ include: [], exclude: [] });
    expect(['eth0', 'veth1', 'docker0', 'lo'].filter(f)).toEqual(['eth0', 'veth1', 'docker0']);
  });

  it('include globs select; others are not selected', () => {
    const f = makeInterfaceFilter({ include: ['eth*', 'veth?'], exclude: [] });
    expect(['eth0', 'veth1', 'veth12', 'docker0', 'lo'].filter(f)).toEqual(['eth0', 'veth1']);
  });

  it('lo can be included explicitly', () => {
    expect(makeInterfaceFilter({ include: ['lo'], exclude: [] })('lo')).toBe(true);
  });

  it('exclude wins over include', () => {
    const f = makeInterfaceFilter({ include: ['veth*'], exclude: ['veth[!a]*'] });
    expect(['vetha1', 'vethb2', 'veth'].filter(f)).toEqual(['vetha1', 'veth']); // `veth[!a]*` needs a 5th character
    expect(makeInterfaceFilter({ include: ['eth0'], exclude: ['eth0'] })('eth0')).toBe(false);
  });

  it('exclude applies with an empty include too', () => {
    const f = makeInterfaceFilter({ include: [], exclude: ['docker*'] });
    expect(['eth0', 'docker0', 'lo'].filter(f)).toEqual(['eth0']);
  });
});

describe('listInterfaces (a temp dir shaped like /sys/class/net)', () => {
  let base: string;
  let root: string;
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'fovea-net-'));
    root = join(base, 'class-net');
    mkdirSync(root);
    const iface = (name: string, ifindex: string): void => {
      // like sysfs: the entry is a symlink to a device directory holding `ifindex`
      const dev = join(base, 'devices', name);
      mkdirSync(dev, { recursive: true });
      writeFileSync(join(dev, 'ifindex'), ifindex);
      symlinkSync(dev, join(root, name));
    };
    iface('lo', '1\n');
    iface('eth0', '2\n');
    iface('veth9', '17\n');
    iface('br-x', '5\n');
    // not interfaces: a plain file (as /sys/class/net/bonding_masters), a directory without
    // ifindex, and one whose ifindex is not a positive integer
    writeFileSync(join(root, 'bonding_masters'), 'bond0\n');
    mkdirSync(join(root, 'weird'));
    iface('zero', '0\n');
    iface('garbage', 'n/a\n');
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('lists name and ifindex sorted by ifindex, skipping non-interface entries', () => {
    expect(listInterfaces(root)).toEqual([
      { name: 'lo', ifindex: 1 },
      { name: 'eth0', ifindex: 2 },
      { name: 'br-x', ifindex: 5 },
      { name: 'veth9', ifindex: 17 },
    ]);
  });

  it('the real /sys/class/net has lo at ifindex 1', () => {
    expect(listInterfaces()).toContainEqual({ name: 'lo', ifindex: 1 });
  });
});

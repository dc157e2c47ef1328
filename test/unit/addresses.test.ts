/**
 * Addresses as the eBPF maps key them (16 bytes, IPv4 as IPv4-mapped ::ffff:a.b.c.d) and back to
 * text: encodeIp is what the agent writes into drop_pod_ips, addressText what decodeFlows /
 * decodeDropFlows print. Text must come back in RFC 5952 form (lower case, no leading zeros, the
 * longest run of two or more zero groups compressed, the first one on a tie) so that it compares
 * equal to what Kubernetes reports for a pod.
 */
import { describe, expect, it } from 'vitest';
import { addressText, encodeIp } from '../../src/probes/addresses.js';

const hex = (b: Buffer): string => b.toString('hex');

describe('encodeIp', () => {
  it('IPv4 → IPv4-mapped: 10 zero bytes, ff ff, the 4 octets', () => {
    expect(hex(encodeIp('198.18.252.10'))).toBe('00000000000000000000ffff' + 'c612fc0a');
    expect(hex(encodeIp('0.0.0.0'))).toBe('00000000000000000000ffff00000000');
    expect(hex(encodeIp('255.255.255.255'))).toBe('00000000000000000000ffffffffffff');
  });

  it('IPv6: full, compressed at the start, middle and end, upper case', () => {
    expect(hex(encodeIp('2001:db8:1:2:3:4:5:6'))).toBe('20010db8000100020003000400050006');
    expect(hex(encodeIp('2001:DB8::1'))).toBe('20010db8000000000000000000000001');
    expect(hex(encodeIp('::1'))).toBe('00000000000000000000000000000001');
    expect(hex(encodeIp('::'))).toBe('00000000000000000000000000000000');
    expect(hex(encodeIp('fe80::'))).toBe('fe800000000000000000000000000000');
    expect(hex(encodeIp('1:0:0:2::3'))).toBe('00010000000000020000000000000003');
    expect(hex(encodeIp('0001:0002:0003:0004:0005:0006:0007:0008'))).toBe('00010002000300040005000600070008');
  });

  it('IPv6 with a trailing dotted quad: the quad is the last 32 bits (::ffff:a.b.c.d is the IPv4 key)', () => {
    expect(encodeIp('::ffff:198.18.252.10')).toEqual(encodeIp('198.18.252.10'));
    expect(hex(encodeIp('64:ff9b::192.0.2.33'))).toBe('0064ff9b0000000000000000c0000221');
    expect(hex(encodeIp('1:2:3:4:5:6:1.2.3.4'))).toBe('00010002000300040005000601020304');
  });

  it('a zone (fe80::1%eth0) is not part of the address: dropped', () => {
    expect(encodeIp('fe80::1%eth0')).toEqual(encodeIp('fe80::1'));
    expect(encodeIp('fe80::abcd%3')).toEqual(encodeIp('fe80::abcd'));
  });

  it.each([
    '', ' ', 'localhost', '10.0.0', '10.0.0.256', '10.0.0.1/32', '010.0.0.1', ' 10.0.0.1',
    '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::1', 'g::1', ':::', '::ffff:1.2.3.256', '[::1]',
  ])('throws on %j', (bad) => {
    expect(() => encodeIp(bad)).toThrow(/not an IP address/);
  });
});

describe('addressText', () => {
  it('IPv4-mapped bytes with ip_version 4 → dotted quad', () => {
    expect(addressText(encodeIp('198.18.252.10'), 0, 4)).toBe('198.18.252.10');
    expect(addressText(encodeIp('0.0.0.0'), 0, 4)).toBe('0.0.0.0');
  });

  it('the same bytes with ip_version 6 stay IPv6 text (only ip_version says it is IPv4)', () => {
    expect(addressText(encodeIp('198.18.252.10'), 0, 6)).toBe('::ffff:c612:fc0a');
  });

  it('reads at an offset (a key packed in a batch buffer)', () => {
    const b = Buffer.concat([Buffer.alloc(5, 0xee), encodeIp('2001:db8::7'), Buffer.alloc(3, 0xee)]);
    expect(addressText(b, 5, 6)).toBe('2001:db8::7');
  });

  it.each([
    // [bytes as text in, RFC 5952 text out]
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'], // lower case, no leading zeros
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],          // §4.2.2: a single zero group is not compressed
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],                    // §4.2.3: the longest run
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],              // §4.2.3: the first of equal runs
    ['fe80::1:2', 'fe80::1:2'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['0:1:0:1:0:1:0:1', '0:1:0:1:0:1:0:1'],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ])('%s → %s', (input, text) => {
    expect(addressText(encodeIp(input), 0, 6)).toBe(text);
  });

  it('round trips: text → bytes → text is the identity on RFC 5952 text, bytes → text → bytes on any bytes', () => {
    for (const t of ['10.0.0.1', '192.168.255.254', '198.18.252.10']) expect(addressText(encodeIp(t), 0, 4)).toBe(t);
    for (const t of ['::', '::1', '2001:db8::1', 'fd00:f0ea:0:1f4::a', 'fe80::f0:1', '1:2:3:4:5:6:7:8', '2001:db8::1:0:0:1']) {
      expect(addressText(encodeIp(t), 0, 6)).toBe(t);
    }
    // pseudo-random bytes with zero runs of every length in every place
    let seed = 12345;
    const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
    for (let n = 0; n < 500; n++) {
      const b = Buffer.alloc(16);
      for (let g = 0; g < 8; g++) if (rnd() % 3 !== 0) b.writeUInt16BE(rnd() & 0xffff, g * 2);
      const text = addressText(b, 0, 6);
      expect(encodeIp(text), text).toEqual(b);
    }
  });
});

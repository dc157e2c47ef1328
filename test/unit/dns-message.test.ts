/** The DNS message parser: captured messages, every cut of them, crafted malformations, fuzzing. */
import { describe, expect, it } from 'vitest';
import {
  DNS_PARSE_ERRORS, nameMatchesSuffix, parseDnsMessage, qtypeName, rcodeName,
  type DnsAnswer, type DnsMessage, type DnsParseResult,
} from '../../src/dns/message.js';
import { canonicalIp } from '../../src/net/ip.js';
import { DNS_CAPTURES, captured, type DnsCaptureName } from '../helpers/dns-corpus.js';

function ok(r: DnsParseResult): DnsMessage {
  if (!r.ok) throw new Error(`expected a message, got ${r.error}`);
  return r.message;
}

function parsed(name: DnsCaptureName, maxAnswers?: number): DnsMessage {
  return ok(parseDnsMessage(captured(name), maxAnswers === undefined ? undefined : { maxAnswers }));
}

const answerLines = (m: DnsMessage): string[] => m.answers.map(a => `${a.name} ${a.ttl} ${a.typeName} ${a.data}`);

/** The 12 header bytes (RFC 1035 §4.1.1), all numbers big-endian. */
function header(o: { id?: number; flags?: number; qd?: number; an?: number; ns?: number; ar?: number }): number[] {
  const u16 = (n: number): number[] => [n >> 8, n & 0xff];
  return [
    ...u16(o.id ?? 0xbeef),    // id
    ...u16(o.flags ?? 0x8180), // flags: default QR=1 RD=1 RA=1 rcode 0
    ...u16(o.qd ?? 1),         // qdcount
    ...u16(o.an ?? 0),         // ancount
    ...u16(o.ns ?? 0),         // nscount
    ...u16(o.ar ?? 0),         // arcount
  ];
}

/** One label: its length byte, then its bytes (ASCII here). */
const label = (s: string): number[] => [s.length, ...Array.from(s, c => c.charCodeAt(0))];
/** qtype A, qclass IN */
const A_IN = [0x00, 0x01, 0x00, 0x01];
const u8 = (...parts: number[][]): Uint8Array => new Uint8Array(parts.flat());

function errorOf(buf: Uint8Array): string {
  const r = parseDnsMessage(buf);
  return r.ok ? 'ok' : r.error;
}

describe('captured messages', () => {
  it('a plain query (no EDNS): id, flags, counts, the question', () => {
    const m = parsed('queryPlain');
    expect(m.id).toBe(0x4ed5);
    expect(m.flags).toEqual({
      qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, ad: true, cd: false, rcode: 0, rcodeName: 'NOERROR',
    });
    expect(m.counts).toEqual({ qd: 1, an: 0, ns: 0, ar: 0 });
    expect(m.question).toEqual({ name: 'web.example.test', type: 1, typeName: 'A', class: 1 });
    expect([m.answers, m.answersTruncated, m.empty, m.edns]).toEqual([[], false, false, undefined]);
  });

  it('an A response with and without EDNS; the OPT record of query and response', () => {
    const plain = parsed('responsePlain');
    expect(plain.flags).toMatchObject({ qr: true, aa: true, rd: true, ra: true, rcodeName: 'NOERROR' });
    expect(plain.answers).toEqual([{ name: 'web.example.test', type: 1, typeName: 'A', class: 1, ttl: 30, data: '10.1.2.3' }]);
    expect(plain.edns).toBeUndefined();
    expect(parsed('queryEdns').edns).toEqual({ udpSize: 1232, version: 0, dnssecOk: false });
    const a = parsed('responseA');
    expect(answerLines(a)).toEqual(['web.example.test 30 A 10.1.2.3']);
    expect(a.edns).toEqual({ udpSize: 1232, version: 0, dnssecOk: false });
    expect(a.empty).toBe(false);
  });

  it('AAAA data in the agent spelling', () => {
    expect(answerLines(parsed('responseAaaa'))).toEqual(['web.example.test 30 AAAA fd00::1:2']);
  });

  it('a CNAME chain whose owner names point (backward) into the previous record data', () => {
    const buf = captured('responseCname');
    // Owners of answers 2 and 3 are pointers to offsets 48 and 78: the CNAME data before them.
    expect([...buf.subarray(66, 68), ...buf.subarray(96, 98)]).toEqual([0xc0, 0x30, 0xc0, 0x4e]);
    const m = parsed('responseCname');
    expect(m.question?.name).toBe('alias.example.test');
    expect(answerLines(m)).toEqual([
      'alias.example.test 30 CNAME www.example.test',
      'www.example.test 30 CNAME web.example.test',
      'web.example.test 30 A 10.1.2.3',
    ]);
    expect(m.answersTruncated).toBe(false);
  });

  it('NXDOMAIN with SOA in authority: no answers, not empty, the OPT after the SOA is reached', () => {
    const m = parsed('responseNxdomainSoa');
    expect(m.flags).toMatchObject({ rcode: 3, rcodeName: 'NXDOMAIN', aa: true });
    expect(m.counts).toEqual({ qd: 1, an: 0, ns: 1, ar: 1 });
    expect(m.question).toEqual({ name: 'nope.auth.test', type: 1, typeName: 'A', class: 1 });
    expect([m.answers.length, m.empty]).toEqual([0, false]);
    expect(m.edns?.udpSize).toBe(1232);
  });

  it('NODATA, with and without SOA, is empty', () => {
    const soa = parsed('responseNodataSoa');
    expect([soa.flags.rcodeName, soa.question?.typeName, soa.counts.ns, soa.empty]).toEqual(['NOERROR', 'AAAA', 1, true]);
    const bare = parsed('responseNodata');
    expect([bare.question?.name, bare.counts.ns, bare.empty]).toEqual(['v4only.example.test', 0, true]);
  });

  it('SERVFAIL and REFUSED', () => {
    const fail = parsed('responseServfail');
    expect([fail.flags.rcode, fail.flags.rcodeName, fail.empty, fail.question?.name]).toEqual([2, 'SERVFAIL', false, 'alias.example.test']);
    const refused = parsed('responseRefused');
    expect([refused.flags.rcode, refused.flags.rcodeName, refused.empty, refused.question?.name]).toEqual([5, 'REFUSED', false, 'other.org']);
  });

  it('TCP messages after stripping the length prefix', () => {
    for (const [name, answers] of [['tcpQuery', 0], ['tcpResponse', 3]] as const) {
      const framed = captured(name);
      const length = (framed[0]! << 8) | framed[1]!;
      expect(length).toBe(framed.length - 2);
      const m = ok(parseDnsMessage(framed.subarray(2)));
      expect([m.question?.name, m.answers.length, m.answersTruncated]).toEqual(['alias.example.test', answers, false]);
    }
    expect(answerLines(ok(parseDnsMessage(captured('tcpResponse').subarray(2))))).toEqual(answerLines(parsed('responseCname')));
    // With the prefix left on, the bytes are no message: the id is the length and the counts are garbage.
    expect(parseDnsMessage(captured('tcpResponse')).ok).toBe(false);
  });

  it('names: punycode as on the wire, raw UTF-8 and escapes as dig writes them, lower case', () => {
    expect(answerLines(parsed('responseIdn'))).toEqual(['xn--bcher-kva.example.test 30 A 10.1.2.4']);
    expect(parsed('responseUtf8').question?.name).toBe('b\\195\\188cher.example.test');
    // dig printed this question as `;Odd\.Name\009\255\\x.example.test. IN A`.
    const dig = 'Odd\\.Name\\009\\255\\\\x.example.test.';
    const m = parsed('responseEscapes');
    expect(m.question?.name).toBe(dig.toLowerCase().slice(0, -1));
    expect(m.flags.rcodeName).toBe('NXDOMAIN');
    const mixed = parsed('responseMixedCase');
    expect(captured('responseMixedCase').subarray(12, 17)).toEqual(new Uint8Array([3, 0x57, 0x65, 0x42, 7])); // "WeB"
    expect(answerLines(mixed)).toEqual(['web.example.test 30 A 10.1.2.3']);
    expect(mixed.question?.name).toBe('web.example.test');
  });

  it('PTR and NS data are names; TXT and SRV data are sizes; SRV additional records are walked to the OPT', () => {
    expect(answerLines(parsed('responsePtr'))).toEqual(['3.2.1.10.in-addr.arpa 30 PTR web.example.test']);
    expect(answerLines(parsed('responseNs'))).toEqual(['auth.test 600 NS ns.auth.test']);
    expect(answerLines(parsed('responseTxt'))).toEqual(['txt.example.test 30 TXT <21 bytes>']);
    const srv = parsed('responseSrv');
    expect(answerLines(srv)).toEqual(['_http._tcp.example.test 30 SRV <24 bytes>']);
    expect([srv.counts.ar, srv.edns?.udpSize]).toEqual([3, 1232]);
  });

  it('40 answers: capped by maxAnswers, cut by a 512-byte copy, and a TC response', () => {
    const full = captured('responseMany');
    expect(full.length).toBe(686);
    const all = parsed('responseMany', 100);
    expect([all.answers.length, all.answersTruncated, all.edns?.udpSize]).toEqual([40, false, 1232]);
    const capped = parsed('responseMany');
    expect([capped.answers.length, capped.answersTruncated, capped.edns?.udpSize]).toEqual([16, false, 1232]);
    expect(capped.answers).toEqual(all.answers.slice(0, 16));
    expect(parsed('responseMany', 0).answers).toEqual([]);
    // Question ends at 12 + 19 + 4 = 35; each answer is 2 + 10 + 4 = 16 bytes: 29 fit in 512.
    const cut = ok(parseDnsMessage(full.subarray(0, 512), { maxAnswers: 100 }));
    expect([cut.answers.length, cut.answersTruncated, cut.edns, cut.counts.an]).toEqual([29, true, undefined, 40]);
    expect(cut.answers).toEqual(all.answers.slice(0, 29));
    const tc = parsed('responseManyTc', 100);
    expect([tc.flags.tc, tc.counts.an, tc.answers.length, tc.answersTruncated, tc.empty]).toEqual([true, 29, 29, false, false]);
  });
});

describe('cut copies', () => {
  it('every cut of the CNAME response: short header, truncated question, then fewer answers', () => {
    const buf = captured('responseCname');
    // Question 12..36; answers end at 66, 96 and 112; OPT 112..123.
    for (let n = 0; n <= buf.length; n++) {
      const r = parseDnsMessage(buf.subarray(0, n));
      if (n < 12) { expect(r).toEqual({ ok: false, error: 'short_header' }); continue; }
      if (n < 36) {
        expect(r.ok ? 'ok' : r.error).toBe('truncated');
        if (!r.ok) expect([r.partial?.id, r.partial?.counts.an, r.partial?.question]).toEqual([0x9743, 3, undefined]);
        continue;
      }
      const m = ok(r);
      const answers = n < 66 ? 0 : n < 96 ? 1 : n < 112 ? 2 : 3;
      expect([n, m.answers.length, m.answersTruncated, m.edns !== undefined]).toEqual([n, answers, n < 112, n === 123]);
      expect(m.question?.name).toBe('alias.example.test');
    }
  });

  it('every cut of every capture: ok with a prefix of the answers, or short_header / truncated', () => {
    const same = (a: DnsAnswer, b: DnsAnswer | undefined): boolean =>
      b !== undefined && a.name === b.name && a.type === b.type && a.class === b.class && a.ttl === b.ttl && a.data === b.data;
    const wrong: string[] = [];
    for (const name of Object.keys(DNS_CAPTURES) as DnsCaptureName[]) {
      const whole = captured(name);
      const buf = name.startsWith('tcp') ? whole.subarray(2) : whole;
      const full = ok(parseDnsMessage(buf, { maxAnswers: 100 }));
      let okFrom = -1, answersSeen = 0;
      for (let n = 0; n <= buf.length; n++) {
        const r = parseDnsMessage(buf.subarray(0, n), { maxAnswers: 100 });
        if (!r.ok) {
          // Errors only before the question is whole, and only these two.
          if (okFrom >= 0 || r.error !== (n < 12 ? 'short_header' : 'truncated')) wrong.push(`${name}/${n}: ${r.error}`);
          continue;
        }
        if (okFrom < 0) okFrom = n;
        const m = r.message;
        if (m.question?.name !== full.question?.name || m.question?.type !== full.question?.type) wrong.push(`${name}/${n}: question`);
        if (!m.answers.every((a, i) => same(a, full.answers[i]))) wrong.push(`${name}/${n}: answers not a prefix`);
        if (m.answers.length < answersSeen) wrong.push(`${name}/${n}: fewer answers than a shorter cut`);
        if (m.answers.length < full.answers.length && !m.answersTruncated) wrong.push(`${name}/${n}: answersTruncated`);
        answersSeen = m.answers.length;
      }
      if (answersSeen !== full.answers.length) wrong.push(`${name}: ${answersSeen} answers at full length`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('malformed messages', () => {
  it('fewer than 12 bytes is short_header, without a partial message', () => {
    for (let n = 0; n < 12; n++) expect(parseDnsMessage(new Uint8Array(n))).toEqual({ ok: false, error: 'short_header' });
    expect(errorOf(u8(header({ qd: 0 })))).toBe('ok');
  });

  it('a pointer to itself, a two-pointer loop, a label then a pointer back to its own name', () => {
    expect(errorOf(u8(header({}), [0xc0, 0x0c], A_IN))).toBe('pointer_loop');              // 12 → 12
    expect(errorOf(u8(header({}), [0xc0, 0x0e], [0xc0, 0x0c], A_IN))).toBe('pointer_loop'); // 12 → 14 → 12
    expect(errorOf(u8(header({}), label('www'), [0xc0, 0x0c], A_IN))).toBe('pointer_loop'); // www, then 16 → 12
    // In the answer section too: an owner pointing to itself is an error, not a cut copy.
    const r = parseDnsMessage(u8(header({ qd: 0, an: 1 }), [0xc0, 0x0c], A_IN, [0, 0, 0, 1], [0, 4], [1, 2, 3, 4]));
    expect(r.ok ? 'ok' : r.error).toBe('pointer_loop');
  });

  it('a name reached through a pointer may not run into the name that points to it', () => {
    const buf = u8(
      header({ qd: 0, an: 2 }),
      [0x00],                     // 12: answer 1, owner: root
      [0x00, 0x10, 0x00, 0x01],   // 13: type TXT, class IN
      [0x00, 0x00, 0x00, 0x00],   // 17: ttl 0
      [0x00, 0x01, 0x05],         // 21: rdlength 1, rdata 0x05 at 23
      [0xc0, 0x17],               // 24: answer 2, owner: pointer to 23, whose "label" of 5 covers 24..28
      A_IN, [0, 0, 0, 0], [0, 4], [10, 0, 0, 1],
    );
    expect(errorOf(buf)).toBe('pointer_loop');
  });

  it('a pointer to a name decoded before still may not lead back into the part that pointed', () => {
    const buf = u8(
      header({ an: 1 }),
      [0x04, 0x61, 0x62, 0xc0, 0x0c, 0x00], // 12: question name, one label of 4 bytes "ab" c0 0c
      A_IN,                                 // 18
      [0xc0, 0x0f],                         // 22: answer owner → 15, whose c0 0c (→ 12) is inside that label
      A_IN, [0, 0, 0, 1], [0, 4], [1, 2, 3, 4],
    );
    const r = parseDnsMessage(buf);
    expect(r).toMatchObject({ ok: false, error: 'pointer_loop', partial: { question: { name: 'ab\\192\\012' } } });
  });

  it('pointers past the end of the copy or into the header are bad_pointer', () => {
    expect(errorOf(u8(header({}), [0xc0, 0xff], A_IN))).toBe('bad_pointer');
    expect(errorOf(u8(header({}), [0xff, 0xff], A_IN))).toBe('bad_pointer');
    expect(errorOf(u8(header({}), [0xc0, 0x05], A_IN))).toBe('bad_pointer');
    // The same forward pointer inside the copy is a loop by the backward-only rule.
    expect(errorOf(u8(header({}), [0xc0, 0x10], A_IN, label('x'), [0]))).toBe('pointer_loop');
  });

  it('label length 64 and the reserved label types 0x40, 0x80 are bad_label_type; 63 is fine', () => {
    const long = (n: number): number[] => [n, ...new Array<number>(n).fill(0x61)];
    expect(errorOf(u8(header({}), long(63), [0], A_IN))).toBe('ok');
    expect(errorOf(u8(header({}), long(64), [0], A_IN))).toBe('bad_label_type');
    expect(errorOf(u8(header({}), [0x41, 0x00, 0x00], [0], A_IN))).toBe('bad_label_type'); // 0x41: binary label (RFC 2673)
    expect(errorOf(u8(header({}), [0x80, 0x00], [0], A_IN))).toBe('bad_label_type');
    expect(errorOf(u8(header({}), [0xbf, 0x00], [0], A_IN))).toBe('bad_label_type');
  });

  it('a name of 255 octets is fine, 256 is name_too_long, also when reached through a pointer', () => {
    const long = (n: number): number[] => [n, ...new Array<number>(n).fill(0x61)];
    const name255 = [...long(63), ...long(63), ...long(63), ...long(61), 0]; // 3 × 64 + 62 + 1
    const name256 = [...long(63), ...long(63), ...long(63), ...long(62), 0];
    expect(name255.length).toBe(255);
    const m = ok(parseDnsMessage(u8(header({}), name255, A_IN)));
    expect(m.question?.name).toBe(['a'.repeat(63), 'a'.repeat(63), 'a'.repeat(63), 'a'.repeat(61)].join('.'));
    expect(errorOf(u8(header({}), name256, A_IN))).toBe('name_too_long');
    // An answer owner "b" + pointer to the 255-octet question name: 257 octets.
    const viaPointer = u8(header({ an: 1 }), name255, A_IN, label('b'), [0xc0, 0x0c], A_IN, [0, 0, 0, 1], [0, 4], [1, 2, 3, 4]);
    const r = parseDnsMessage(viaPointer);
    expect(r.ok ? 'ok' : r.error).toBe('name_too_long');
    if (!r.ok) expect(r.partial?.question?.name.length).toBe(253);
  });

  it('qdcount above 1 is too_many_questions, with the header kept', () => {
    const r = parseDnsMessage(u8(header({ qd: 65535 }), [0x00]));
    expect(r).toMatchObject({ ok: false, error: 'too_many_questions', partial: { id: 0xbeef, counts: { qd: 65535 } } });
    expect(errorOf(u8(header({ qd: 2 }), label('a'), [0], A_IN, label('b'), [0], A_IN))).toBe('too_many_questions');
    const none = ok(parseDnsMessage(u8(header({ qd: 0 }))));
    expect([none.question, none.empty]).toEqual([undefined, true]);
  });

  it('record data that does not fit its type is bad_rdata, with the answers before it kept', () => {
    const q = [...label('a'), 0, ...A_IN]; // question "a" at 12..18
    const answer = (type: number, rdata: number[]): number[] => [
      0xc0, 0x0c,                      // owner: pointer to the question name
      0x00, type, 0x00, 0x01,          // type, class IN
      0x00, 0x00, 0x00, 0x3c,          // ttl 60
      0x00, rdata.length, ...rdata,    // rdlength, rdata
    ];
    const good = answer(1, [10, 0, 0, 1]);
    const cases: [number[], string][] = [
      [answer(1, [10, 0, 0, 1, 9]), 'A of 5 bytes'],
      [answer(28, [0xfd, 0, 0, 1]), 'AAAA of 4 bytes'],
      [answer(5, [...label('b'), 0xc0, 0x0c, 0x00]), 'CNAME name ending before its data'],
      [answer(5, [...label('b')]), 'CNAME name running past its data'],
      [answer(12, [0xc0]), 'PTR cut pointer inside its data'],
    ];
    for (const [bad, what] of cases) {
      const r = parseDnsMessage(u8(header({ an: 2 }), q, good, bad, [0, 0, 0, 0]));
      expect([what, r.ok ? 'ok' : r.error]).toEqual([what, 'bad_rdata']);
      if (!r.ok) expect(r.partial?.answers.map(a => a.data)).toEqual(['10.0.0.1']);
    }
    const cname = ok(parseDnsMessage(u8(header({ an: 1 }), q, answer(5, [...label('B'), 0xc0, 0x0c]))));
    expect(cname.answers[0]).toEqual({ name: 'a', type: 5, typeName: 'CNAME', class: 1, ttl: 60, data: 'b.a' });
  });

  it('a malformed record in the authority section fails the message, keeping the answers', () => {
    const buf = u8(
      header({ an: 1, ns: 1 }), label('a'), [0], A_IN,
      [0xc0, 0x0c], A_IN, [0, 0, 0, 5], [0, 4], [1, 2, 3, 4], // answer: a A 1.2.3.4
      [0x80, 0x00],                                          // authority owner: reserved label type
    );
    const r = parseDnsMessage(buf);
    expect(r).toMatchObject({ ok: false, error: 'bad_label_type', partial: { answers: [{ data: '1.2.3.4', ttl: 5 }] } });
  });

  it('the root name, ttl with the top bit set, extended rcode from OPT', () => {
    const root = ok(parseDnsMessage(u8(header({ flags: 0x0100 }), [0x00], [0x00, 0x02, 0x00, 0x01])));
    expect(root.question).toEqual({ name: '.', type: 2, typeName: 'NS', class: 1 });
    // Owners "a" + pointer to the root question name, and a bare pointer to it.
    const rr = (owner: number[]): number[] => [...owner, ...A_IN, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4];
    const viaRoot = ok(parseDnsMessage(u8(header({ an: 2 }), [0x00], A_IN, rr([...label('a'), 0xc0, 0x0c]), rr([0xc0, 0x0c]))));
    expect(viaRoot.answers.map(a => a.name)).toEqual(['a', '.']);
    const ttl = ok(parseDnsMessage(u8(header({ an: 1 }), [0], A_IN, [0], A_IN, [0x80, 0, 0, 1], [0, 4], [1, 2, 3, 4])));
    expect(ttl.answers[0]?.ttl).toBe(0);
    // responseA with the OPT ttl's first byte (extended rcode) set to 1: rcode 16 (BADVERS).
    const buf = captured('responseA');
    buf[buf.length - 6] = 1;
    const m = ok(parseDnsMessage(buf));
    expect([m.flags.rcode, m.flags.rcodeName, m.empty]).toEqual([16, 'RCODE16', false]);
  });

  it('EDNS comes only from an OPT record in the additional section (RFC 6891 §6.1.1)', () => {
    const opt = [0x00, 0x00, 0x29, 0x04, 0xd0, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00]; // root, OPT, udp 1232, ext rcode 1, DO, rdlength 0
    const inAuthority = ok(parseDnsMessage(u8(header({ ns: 1 }), [0], A_IN, opt)));
    expect([inAuthority.edns, inAuthority.flags.rcode]).toEqual([undefined, 0]);
    const inAdditional = ok(parseDnsMessage(u8(header({ ar: 1 }), [0], A_IN, opt)));
    expect([inAdditional.edns, inAdditional.flags.rcodeName]).toEqual([{ udpSize: 1232, version: 0, dnssecOk: true }, 'RCODE16']);
  });

  it('empty means a NOERROR answer to a standard query: not a query, not TC, not another opcode', () => {
    const flagsOf = (flags: number): boolean => ok(parseDnsMessage(u8(header({ flags }), [0], A_IN))).empty;
    expect(flagsOf(0x8180)).toBe(true);   // response, NOERROR
    expect(flagsOf(0x0100)).toBe(false);  // query
    expect(flagsOf(0x8380)).toBe(false);  // TC set
    expect(flagsOf(0xa180)).toBe(false);  // opcode 4 (NOTIFY)
    expect(flagsOf(0x8183)).toBe(false);  // NXDOMAIN
  });
});

describe('names and addresses', () => {
  /** Reverses the escaping: text of one label → its bytes. */
  function unescape(text: string): number[] {
    const out: number[] = [];
    for (let i = 0; i < text.length; i++) {
      if (text[i] !== '\\') { out.push(text.charCodeAt(i)); continue; }
      if (/^\d{3}$/.test(text.slice(i + 1, i + 4))) { out.push(Number(text.slice(i + 1, i + 4))); i += 3; }
      else { out.push(text.charCodeAt(i + 1)); i += 1; }
    }
    return out;
  }

  it('any label bytes come back from their text, lower-cased, and the text is printable ASCII', () => {
    const rand = xorshift(7);
    const wrong: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const bytes = Array.from({ length: 1 + (rand() % 63) }, () => rand() & 0xff);
      const m = ok(parseDnsMessage(u8(header({}), [bytes.length, ...bytes], label('x'), [0], A_IN)));
      const name = m.question!.name;
      const lower = bytes.map(b => (b >= 0x41 && b <= 0x5a ? b | 0x20 : b));
      if (!/^[\x21-\x40\x5b-\x7e]+\.x$/.test(name) || unescape(name.slice(0, -2)).join() !== lower.join()) wrong.push(name);
    }
    expect(wrong).toEqual([]);
  });

  it('AAAA text equals canonicalIp (src/net/ip.ts) for zero runs, mapped IPv4 and random addresses', () => {
    const base = captured('responseAaaa');
    const at = base.length - 11 - 16; // the 16 address bytes sit before the 11-byte OPT record
    const text = (addr: number[]): string => {
      const buf = base.slice();
      buf.set(addr, at);
      return ok(parseDnsMessage(buf)).answers[0]!.data;
    };
    const groups = (g: number[]): number[] => g.flatMap(x => [x >> 8, x & 0xff]);
    const cases = [
      [0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 0, 0], [1, 0, 1, 0, 0, 1, 0, 0],
      [1, 0, 0, 1, 0, 0, 1, 1], [0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0xffff, 0x0a01, 0x0203],
      [0xfe80, 0, 0, 0, 0x1ff, 0xfe23, 0x4567, 0x890a], [0, 0, 0, 0, 0, 0xfffe, 1, 2], [0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x221],
    ].map(groups);
    const rand = xorshift(11);
    for (let i = 0; i < 2000; i++) {
      cases.push(groups(Array.from({ length: 8 }, () => (rand() % 3 === 0 ? 0 : rand() & 0xffff))));
    }
    const wrong: string[] = [];
    for (const addr of cases) {
      const hex = Array.from({ length: 8 }, (_, g) => ((addr[2 * g]! << 8) | addr[2 * g + 1]!).toString(16)).join(':');
      if (text(addr) !== canonicalIp(hex)) wrong.push(`${hex}: ${text(addr)} != ${canonicalIp(hex)}`);
    }
    expect(wrong).toEqual([]);
    expect(text(cases[6]!)).toBe('10.1.2.3'); // ::ffff:10.1.2.3
  });

  it('nameMatchesSuffix: label by label, any case, with a leading or trailing dot', () => {
    const yes: [string, string][] = [
      ['a.svc.cluster.local', 'svc.cluster.local'], ['svc.cluster.local', 'svc.cluster.local'],
      ['A.SVC.Cluster.Local', 'svc.cluster.LOCAL'], ['a.b.svc.cluster.local', '.svc.cluster.local'],
      ['a.svc.cluster.local', 'svc.cluster.local.'], ['x.y', ''], ['x.y', '.'], ['.', '.'],
      ['a\\\\.svc.cluster.local', 'svc.cluster.local'], // label "a\" then svc: a real boundary
    ];
    const no: [string, string][] = [
      ['xsvc.cluster.local', 'svc.cluster.local'], ['cluster.local', 'svc.cluster.local'],
      ['svc.cluster.localx', 'svc.cluster.local'], ['a.svc.cluster.local.evil', 'svc.cluster.local'],
      ['a\\.svc.cluster.local', 'svc.cluster.local'], // one label "a.svc"
      ['.', 'local'], ['', 'local'],
    ];
    for (const [name, suffix] of yes) expect([name, suffix, nameMatchesSuffix(name, suffix)]).toEqual([name, suffix, true]);
    for (const [name, suffix] of no) expect([name, suffix, nameMatchesSuffix(name, suffix)]).toEqual([name, suffix, false]);
  });

  it('rcode and type names', () => {
    expect(Array.from({ length: 12 }, (_, n) => rcodeName(n))).toEqual([
      'NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED',
      'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE', 'RCODE11',
    ]);
    expect(rcodeName(23)).toBe('RCODE23');
    const types: [number, string][] = [
      [1, 'A'], [2, 'NS'], [5, 'CNAME'], [6, 'SOA'], [12, 'PTR'], [15, 'MX'], [16, 'TXT'], [28, 'AAAA'],
      [33, 'SRV'], [35, 'NAPTR'], [41, 'OPT'], [43, 'DS'], [46, 'RRSIG'], [47, 'NSEC'], [48, 'DNSKEY'],
      [64, 'SVCB'], [65, 'HTTPS'], [255, 'ANY'], [257, 'CAA'], [0, 'TYPE0'], [99, 'TYPE99'], [65535, 'TYPE65535'],
    ];
    for (const [n, name] of types) expect([n, qtypeName(n)]).toEqual([n, name]);
  });
});

/** xorshift32 (Marsaglia 2003): deterministic, no dependency. Returns unsigned 32-bit numbers. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

const KINDS = new Set<string>(DNS_PARSE_ERRORS);
const NAME_TEXT = /^(?:\.|(?:[!#%&'*+,\-/0-9:<=>?[\]^_`a-z{|}~]|\\[.\\"();@$]|\\\d{3})+(?:\.(?:[!#%&'*+,\-/0-9:<=>?[\]^_`a-z{|}~]|\\[.\\"();@$]|\\\d{3})+)*)$/;

/**
 * What must hold for any result: a known kind, a partial message unless the header is short, no
 * more answers than counted or asked for, all of them unless the copy was cut, and names in the
 * escaped text form. Returns its kind ('ok' or the error), or what is wrong with it.
 */
function checkResult(r: DnsParseResult, maxAnswers: number): { kind: string; wrong?: string } {
  if (!r.ok) {
    if (!KINDS.has(r.error)) return { kind: r.error, wrong: 'unknown kind' };
    if ((r.partial === undefined) !== (r.error === 'short_header')) return { kind: r.error, wrong: 'partial' };
    if (r.partial && r.partial.answers.length > r.partial.counts.an) return { kind: r.error, wrong: 'partial answers' };
    return { kind: r.error };
  }
  const m = r.message;
  const expected = Math.min(m.counts.an, maxAnswers);
  if (m.answers.length > expected || (!m.answersTruncated && m.answers.length !== expected)) return { kind: 'ok', wrong: 'answer count' };
  const names = m.answers.flatMap(a => (a.typeName === 'CNAME' || a.typeName === 'PTR' || a.typeName === 'NS' ? [a.name, a.data] : [a.name]));
  if (m.question) names.push(m.question.name);
  const bad = names.find(n => !NAME_TEXT.test(n));
  return bad === undefined ? { kind: 'ok' } : { kind: 'ok', wrong: `name ${JSON.stringify(bad)}` };
}

/** Parses each buffer, counts the kinds, and collects (a few) results that break the rules. */
function fuzz(buffers: Iterable<Uint8Array>): { seen: Set<string>; wrong: string[] } {
  const seen = new Set<string>();
  const wrong: string[] = [];
  for (const buf of buffers) {
    let result: { kind: string; wrong?: string };
    try {
      result = checkResult(parseDnsMessage(buf, { maxAnswers: 8 }), 8);
    } catch (e) {
      result = { kind: 'threw', wrong: String(e) };
    }
    seen.add(result.kind);
    if (result.wrong !== undefined && wrong.length < 5) wrong.push(`${result.kind}: ${result.wrong} in ${Buffer.from(buf).toString('hex')}`);
  }
  return { seen, wrong };
}

describe('fuzz (seeded)', () => {
  const corpus = (Object.keys(DNS_CAPTURES) as DnsCaptureName[])
    .map(n => (n.startsWith('tcp') ? captured(n).subarray(2) : captured(n)));

  // A parser that loops would hang here: the timeout turns that into a failure.
  it('20k random buffers: no throw, every result ok or a known kind', { timeout: 20_000 }, () => {
    const rand = xorshift(0x5eed);
    function* buffers(): Generator<Uint8Array> {
      for (let i = 0; i < 20_000; i++) {
        const buf = new Uint8Array(rand() % 600);
        for (let j = 0; j < buf.length; j++) buf[j] = rand() & 0xff;
        // Half get plausible counts so that names and records are reached, not just the header.
        if (i % 2 === 0 && buf.length >= 12) buf.set([0, rand() % 2, 0, rand() % 4, 0, rand() % 2, 0, rand() % 2], 4);
        yield buf;
      }
    }
    const { seen, wrong } = fuzz(buffers());
    expect(wrong).toEqual([]);
    expect([...seen]).toEqual(expect.arrayContaining(['ok', 'short_header', 'truncated', 'too_many_questions', 'bad_label_type', 'bad_pointer']));
  });

  it('20k mutations of the captured messages: no throw, every result ok or a known kind', { timeout: 20_000 }, () => {
    const rand = xorshift(0xd15);
    function* buffers(): Generator<Uint8Array> {
      for (let i = 0; i < 20_000; i++) {
        let buf = corpus[rand() % corpus.length]!.slice();
        for (let k = 1 + (rand() % 4); k > 0; k--) {
          const at = buf.length === 0 ? 0 : rand() % buf.length;
          switch (rand() % 6) {
            case 0: buf[at] = rand() & 0xff; break;                          // any byte
            case 1: buf[at] = (buf[at] ?? 0) ^ (1 << (rand() % 8)); break;    // one bit
            case 2: buf[at] = 0xc0 | (rand() & 0x3f); if (at + 1 < buf.length) buf[at + 1] = rand() & 0xff; break; // a pointer
            case 3: buf[at] = [0, 0x3f, 0x40, 0x80, 0xff][rand() % 5]!; break; // lengths at the edges
            case 4: buf = buf.slice(0, at); break;                             // cut
            default: buf = new Uint8Array([...buf.subarray(0, at), rand() & 0xff, ...buf.subarray(at)]); // insert
          }
        }
        yield buf;
      }
    }
    const { seen, wrong } = fuzz(buffers());
    expect(wrong).toEqual([]);
    // Every kind but name_too_long, which takes a name of 256 octets: small mutations of short names don't make one.
    expect([...seen].sort()).toEqual([...KINDS, 'ok'].filter(k => k !== 'name_too_long').sort());
  });
});

/**
 * Go's url.ParseRequestURI, as far as the http_path filter needs it: the path of a request URI, or
 * undefined where Go refuses it.
 */
// ---------------------------------------------------------------------------------------------
// Go's url.ParseRequestURI, reduced to the path it yields (the http_path filter matches it)

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** shouldEscape(c, encodeHost) for ASCII c: what a host may not hold unescaped. */
function hostMustEscape(c: number): boolean {
  if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) return false;
  return !'!$&\'()*+,;=:[]<>"-_.~'.includes(String.fromCharCode(c));
}

type Escaping = 'path' | 'host' | 'zone' | 'user';

/** Whether Go's unescape(s, mode) succeeds. */
function unescapes(s: string, mode: Escaping): boolean {
  for (let i = 0; i < s.length;) {
    const c = s.charCodeAt(i);
    if (c === 37) {
      if (i + 2 >= s.length || !isHex(s.charCodeAt(i + 1)) || !isHex(s.charCodeAt(i + 2))) return false;
      const v = parseInt(s.slice(i + 1, i + 3), 16);
      const pct25 = s.startsWith('%25', i);
      if (mode === 'host' && v >> 4 < 8 && !pct25) return false;
      if (mode === 'zone' && !pct25 && v !== 0x20 && v < 0x80 && hostMustEscape(v)) return false;
      if (mode === 'zone' && !pct25 && v >= 0x80) return false;
      i += 3;
    } else {
      if ((mode === 'host' || mode === 'zone') && c < 0x80 && hostMustEscape(c)) return false;
      i++;
    }
  }
  return true;
}

function validOptionalPort(port: string): boolean {
  return port === '' || /^:[0-9]*$/.test(port);
}

function validHost(host: string): boolean {
  if (host.startsWith('[')) {
    const close = host.lastIndexOf(']');
    if (close < 0 || !validOptionalPort(host.slice(close + 1))) return false;
    const zone = host.slice(0, close).indexOf('%25');
    if (zone >= 0) {
      return unescapes(host.slice(0, zone), 'host') && unescapes(host.slice(zone, close), 'zone') && unescapes(host.slice(close), 'host');
    }
  } else {
    const colon = host.lastIndexOf(':');
    if (colon !== -1 && !validOptionalPort(host.slice(colon))) return false;
  }
  return unescapes(host, 'host');
}

function validAuthority(authority: string): boolean {
  const at = authority.lastIndexOf('@');
  if (!validHost(at < 0 ? authority : authority.slice(at + 1))) return false;
  if (at < 0) return true;
  const userinfo = authority.slice(0, at);
  if (!/^[-A-Za-z0-9._:~!$&'()*+,;=%@]*$/.test(userinfo)) return false;
  const colon = userinfo.indexOf(':');
  return colon < 0 ? unescapes(userinfo, 'user') : unescapes(userinfo.slice(0, colon), 'user') && unescapes(userinfo.slice(colon + 1), 'user');
}

/** The decoded path url.ParseRequestURI(raw) gives, or undefined where it fails. */
export function requestURIPath(raw: string): string | undefined {
  for (let k = 0; k < raw.length; k++) {
    const c = raw.charCodeAt(k);
    if (c < 0x20 || c === 0x7f) return undefined;
  }
  if (raw === '') return undefined;
  if (raw === '*') return '*';
  let scheme = '';
  let rest = raw;
  for (let k = 0; k < raw.length; k++) {
    const c = raw.charCodeAt(k);
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) continue;
    if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46) {
      if (k === 0) break;
      continue;
    }
    if (c === 58) {
      if (k === 0) return undefined; // missing protocol scheme
      scheme = raw.slice(0, k);
      rest = raw.slice(k + 1);
    }
    break;
  }
  const q = rest.indexOf('?');
  if (q >= 0) rest = rest.slice(0, q);
  if (!rest.startsWith('/')) return scheme !== '' ? '' : undefined; // opaque URI: no path; else not a request URI
  if (scheme !== '' && rest.startsWith('//')) {
    let authority = rest.slice(2);
    rest = '';
    const slash = authority.indexOf('/');
    if (slash >= 0) {
      rest = authority.slice(slash);
      authority = authority.slice(0, slash);
    }
    if (!validAuthority(authority)) return undefined;
  }
  if (!rest.includes('%')) return rest;
  if (!unescapes(rest, 'path')) return undefined;
  const bytes = Buffer.from(rest, 'utf8');
  const out = Buffer.alloc(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 37) {
      out[n++] = parseInt(String.fromCharCode(bytes[i + 1]!, bytes[i + 2]!), 16);
      i += 2;
    } else {
      out[n++] = bytes[i]!;
    }
  }
  return out.toString('utf8', 0, n);
}

/**
 * Go's string and regexp semantics where Hubble filters depend on them (Cilium evaluates filters in
 * Go): strings.TrimSpace / ToLower / EqualFold, and RE2 patterns translated to JS RegExps.
 */
import { isGoSpace } from './label-selector.js';
// ---------------------------------------------------------------------------------------------
// Go string helpers

/** strings.TrimSpace */
export function goTrimSpace(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end) {
    const cp = s.codePointAt(start)!;
    if (!isGoSpace(cp)) break;
    start += cp > 0xffff ? 2 : 1;
  }
  while (end > start) {
    const cp = s.charCodeAt(end - 1);
    if (!isGoSpace(cp)) break;
    end--;
  }
  return s.slice(start, end);
}

/** strings.ToLower: per code point (Go maps U+0130 to a plain 'i', JS to two code points). */
export function goToLower(s: string): string {
  if (/^[\x00-\x7f]*$/.test(s)) return s.toLowerCase();
  let out = '';
  for (const ch of s) {
    const lower = ch.toLowerCase();
    out += lower.length === ch.length ? lower : ch === '\u0130' ? 'i' : ch;
  }
  return out;
}

function simpleCase(cp: number, upper: boolean): number {
  const ch = String.fromCodePoint(cp);
  const m = upper ? ch.toUpperCase() : ch.toLowerCase();
  const r = m.codePointAt(0)!;
  return m.length === (r > 0xffff ? 2 : 1) ? r : cp;
}

/** strings.EqualFold (simple case folding, code point by code point). */
export function equalFold(a: string, b: string): boolean {
  if (a === b) return true;
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(j)!;
    i += x > 0xffff ? 2 : 1;
    j += y > 0xffff ? 2 : 1;
    if (x === y) continue;
    if (x < 0x80 && y < 0x80) {
      const lx = x | 0x20;
      if (lx === (y | 0x20) && lx >= 97 && lx <= 122) continue;
      return false;
    }
    if (simpleCase(x, false) !== simpleCase(y, false) && simpleCase(x, true) !== simpleCase(y, true)) return false;
  }
  return i === a.length && j === b.length;
}

// ---------------------------------------------------------------------------------------------
// Go (RE2) regular expressions as JS RegExps

const JS_SYNTAX_CHARS = '^$\\.*+?()[]{}|/';
const GENERAL_CATEGORIES = new Set([
  'C', 'Cc', 'Cf', 'Co', 'Cs', 'L', 'Ll', 'Lm', 'Lo', 'Lt', 'Lu', 'M', 'Mc', 'Me', 'Mn', 'N', 'Nd', 'Nl', 'No', 'P', 'Pc',
  'Pd', 'Pe', 'Pf', 'Pi', 'Po', 'Ps', 'S', 'Sc', 'Sk', 'Sm', 'So', 'Z', 'Zl', 'Zp', 'Zs',
]);
const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alnum: '0-9A-Za-z', alpha: 'A-Za-z', ascii: '\\x00-\\x7F', blank: '\\t ', cntrl: '\\x00-\\x1F\\x7F', digit: '0-9',
  graph: '!-~', lower: 'a-z', print: ' -~', punct: '!-\\/:-@\\[-`\\{-~', space: '\\t\\n\\v\\f\\r ', upper: 'A-Z',
  word: '0-9A-Za-z_', xdigit: '0-9A-Fa-f',
};
// RE2's \s is ASCII only (JS's takes every Unicode space)
const RE2_SPACE = '\\t\\n\\f\\r ';

function escapeLiteral(s: string): string {
  let out = '';
  for (const ch of s) out += JS_SYNTAX_CHARS.includes(ch) || ch === '-' ? `\\${ch}` : ch;
  return out;
}

const isOctal = (c: number): boolean => c >= 48 && c <= 55;

/** One RE2 escape at p[i] === '\\': its JS (u-mode) spelling and the index after it. */
function translateEscape(p: string, i: number, inClass: boolean): [string, number] {
  const d = p[i + 1];
  if (d === undefined) throw new Error('trailing backslash at end of expression');
  if (!inClass) {
    switch (d) {
      case 'A': return ['(?<![\\s\\S])', i + 2];
      case 'z': return ['(?![\\s\\S])', i + 2];
      case 'b': case 'B': return [`\\${d}`, i + 2];
      case 'Q': {
        const end = p.indexOf('\\E', i + 2);
        return end < 0 ? [escapeLiteral(p.slice(i + 2)), p.length] : [escapeLiteral(p.slice(i + 2, end)), end + 2];
      }
      default: break;
    }
  }
  switch (d) {
    case 'd': case 'D': case 'w': case 'W': case 'f': case 't': case 'n': case 'r': case 'v':
      return [`\\${d}`, i + 2];
    case 's': return [inClass ? RE2_SPACE : `[${RE2_SPACE}]`, i + 2];
    case 'S': return [inClass ? '\\S' : `[^${RE2_SPACE}]`, i + 2];
    case 'a': return ['\\x07', i + 2];
    case 'x': {
      if (p[i + 2] === '{') {
        const end = p.indexOf('}', i + 3);
        const hex = end < 0 ? '' : p.slice(i + 3, end);
        if (!/^[0-9A-Fa-f]{1,8}$/.test(hex) || parseInt(hex, 16) > 0x10ffff) throw new Error('invalid escape sequence \\x{…}');
        return [`\\u{${hex}}`, end + 1];
      }
      const hex = p.slice(i + 2, i + 4);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Error(`invalid escape sequence \\x${hex}`);
      return [`\\x${hex}`, i + 4];
    }
    case 'p': case 'P': {
      let name: string;
      let next: number;
      if (p[i + 2] === '{') {
        const end = p.indexOf('}', i + 3);
        if (end < 0) throw new Error('invalid character class range \\p{');
        name = p.slice(i + 3, end);
        next = end + 1;
      } else {
        const cp = p.codePointAt(i + 2);
        if (cp === undefined) throw new Error(`invalid character class range \\${d}`);
        name = String.fromCodePoint(cp);
        next = i + 2 + name.length;
      }
      let negate = d === 'P';
      if (name.startsWith('^')) {
        negate = !negate;
        name = name.slice(1);
      }
      // RE2 names scripts bare (\p{Greek}); JS wants Script=Greek
      const property = name === 'Any' || GENERAL_CATEGORIES.has(name) ? name : `Script=${name}`;
      return [`\\${negate ? 'P' : 'p'}{${property}}`, next];
    }
    default: break;
  }
  const c = d.charCodeAt(0);
  if (c >= 48 && c <= 57) {
    // RE2: \0, \0dd and \ddd are octal; a lone \1 … \9 would be a backreference, which it refuses
    if (!isOctal(c) || (c !== 48 && !isOctal(p.charCodeAt(i + 2)))) throw new Error(`invalid escape sequence \\${d}`);
    let v = c - 48;
    let j = i + 2;
    for (let k = 1; k < 3 && isOctal(p.charCodeAt(j)); k++, j++) v = v * 8 + p.charCodeAt(j) - 48;
    return [`\\u{${v.toString(16)}}`, j];
  }
  // RE2 takes any escaped ASCII punctuation as itself; JS (u-mode) only its syntax characters
  if (c < 0x80 && !/[0-9A-Za-z]/.test(d)) {
    return [JS_SYNTAX_CHARS.includes(d) || (inClass && d === '-') ? `\\${d}` : `\\x${c.toString(16).padStart(2, '0')}`, i + 2];
  }
  throw new Error(`invalid escape sequence \\${d}`);
}

/**
 * A Go regexp (RE2 syntax, unanchored search) as a JS RegExp. The translation covers what the
 * two spell differently: leading flag groups `(?i)`, `(?s)`, `(?m)` (combinable), `\A`, `\z`,
 * `\Q…\E`, `(?P<name>`, `\pL`, `\p{Greek}`, `[[:alpha:]]`, `\x{…}`, octal escapes, escaped
 * punctuation, literal braces, ASCII-only `\s` and a `.` that excludes only `\n`. What JS
 * cannot compile (flags in mid-pattern, `(?U)`, `\C`, …) throws.
 */
export function compileGoRegexp(pattern: string): RegExp {
  let fold = false;
  let multiLine = false;
  let dotNL = false;
  let i = 0;
  for (;;) {
    const m = /^\(\?([imsU]*)(?:-([imsU]+))?\)/.exec(pattern.slice(i));
    if (!m) break;
    for (const [flags, on] of [[m[1] ?? '', true], [m[2] ?? '', false]] as const) {
      for (const f of flags) {
        if (f === 'i') fold = on;
        else if (f === 'm') multiLine = on;
        else if (f === 's') dotNL = on;
        else if (on) throw new Error('the (?U) flag (ungreedy) is not supported');
      }
    }
    i += m[0].length;
  }
  let out = '';
  let inClass = false;
  let classFirst = -1;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      const [t, next] = translateEscape(pattern, i, inClass);
      out += t;
      i = next;
      continue;
    }
    if (inClass) {
      if (c === ']') {
        // RE2 reads a ']' right after '[' or '[^' as a literal
        if (i === classFirst) out += '\\]';
        else {
          out += ']';
          inClass = false;
        }
        i++;
        continue;
      }
      if (c === '[' && pattern[i + 1] === ':') {
        const end = pattern.indexOf(':]', i + 2);
        if (end >= 0) {
          const name = pattern.slice(i + 2, end);
          const range = POSIX_CLASSES[name];
          if (range === undefined) throw new Error(`invalid or unsupported character class [:${name}:]`);
          out += range;
          i = end + 2;
          continue;
        }
      }
      out += c === '[' ? '\\[' : c;
      i++;
      continue;
    }
    switch (c) {
      case '[':
        inClass = true;
        out += '[';
        i++;
        if (pattern[i] === '^') {
          out += '^';
          i++;
        }
        classFirst = i;
        break;
      case '.':
        out += dotNL ? '[\\s\\S]' : '[^\\n]';
        i++;
        break;
      case '{': {
        // a valid repetition stays; any other brace is a literal in RE2 (an error in JS u-mode)
        const m = /^\{(\d+)(?:,(\d*))?\}/.exec(pattern.slice(i));
        if (m) {
          if (Number(m[1]) > 1000 || (m[2] !== undefined && m[2] !== '' && Number(m[2]) > 1000)) {
            throw new Error(`invalid repeat count ${m[0]}`);
          }
          out += m[0];
          i += m[0].length;
        } else {
          out += '\\{';
          i++;
        }
        break;
      }
      case '}':
        out += '\\}';
        i++;
        break;
      case '(':
        // JS has lookarounds, RE2 refuses them
        if (/^\(\?(?:=|!|<=|<!)/.test(pattern.slice(i, i + 4))) throw new Error('lookaround groups are not supported (RE2)');
        if (pattern.startsWith('(?P<', i)) {
          out += '(?<';
          i += 4;
        } else {
          out += '(';
          i++;
        }
        break;
      default:
        out += c;
        i++;
    }
  }
  return new RegExp(out, `u${fold ? 'i' : ''}${multiLine ? 'm' : ''}`);
}

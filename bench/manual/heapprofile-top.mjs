// Bytes allocated by function in a sampling heap profile (FOVEA_ALLOC_PROFILE, Chrome DevTools
// `.heapprofile`): self (allocated in the function itself) and inclusive (in it and what it calls).
// With garbage included (as FOVEA_ALLOC_PROFILE records it), the totals are what the agent allocated
// over the profile, freed or not:  node bench/manual/heapprofile-top.mjs <file.heapprofile> [seconds]
// (seconds: the profile's length, to print rates per second too)
import { readFileSync } from 'node:fs';
const p = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const secs = Number(process.argv[3] ?? 0);
const self = new Map(), incl = new Map();
const name = (n) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${n.callFrame.lineNumber}`;
let total = 0;
const walk = (n, stack) => {
  const k = name(n);
  const own = n.selfSize ?? 0;
  total += own;
  self.set(k, (self.get(k) ?? 0) + own);
  const s2 = stack.includes(k) ? stack : [...stack, k];
  for (const a of s2) incl.set(a, (incl.get(a) ?? 0) + own);
  for (const c of n.children ?? []) walk(c, s2);
};
walk(p.head, []);
const kb = (b) => `${(b / 1024).toFixed(0).padStart(8)} KB${secs ? ` ${(b / 1024 / secs).toFixed(1).padStart(7)} KB/s` : ''}`;
console.log(`total sampled ${kb(total)}`);
console.log('--- self'); for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(kb(v), k);
console.log('--- inclusive'); for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, 45)) console.log(kb(v), k);

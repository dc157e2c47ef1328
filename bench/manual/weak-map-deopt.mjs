// V8 behaviour behind the idle agent's re-optimizations (docs/benchmark.md, "V8 in an idle agent"): a full
// collection that finds no live instance of a class clears the maps its instances' fields made (transitions are
// weak), and discards the optimized code that checks those maps ("for deoptimization, reason: weak objects").
// One instance kept alive keeps the maps and the code:
//   node --expose-gc --trace-opt --trace-deopt bench/manual/weak-map-deopt.mjs        # 'weak objects' deopts after the gc
//   node --expose-gc --trace-opt --trace-deopt bench/manual/weak-map-deopt.mjs keep   # none
class W { constructor(n) { this.buf = Buffer.allocUnsafe(n); this.pos = 0; } put(v) { this.buf[this.pos++] = v; } }
function encode(n) { const w = new W(n); for (let i = 0; i < n; i++) w.put(i & 0xff); return w.pos; }
const keep = process.argv[2] === 'keep' ? new W(1) : undefined;
for (let r = 0; r < 2000; r++) encode(64);
console.log('warm; now gc');
globalThis.gc();
console.log('after gc', keep ? 'kept one W' : 'no W alive');
for (let r = 0; r < 10; r++) encode(64);

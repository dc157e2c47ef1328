/**
 * How Node runs the agent. The image's ENTRYPOINT passes these V8 flags (test/deploy/dockerfile.test.ts
 * keeps the two equal) and the benchmark starts the agent with them, so it measures what ships.
 *
 * --max-semi-space-size=64: V8's young generation may grow to 64 MB per semi-space (default 16).
 * Under tens of thousands of events per second, the events and flows the agent keeps for `fovea
 * observe` and the Hubble API live a fraction of a second — long enough to be copied at every
 * young-generation collection when that generation is small. Measured side by side
 * (`BENCH_AGENT_NODE_FLAGS= BENCH_F_CONFIGS='55k/0 clients;55k/1 client' node dist/bench/run.js
 * --only f`, then without BENCH_AGENT_NODE_FLAGS): 55k drop events/s streamed to one Hubble client
 * took 31.7 ± 2.0% of a core with Node's defaults and 20.5 ± 1.4% with this flag; the same storm
 * with no client, 13.2 ± 1.5% and 5.9 ± 1.0%. Idle, VmHWM after 20 s: 128.6 and 131.4 MB
 * (`bash bench/manual/semi-space-idle.sh`): the young generation grows only under allocation
 * pressure. Outside the image: NODE_OPTIONS=--max-semi-space-size=64.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];

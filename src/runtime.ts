/**
 * How Node runs the agent. The image's ENTRYPOINT passes these V8 flags (test/deploy/dockerfile.test.ts
 * keeps the two equal) and the benchmark starts the agent with them, so it measures what ships.
 *
 * --max-semi-space-size=64: V8's young generation may grow to 64 MB per semi-space (default 16).
 * Under tens of thousands of events per second, the events and flows the agent keeps for `fovea
 * observe` and the Hubble API live a fraction of a second — long enough to be copied at every
 * young-generation collection when that generation is small. Measured (bench part f, 55k drop
 * events/s streamed to one Hubble client): 41% of a core at the default, 35–39% at 32 MB, 28% at
 * 64 MB; at idle VmHWM stayed the same (130 vs 133 MB): the young generation grows only under
 * allocation pressure. Outside the image: NODE_OPTIONS=--max-semi-space-size=64.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];

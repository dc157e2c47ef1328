/**
 * Every CLI command: one entry each. Implementations load on use, so `fovea agent` does not carry
 * the demo's lab and receiver (or anything else it does not run) in its memory.
 */
import type { Command } from './types.js';

export interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  load(): Promise<Command>;
}

export const COMMANDS: readonly CommandEntry[] = [
  { name: 'agent', summary: 'Run the node agent: load the eBPF probes, export OTLP metrics and drop/flow events',
    load: async () => (await import('./agent.js')).agentCommand },
  { name: 'demo', summary: 'Try it on this machine (root): a lab of pods, the real agent, real drops, a live view',
    load: async () => (await import('./demo.js')).demoCommand },
  { name: 'doctor', summary: 'Check what this host supports and what will and will not work, with the fix for each',
    load: async () => (await import('./doctor.js')).doctorCommand },
  { name: 'observe', summary: 'Watch flows and drops on this node live, with filters (like hubble observe)',
    load: async () => (await import('./observe.js')).observeCommand },
  { name: 'reasons', summary: "Print the running kernel's packet drop reasons (enum skb_drop_reason, from BTF)",
    load: async () => (await import('./reasons.js')).reasonsCommand },
];

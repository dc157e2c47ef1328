/** Every CLI command: one import and one entry each. */
import { agentCommand } from './agent.js';
import { reasonsCommand } from './reasons.js';
import type { Command } from './types.js';

export const COMMANDS: readonly Command[] = [agentCommand, reasonsCommand];

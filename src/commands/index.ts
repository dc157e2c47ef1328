/** Every CLI command: one import and one entry each. */
import { agentCommand } from './agent.js';
import { demoCommand } from './demo.js';
import { doctorCommand } from './doctor.js';
import { reasonsCommand } from './reasons.js';
import type { Command } from './types.js';

export const COMMANDS: readonly Command[] = [agentCommand, demoCommand, doctorCommand, reasonsCommand];

/** The agent's configuration: defaults < config file < FOVEA_* environment < flags. */
export {
  ConfigSchema, defaultConfig, parseDuration, interfacePatternProblem,
  LOG_LEVELS, EXPORT_PROTOCOLS, COMPRESSIONS,
  type Config, type ConfigInput,
} from './schema.js';
export { loadConfig, type ConfigSources, type LoadResult, type ValueSource } from './load.js';
export { formatIssues, type ConfigIssue, type IssueSource } from './issues.js';
export {
  AGENT_FLAGS, agentFlagsHelp, parseAgentArgs,
  type AgentFlagName, type FlagValues, type ParsedArgs,
} from './flags.js';
export { parseConfigText, detectFormat, type FileFormat, type ParsedFile } from './file.js';
export { SETTINGS, CONFIG_FILE_ENV, type Setting } from './settings.js';

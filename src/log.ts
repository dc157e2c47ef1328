import pino, { type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** Structured JSON logs on stderr; stdout stays free for command output. */
export function createLogger(level: LevelWithSilent = 'info'): Logger {
  return pino({ level, base: { service: 'fovea' } }, pino.destination(2));
}

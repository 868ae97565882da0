import { type Logger, createLogger } from '@shoal/core';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function daemonLogger(name: string, level: string): Logger {
  return createLogger({ name, level });
}

import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * The JSON logger every daemon uses. Authorization headers and credentials are redacted
 * wherever they appear in a logged object, so a careless `log.info({ req })` cannot leak them.
 */
export function createLogger(options: { level?: string; name?: string; destination?: pino.DestinationStream } = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    base: options.name ? { component: options.name } : {},
    redact: {
      paths: ['*.authorization', '*.Authorization', '*.headers.authorization', '*.password', '*.secretAccessKey', '*.token'],
      censor: '[redacted]',
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}

/** A logger that drops everything, for library use without a daemon around it. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

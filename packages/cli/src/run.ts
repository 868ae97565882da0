import type { Logger } from '@shoal/core';

/** Starts a daemon and stops it cleanly on SIGTERM or SIGINT (Kubernetes sends SIGTERM). */
export async function runUntilSignal(daemon: { start(): Promise<void>; stop(): Promise<void> }, logger: Logger): Promise<void> {
  await daemon.start();
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'stopping');
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      resolve();
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  await daemon.stop();
  logger.flush();
}

#!/usr/bin/env node
import { program } from './program.ts';

program()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`shoal: ${message}\n`);
    process.exitCode = 1;
  });

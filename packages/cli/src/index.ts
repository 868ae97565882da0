export { program } from './program.ts';
export { pull, type PullOptions } from './commands/pull.ts';
export { runDemo, type DemoOptions } from './commands/demo.ts';
export { parseBytes, parseDuration } from './options.ts';

export { program } from './program.ts';
export { pull, type PullOptions } from './commands/pull.ts';
export { runDemo, type DemoOptions } from './commands/demo.ts';
export { preheat, preheatBody, type PreheatOptions, type PreheatJobView } from './commands/preheat.ts';
export { parseBytes, parseDuration } from './options.ts';

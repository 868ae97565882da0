export * from './origin.ts';
export * from './fetch-blob.ts';
export * from './in-order-hasher.ts';
export * from './single-flight.ts';
export * from './directory-origin.ts';
export * from './http-origin.ts';
export { redactUrl, isRetryable } from './http-errors.ts';
export { parseContentRange } from './ranges.ts';
export * from './fill-partial.ts';

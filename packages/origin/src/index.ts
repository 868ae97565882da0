export * from './origin.ts';

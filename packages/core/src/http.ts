import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { ErrorCode, ShoalError, errorMessage, httpStatusOf } from './errors.ts';

/** Sends a JSON body. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Sends an error as `{ "error": { "code", "message" } }` with the status its code maps to.
 * Errors that are not ShoalErrors are internal: their message is not sent.
 */
export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy(err instanceof Error ? err : undefined);
    return;
  }
  const status = httpStatusOf(err);
  const body =
    err instanceof ShoalError
      ? { error: { code: err.code, message: err.message } }
      : { error: { code: 'INTERNAL', message: 'internal error' } };
  sendJson(res, status === 499 ? 400 : status, body);
}

/** A 400 for a malformed request parameter. */
export function badRequest(message: string): ShoalError {
  return new ShoalError(ErrorCode.INVALID_ARGUMENT, message);
}

/** A metrics registry with the process metrics (CPU, memory, event loop lag) already in. */
export function createMetricsRegistry(prefix: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: `${prefix}_` });
  return registry;
}

/** Serves a registry in the Prometheus text format. */
export async function sendMetrics(res: ServerResponse, registry: Registry): Promise<void> {
  try {
    const text = await registry.metrics();
    res.writeHead(200, { 'Content-Type': registry.contentType });
    res.end(text);
  } catch (err) {
    res.writeHead(500, { 'Content-Type': 'text/plain' });
    res.end(errorMessage(err));
  }
}

/**
 * The path and query of a request, as sent. Paths with dot segments (`..`, `.`, raw or
 * percent-encoded) are refused with a 400 rather than normalised: no Shoal route has them,
 * so they can only be an attempt to reach outside a route.
 */
export function requestTarget(req: IncomingMessage): { path: string; query: URLSearchParams } {
  const raw = req.url ?? '/';
  const mark = raw.indexOf('?');
  const path = mark === -1 ? raw : raw.slice(0, mark);
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw badRequest('malformed percent-encoding in the request path');
  }
  if (!path.startsWith('/') || decoded.split(/[/\\]/).some((segment) => segment === '..' || segment === '.')) {
    throw badRequest('the request path must not contain "." or ".." segments');
  }
  return { path, query: new URLSearchParams(mark === -1 ? '' : raw.slice(mark + 1)) };
}

import type { IncomingMessage, ServerResponse } from 'node:http';

/** Error codes of the OCI distribution spec that the mirror answers with. */
export type OciErrorCode =
  | 'BLOB_UNKNOWN'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_INVALID'
  | 'TAG_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'UNAVAILABLE';

/** Every answer of the mirror says which API it speaks. */
export const API_VERSION_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'Docker-Distribution-API-Version': 'registry/2.0' });

/**
 * Sends an error in the distribution spec's shape, `{"errors":[{"code","message"}]}`, with
 * the headers given (WWW-Authenticate on a 401). A HEAD gets the status and headers only.
 */
export function sendOciError(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  code: OciErrorCode,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ errors: [{ code, message }] });
  res.writeHead(status, {
    ...API_VERSION_HEADERS,
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
    ...headers,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The OCI code for a refusal by the upstream registry. */
export function refusalCode(status: number, kind: 'blobs' | 'manifests'): OciErrorCode {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  return kind === 'blobs' ? 'BLOB_UNKNOWN' : 'MANIFEST_UNKNOWN';
}

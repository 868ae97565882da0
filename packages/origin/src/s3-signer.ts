import aws4 from 'aws4';

/** Credentials for S3 SigV4 signing. Libraries never read them from the environment: callers pass them in. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** For temporary credentials (STS, IRSA, instance roles). */
  sessionToken?: string;
}

/** A request to sign. */
export interface SigV4Request {
  method: 'GET' | 'HEAD';
  url: URL;
  headers?: Record<string, string>;
  region: string;
  /** 's3' for S3; the test vectors of the SigV4 suite use 'service'. */
  service?: string;
  /** Signing time (default now). */
  date?: Date;
}

/** `20150830T123600Z`: SigV4's timestamp format. */
export function amzDate(date: Date): string {
  return date.toISOString().replace(/[:-]|\.\d{3}/g, '');
}

/**
 * Signs a request with AWS Signature Version 4 (via `aws4`) and returns the headers to send:
 * the caller's, plus `X-Amz-Date`, `X-Amz-Content-Sha256` (the hash of the empty body, for
 * S3), `X-Amz-Security-Token` with a session token, and `Authorization`. The path and query
 * of `url` must already be URI-encoded as they will be sent; the Host header is the URL's
 * host (with the port when not the scheme's default, as undici sends it). `Range` is left
 * out of the signature (aws4 does, as AWS SDKs do), so one signature shape serves every range.
 */
export function signSigV4(request: SigV4Request, credentials: S3Credentials): Record<string, string> {
  const headers: Record<string, string> = { ...(request.headers ?? {}), 'X-Amz-Date': amzDate(request.date ?? new Date()) };
  const signed = aws4.sign(
    {
      method: request.method,
      host: request.url.host,
      path: `${request.url.pathname}${request.url.search}`,
      service: request.service ?? 's3',
      region: request.region,
      headers,
    },
    // Passed explicitly, always: without it aws4 would read process.env.
    {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}),
    },
  );
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers ?? {})) {
    // undici derives Host from the URL (same value); sending both would duplicate it.
    if (name.toLowerCase() === 'host') continue;
    out[name] = String(value);
  }
  return out;
}

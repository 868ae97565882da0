import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, ShoalError, type Digest } from '@shoal/core';
import type { BlobHandle } from './blob-service.ts';
import { sendFileRange } from './send-file.ts';

/** A satisfiable byte range [start, end). */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Parses a Range header against a blob size. Returns undefined for no header (or one we
 * ignore: several ranges, another unit), a range, or 'unsatisfiable' (answer 416).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, first, last] = match;
  if (first === '' && last === '') return undefined;
  let start: number;
  let end: number;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size;
  } else {
    start = Number(first);
    end = last === '' ? size : Math.min(size, Number(last) + 1);
    if (last !== '' && Number(last) < start) return undefined;
  }
  if (!Number.isSafeInteger(start) || start >= size) return 'unsatisfiable';
  return { start, end };
}

export interface SendBlobOptions {
  /** Extra headers (Content-Type, Docker-Content-Digest). */
  headers?: Record<string, string>;
  /** Counts bytes sent, by whether they came from the store or a download. */
  onBytes?: (bytes: number, from: 'store' | 'download') => void;
}

/**
 * Answers a GET or HEAD for a blob, with Range support (206). A blob still downloading is
 * streamed in order as verified pieces arrive, so the first byte waits for one piece, not the
 * whole blob; the pieces just ahead of the reader are fetched first. The last bytes of a
 * whole-blob response are held until the blob's own sha256 is checked, so a client never
 * receives a complete body that is known to be wrong: it sees a broken connection instead.
 */
export async function sendBlob(req: IncomingMessage, res: ServerResponse, handle: BlobHandle, options: SendBlobOptions = {}): Promise<void> {
  const size = handle.size;
  const range = parseRange(req.headers.range, size);
  const headers: Record<string, string> = {
    'Content-Type': 'application/octet-stream',
    'Accept-Ranges': 'bytes',
    ETag: `"${handle.digest}"`,
    'Docker-Content-Digest': handle.digest,
    ...options.headers,
  };
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}` }).end();
    return;
  }
  const { start, end } = range ?? { start: 0, end: size };
  if (range) headers['Content-Range'] = `bytes ${start}-${end - 1}/${size}`;
  headers['Content-Length'] = String(end - start);
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === 'HEAD' || end === start) {
    res.end();
    return;
  }
  if (handle.kind === 'stored') {
    await sendFileRange(res, handle.path, start, end);
    options.onBytes?.(end - start, 'store');
    return;
  }
  await streamDownload(req, res, handle, start, end, options);
}

async function streamDownload(
  req: IncomingMessage,
  res: ServerResponse,
  handle: Extract<BlobHandle, { kind: 'download' }>,
  start: number,
  end: number,
  options: SendBlobOptions,
): Promise<void> {
  const { download } = handle;
  const { meta } = download.partial;
  const abort = new AbortController();
  const onClose = () => abort.abort();
  res.once('close', onClose);
  const moveReader = download.swarm.addReader(start);
  try {
    let position = start;
    while (position < end) {
      const index = meta.pieceAt(position);
      await download.partial.waitForPiece(index, abort.signal);
      const pieceStart = meta.pieceOffset(index);
      const chunkEnd = Math.min(end, pieceStart + meta.pieceSize(index));
      if (chunkEnd === meta.size && start === 0 && end === meta.size) {
        // Hold the final bytes until the whole blob matches its digest.
        await download.partial.whenComplete();
      }
      const bytes = await download.storage.readBlock(index, position - pieceStart, chunkEnd - position);
      if (abort.signal.aborted) throw new ShoalError(ErrorCode.ABORTED, 'client went away');
      if (!res.write(bytes)) await drained(res);
      options.onBytes?.(bytes.length, 'download');
      position = chunkEnd;
      moveReader(position);
    }
    res.end();
  } catch (err) {
    // Headers are out: the only honest signal left is to cut the connection.
    res.destroy(err instanceof Error ? err : undefined);
    if (!(err instanceof ShoalError && err.code === ErrorCode.ABORTED)) throw err;
  } finally {
    moveReader();
    res.off('close', onClose);
  }
}

/** The digest's `Docker-Content-Digest` and ETag headers, for responses without a body. */
export function digestHeaders(digest: Digest): Record<string, string> {
  return { 'Docker-Content-Digest': digest, ETag: `"${digest}"` };
}

/** Resolves when the response can take more bytes, or is closed. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the scripted registry saw. */
export interface SeenRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  accept: string | undefined;
}

/**
 * A real HTTP server on 127.0.0.1:0 standing in for an upstream registry at the seam the
 * mirror's unit tests need: each test decides how it answers, and reads what it was asked.
 */
export interface ScriptedRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  url: string;
  seen: SeenRequest[];
  /** Replaces the handler. */
  answer(handler: (req: IncomingMessage, res: ServerResponse) => void): void;
  close(): Promise<void>;
}

export async function startScriptedRegistry(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<ScriptedRegistry> {
  let current = handler;
  const seen: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      authorization: req.headers.authorization,
      accept: req.headers.accept,
    });
    current(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    seen,
    answer(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

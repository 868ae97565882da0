/**
 * A TCP relay with a capped link: what a central server's NIC would be. Bytes from the target
 * back to clients go through one token bucket shared by all connections (the server's
 * egress); requests towards the target pass uncapped (they are small).
 *
 *   node bench/src/bin/rate-relay.ts --target 127.0.0.1:5000 --rate 100MB/s [--host 127.0.0.1] [--port 0]
 *
 * Prints one JSON line with its address when it listens; stops on SIGTERM.
 */
import { type Socket, connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { TokenBucket } from '@shoal/core';
import { parseSize } from '../lib/units.ts';

const { values } = parseArgs({
  options: { target: { type: 'string' }, rate: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '0' } },
});
if (!values.target) throw new Error('usage: rate-relay.ts --target <host:port> --rate <bytes/s>');
const split = values.target.lastIndexOf(':');
const targetHost = values.target.slice(0, split);
const targetPort = Number(values.target.slice(split + 1));
const bucket = new TokenBucket(parseSize(values.rate!));
let relayed = 0;

/** Pipes `from` into `to`; with a bucket, pauses `from` for as long as the bytes it sent cost. */
function pump(from: Socket, to: Socket, capped: boolean): void {
  from.on('data', (chunk: Buffer) => {
    if (capped) relayed += chunk.length;
    const flushed = to.write(chunk);
    const wait = capped ? bucket.take(chunk.length) : 0;
    if (!flushed || wait > 0) {
      from.pause();
      let pending = (flushed ? 0 : 1) + (wait > 0 ? 1 : 0);
      const resume = () => {
        if (--pending === 0 && !from.destroyed) from.resume();
      };
      if (!flushed) to.once('drain', resume);
      if (wait > 0) setTimeout(resume, wait);
    }
  });
  from.on('end', () => to.end());
  from.on('error', () => to.destroy());
  from.on('close', () => to.destroy());
}

const server = createServer((client) => {
  const upstream = connect({ host: targetHost, port: targetPort });
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  pump(client, upstream, false);
  pump(upstream, client, true);
});
server.listen(Number(values.port), values.host, () => {
  const address = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ url: `http://${address.address}:${address.port}` })}\n`);
});
process.once('SIGTERM', () => {
  process.stderr.write(`${JSON.stringify({ relayed })}\n`);
  server.close();
  process.exit(0);
});

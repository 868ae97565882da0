/**
 * The benchmark origin as its own process (so serving does not share an event loop with the
 * benchmark or the systems under test):
 *
 *   node bench/src/bin/origin-server.ts --dir <oci-layout> --rate 100MB/s [--host 127.0.0.1] [--port 0]
 *
 * Prints one JSON line with its URL when it listens; stops on SIGTERM.
 */
import { parseArgs } from 'node:util';
import { parseSize } from '../lib/units.ts';
import { OriginServer } from '../servers/origin-server.ts';

const { values } = parseArgs({
  options: { dir: { type: 'string' }, rate: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '0' } },
});
if (!values.dir) throw new Error('usage: origin-server.ts --dir <oci-layout> --rate <bytes/s>');
const server = new OriginServer({ dir: values.dir, rate: parseSize(values.rate!), host: values.host!, port: Number(values.port) });
await server.start();
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
process.once('SIGTERM', () => void server.stop().then(() => process.exit(0)));

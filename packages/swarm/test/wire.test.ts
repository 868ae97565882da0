import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE_LENGTH, ShoalWire } from '../src/index.ts';

function handshakeBytes(): Buffer {
  return Buffer.concat([Buffer.from([19]), Buffer.from('BitTorrent protocol'), Buffer.alloc(8), Buffer.alloc(20, 1), Buffer.alloc(20, 2)]);
}

function frame(id: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(payload.length + 1, 0);
  header[4] = id;
  return Buffer.concat([header, payload]);
}

/** Feeds bytes to a wire in chunks of the given size, as a socket would. */
function feed(wire: ShoalWire, bytes: Buffer, chunk: number): void {
  for (let i = 0; i < bytes.length; i += chunk) wire.write(bytes.subarray(i, i + chunk));
}

describe('ShoalWire receive path', () => {
  it('assembles a large message split across many socket reads, once and intact', async () => {
    const wire = new ShoalWire('tcpIncoming');
    const received: Buffer[] = [];
    wire.on('bitfield', (bits: { buffer: Uint8Array }) => received.push(Buffer.from(bits.buffer)));
    const bitfield = Buffer.alloc(200_000);
    for (let i = 0; i < bitfield.length; i++) bitfield[i] = i % 251;
    feed(wire, Buffer.concat([handshakeBytes(), frame(5, bitfield)]), 1000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(received).toHaveLength(1);
    expect(received[0]).toEqual(bitfield);
    expect(wire.closed).toBe(false);
  });

  it('drops a peer whose header announces more than the limit', async () => {
    const wire = new ShoalWire('tcpIncoming');
    const errors: Error[] = [];
    wire.on('protocol-error', (err: Error) => errors.push(err));
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xffffffff, 0);
    feed(wire, Buffer.concat([handshakeBytes(), header]), 64);
    await new Promise((resolve) => setImmediate(resolve));
    expect(errors[0]?.message).toMatch(/exceeds the limit/);
    expect(wire.closed).toBe(true);
    expect(MAX_MESSAGE_LENGTH).toBeLessThan(2 << 20);
  });

  it('drops a peer that sends a fixed-size message of the wrong size', async () => {
    const wire = new ShoalWire('tcpIncoming');
    const errors: Error[] = [];
    wire.on('protocol-error', (err: Error) => errors.push(err));
    feed(wire, Buffer.concat([handshakeBytes(), frame(4, Buffer.alloc(9))]), 7);
    await new Promise((resolve) => setImmediate(resolve));
    expect(errors[0]?.message).toMatch(/message 4 of 10 bytes, expected 5/);
  });

  it('reports haves in order across chunk boundaries', async () => {
    const wire = new ShoalWire('tcpIncoming');
    const haves: number[] = [];
    wire.on('have', (index: number) => haves.push(index));
    const messages = [3, 1, 4, 1000].map((i) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(i, 0);
      return frame(4, b);
    });
    feed(wire, Buffer.concat([handshakeBytes(), ...messages]), 3);
    await new Promise((resolve) => setImmediate(resolve));
    expect(haves).toEqual([3, 1, 4, 1000]);
  });

  it('receives piece bodies straight into the buffer its sink names', async () => {
    const wire = new ShoalWire('tcpIncoming');
    const target = Buffer.alloc(300_000);
    const asked: Array<[number, number, number]> = [];
    wire.blockSink = (index, offset, length) => {
      asked.push([index, offset, length]);
      return index === 7 ? target.subarray(1000, 1000 + length) : undefined;
    };
    const delivered: Array<{ index: number; block: Uint8Array }> = [];
    wire.on('piece', (index: number, _offset: number, block: Uint8Array) => delivered.push({ index, block }));
    const body = Buffer.alloc(262_144);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) % 256;
    const header = Buffer.alloc(8);
    header.writeUInt32BE(7, 0);
    header.writeUInt32BE(65_536, 4);
    const other = Buffer.alloc(8);
    other.writeUInt32BE(8, 0);
    feed(wire, Buffer.concat([handshakeBytes(), frame(7, Buffer.concat([header, body])), frame(7, Buffer.concat([other, body.subarray(0, 100)]))]), 777);
    await new Promise((resolve) => setImmediate(resolve));
    expect(asked).toEqual([
      [7, 65_536, 262_144],
      [8, 0, 100],
    ]);
    expect(target.subarray(1000, 1000 + body.length)).toEqual(body);
    expect(delivered.map((d) => d.index)).toEqual([7, 8]);
    // The first block is the sink's buffer itself, not a copy.
    expect(delivered[0]!.block.buffer).toBe(target.buffer);
    expect(Buffer.from(delivered[1]!.block)).toEqual(body.subarray(0, 100));
  });

  it.each([
    ['with a block sink', true],
    ['without one', false],
  ])('parses borrowed reads correctly although the read buffer is overwritten after each one (%s)', async (_, sink) => {
    const wire = new ShoalWire('tcpIncoming');
    const target = Buffer.alloc(262_144);
    if (sink) wire.blockSink = (index, _offset, length) => (index === 7 ? target.subarray(0, length) : undefined);
    const bitfields: Uint8Array[] = [];
    const haves: number[] = [];
    const pieces: Array<{ index: number; block: Uint8Array }> = [];
    // Copied when it arrives: the wire goes on to set bits in it as haves come in.
    wire.on('bitfield', (bits: { buffer: Uint8Array }) => bitfields.push(Buffer.from(bits.buffer)));
    wire.on('have', (index: number) => haves.push(index));
    wire.on('piece', (index: number, _offset: number, block: Uint8Array) => {
      if (!sink && index === 7) target.set(block);
      pieces.push({ index, block });
    });
    const bitfield = Buffer.alloc(5000);
    for (let i = 0; i < bitfield.length; i++) bitfield[i] = i % 253;
    const body = Buffer.alloc(262_144);
    for (let i = 0; i < body.length; i++) body[i] = (i * 13) % 256;
    const header = (index: number) => {
      const h = Buffer.alloc(8);
      h.writeUInt32BE(index, 0);
      return h;
    };
    const have = Buffer.alloc(4);
    have.writeUInt32BE(42, 0);
    const stream = Buffer.concat([
      handshakeBytes(),
      frame(5, bitfield),
      frame(7, Buffer.concat([header(7), body])),
      frame(4, have),
      frame(7, Buffer.concat([header(9), body.subarray(0, 3000)])),
    ]);
    // One read buffer, reused and scribbled over after every read, like net's `onread`.
    const readBuffer = Buffer.alloc(8000);
    for (let i = 0; i < stream.length; i += readBuffer.length) {
      const n = stream.copy(readBuffer, 0, i, i + readBuffer.length);
      wire.receive(readBuffer.subarray(0, n), true);
      readBuffer.fill(0xee);
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(bitfields).toHaveLength(1);
    expect(Buffer.from(bitfields[0]!).subarray(0, bitfield.length)).toEqual(bitfield);
    expect(haves).toEqual([42]);
    // What the wire keeps of the peer's pieces is its own copy, intact.
    const expected = Buffer.from(bitfield);
    expected[5]! |= 0x20;
    expect(Buffer.from((wire.peerPieces as unknown as { buffer: Uint8Array }).buffer).subarray(0, bitfield.length)).toEqual(expected);
    expect(pieces.map((p) => p.index)).toEqual([7, 9]);
    expect(target).toEqual(body);
    expect(Buffer.from(pieces[1]!.block)).toEqual(body.subarray(0, 3000));
  });
});

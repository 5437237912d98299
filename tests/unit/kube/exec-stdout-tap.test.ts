import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ExecStdoutTap, parseFrameHeader } from '../../../src/lib/kube/exec-stdout-tap.ts';

/**
 * The tap between an exec's socket and ws, fed by hand: a PassThrough stands for the TLS socket, so each test decides
 * where the reads split the byte stream. What comes out of the tap's readable side is what ws would parse.
 */

const UPGRADE = Buffer.from(
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n',
);

interface FrameOptions {
  fin?: boolean;
  masked?: boolean;
  rsv?: number;
}

/** A server's frame (RFC 6455, 5.2), with the shortest length encoding for its payload. */
function frame(opcode: number, payload: Buffer, { fin = true, masked = false, rsv = 0 }: FrameOptions = {}): Buffer {
  const first = (fin ? 0x80 : 0) | rsv | opcode;
  const maskBit = masked ? 0x80 : 0;
  let header: Buffer;
  if (payload.length < 126) header = Buffer.of(first, maskBit | payload.length);
  else if (payload.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = first;
    header[1] = maskBit | 126;
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = first;
    header[1] = maskBit | 127;
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  // A zero key leaves the payload as it is.
  return Buffer.concat([header, masked ? Buffer.alloc(4) : Buffer.alloc(0), payload]);
}

const channel = (number: number, payload: Buffer | string) =>
  frame(0x2, Buffer.concat([Buffer.of(number), Buffer.from(payload)]));
const bytesOf = (length: number, seed: number) => Buffer.from(Array.from({ length }, (_, i) => (i * 31 + seed) % 251));

interface Observed {
  tap: ExecStdoutTap;
  source: PassThrough;
  stdout: Buffer[];
  forwarded: Buffer[];
}

/** A tap over a PassThrough, read by a listener as ws reads its socket, with stdout attached from the start or not. */
function observe(attachAtOnce = true): Observed {
  const source = new PassThrough();
  const tap = new ExecStdoutTap(source);
  const stdout: Buffer[] = [];
  const forwarded: Buffer[] = [];
  tap.on('data', (chunk: Buffer) => forwarded.push(chunk));
  if (attachAtOnce) tap.attach((chunk) => stdout.push(chunk));
  return { tap, source, stdout, forwarded };
}

/** Writes `stream` to the source in pieces cut at `cuts` (offsets), one read each, then waits for them to pass. */
async function feed(source: PassThrough, stream: Buffer, cuts: number[]): Promise<void> {
  let start = 0;
  for (const cut of [...cuts, stream.length]) {
    if (cut > start) source.write(stream.subarray(start, cut));
    start = Math.max(start, cut);
  }
  await new Promise((resolve) => setImmediate(resolve));
}

// A connection as an export sees it: stdout of every length encoding, stderr, a ping, the status (text and binary
// forms both occur across protocol versions), a close frame; stdout frames of one byte of payload and of none.
const stdoutPayloads = [bytesOf(10, 1), bytesOf(300, 2), bytesOf(70_000, 3), Buffer.alloc(0), bytesOf(1, 4)];
const otherFrames = [
  channel(2, 'pg_dump: warning: something'),
  frame(0x9, Buffer.from('ping')),
  channel(3, '{"status":"Success"}'),
  frame(0x1, Buffer.from('\u0003{"status":"Success"}')),
  frame(0x8, Buffer.of(0x03, 0xe8)),
];
const frames = [
  channel(1, stdoutPayloads[0]!),
  otherFrames[0]!,
  channel(1, stdoutPayloads[1]!),
  otherFrames[1]!,
  channel(1, stdoutPayloads[2]!),
  channel(1, stdoutPayloads[3]!),
  channel(1, stdoutPayloads[4]!),
  otherFrames[2]!,
  otherFrames[3]!,
  otherFrames[4]!,
];
const connection = Buffer.concat([UPGRADE, ...frames]);
const expectedStdout = Buffer.concat(stdoutPayloads);
const expectedForwarded = Buffer.concat([UPGRADE, ...otherFrames]);

describe('the stdout tap on an exec connection', () => {
  it('takes the stdout payloads off the stream and passes every other byte on unchanged (one read)', async () => {
    const { source, stdout, forwarded, tap } = observe();
    await feed(source, connection, []);
    expect(Buffer.concat(stdout).equals(expectedStdout)).toBe(true);
    expect(Buffer.concat(forwarded).equals(expectedForwarded)).toBe(true);
    expect(tap.stdoutBytes).toBe(expectedStdout.length);
    expect(tap.standingAside).toBe(false);
  });

  it('gives the same result wherever the reads split the stream: in the upgrade answer, a header, a length, a channel byte', async () => {
    // Every cut point in the first 400 bytes and around each frame boundary after them: a header or its extended
    // length split between reads, a channel byte alone at the start of a read, the answer's blank line split.
    const boundaries: number[] = [];
    let offset = UPGRADE.length;
    for (const each of frames) {
      boundaries.push(offset);
      offset += each.length;
    }
    const cutPoints = new Set<number>();
    for (let cut = 1; cut < 400; cut += 1) cutPoints.add(cut);
    for (const boundary of boundaries) for (let delta = -3; delta <= 12; delta += 1) cutPoints.add(boundary + delta);
    for (const cut of cutPoints) {
      if (cut <= 0 || cut >= connection.length) continue;
      const { source, stdout, forwarded } = observe();
      await feed(source, connection, [cut, cut + 1, cut + 5]);
      expect(Buffer.concat(stdout).equals(expectedStdout), `cut at ${cut}`).toBe(true);
      expect(Buffer.concat(forwarded).equals(expectedForwarded), `cut at ${cut}`).toBe(true);
    }
  });

  it('keeps the stdout that arrives before attach (with the upgrade answer) and hands it over first, in order', async () => {
    const { source, stdout, tap, forwarded } = observe(false);
    await feed(source, Buffer.concat([UPGRADE, channel(1, 'early '), channel(1, 'bytes')]), []);
    expect(stdout).toEqual([]);
    tap.attach((chunk) => stdout.push(chunk));
    await feed(source, channel(1, ' later'), []);
    expect(Buffer.concat(stdout).toString()).toBe('early bytes later');
    expect(Buffer.concat(forwarded).equals(UPGRADE)).toBe(true);
  });

  it('hands stdout over as views of the reads: no byte is copied', async () => {
    const { source, stdout } = observe();
    // Larger than Buffer's shared pool, so the read and any copy of it would be different memory.
    const read = Buffer.concat([UPGRADE, channel(1, bytesOf(10_000, 7))]);
    await feed(source, read, []);
    expect(stdout).toHaveLength(1);
    // PassThrough passes the written buffer itself through, as a socket hands over each read's own buffer. The
    // payload starts after the answer, the frame's 4-byte header and the channel byte.
    expect(stdout[0]!.buffer).toBe(read.buffer);
    expect(stdout[0]!.byteOffset).toBe(read.byteOffset + UPGRADE.length + 4 + 1);
    expect(stdout[0]!.length).toBe(10_000);
  });

  describe('stands aside, and ws sees every later byte as it arrived', () => {
    const cases: Array<{ name: string; oddFrame: Buffer }> = [
      {
        name: 'a fragmented stdout message (binary frame without FIN)',
        oddFrame: frame(0x2, Buffer.of(1, 1, 2), { fin: false }),
      },
      { name: 'a continuation frame', oddFrame: frame(0x0, Buffer.of(1, 2)) },
      { name: 'a masked frame (a server must not send one)', oddFrame: frame(0x2, Buffer.of(1, 9), { masked: true }) },
      { name: 'a frame with extension bits set', oddFrame: frame(0x2, Buffer.of(1, 9), { rsv: 0x40 }) },
    ];
    for (const { name, oddFrame } of cases) {
      it(`at ${name}`, async () => {
        const { source, stdout, forwarded, tap } = observe();
        const before = channel(1, 'taken');
        const after = channel(1, 'not taken');
        await feed(source, Buffer.concat([UPGRADE, before, oddFrame, after]), [UPGRADE.length + before.length + 1]);
        expect(Buffer.concat(stdout).toString()).toBe('taken');
        expect(Buffer.concat(forwarded).equals(Buffer.concat([UPGRADE, oddFrame, after]))).toBe(true);
        expect(tap.standingAside).toBe(true);
      });
    }

    it('at a length past 2^53', async () => {
      const { source, stdout, forwarded, tap } = observe();
      const huge = Buffer.of(0x82, 127, 0x00, 0x40, 0, 0, 0, 0, 0, 0, 1, 1);
      await feed(source, Buffer.concat([UPGRADE, huge]), []);
      expect(stdout).toEqual([]);
      expect(Buffer.concat(forwarded).equals(Buffer.concat([UPGRADE, huge]))).toBe(true);
      expect(tap.standingAside).toBe(true);
    });

    it('from the start when the answer is not 101 (a 404 with a body that looks like frames)', async () => {
      const { source, stdout, forwarded, tap } = observe();
      const answer = Buffer.concat([
        Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\n\r\n'),
        channel(1, 'not a frame'),
      ]);
      await feed(source, answer, [20]);
      expect(stdout).toEqual([]);
      expect(Buffer.concat(forwarded).equals(answer)).toBe(true);
      expect(tap.standingAside).toBe(true);
    });
  });

  it('stops reading the socket while held or paused, each on its own, and reads on when neither is', async () => {
    const { source, stdout, tap } = observe();
    await feed(source, UPGRADE, []);
    tap.hold();
    await feed(source, channel(1, 'a'), []);
    expect(stdout).toEqual([]);
    tap.pause();
    tap.release();
    await feed(source, channel(1, 'b'), []);
    expect(stdout).toEqual([]);
    tap.hold();
    tap.resume();
    await feed(source, Buffer.alloc(0), []);
    expect(stdout).toEqual([]);
    tap.release();
    await feed(source, Buffer.alloc(0), []);
    expect(Buffer.concat(stdout).toString()).toBe('ab');
  });

  it('passes writes to the socket, a frame written corked as one write of the socket', async () => {
    const source = new PassThrough();
    const tap = new ExecStdoutTap(source);
    const written: Buffer[] = [];
    const original = source.write.bind(source);
    let corkedWrites = 0;
    source.write = ((chunk: Buffer, ...rest: never[]) => {
      if (source.writableCorked > 0) corkedWrites += 1;
      written.push(chunk);
      return original(chunk, ...rest);
    }) as typeof source.write;
    await new Promise<void>((resolve) => {
      tap.cork();
      tap.write(Buffer.of(0x82, 2));
      tap.write(Buffer.of(0, 7), () => resolve());
      tap.uncork();
    });
    expect(Buffer.concat(written)).toEqual(Buffer.of(0x82, 2, 0, 7));
    expect(corkedWrites).toBe(2);
  });

  it('ends and is destroyed with its socket, and reports the socket\u2019s error', async () => {
    const { source, tap } = observe();
    const closed = new Promise((resolve) => tap.once('close', resolve));
    const failed = new Promise<Error>((resolve) => tap.once('error', resolve));
    source.destroy(new Error('ECONNRESET'));
    expect((await failed).message).toBe('ECONNRESET');
    await closed;
    expect(tap.destroyed).toBe(true);
  });
});

describe('parseFrameHeader', () => {
  it('reads the three length encodings and says when more bytes are needed', () => {
    expect(parseFrameHeader(Buffer.of(0x82))).toBe('incomplete');
    expect(parseFrameHeader(Buffer.of(0x82, 126, 1))).toBe('incomplete');
    expect(parseFrameHeader(Buffer.of(0x82, 5))).toMatchObject({
      fin: true,
      opcode: 2,
      payloadBytes: 5,
      headerBytes: 2,
    });
    expect(parseFrameHeader(Buffer.of(0x02, 126, 0x01, 0x00))).toMatchObject({
      fin: false,
      payloadBytes: 256,
      headerBytes: 4,
    });
    const long = Buffer.of(0x82, 127, 0, 0, 0, 1, 0, 0, 0, 5);
    expect(parseFrameHeader(long)).toMatchObject({ payloadBytes: 2 ** 32 + 5, headerBytes: 10, tooLong: false });
    expect(parseFrameHeader(Buffer.of(0x82, 0x85, 0, 0, 0))).toBe('incomplete');
    expect(parseFrameHeader(Buffer.of(0x82, 0x85, 0, 0, 0, 0))).toMatchObject({ masked: true, headerBytes: 6 });
  });
});

import { Duplex } from 'node:stream';

/** The exec protocol's stdout channel: the first payload byte of each stdout message. */
const STDOUT_CHANNEL = 1;
const OPCODE_CONTINUATION = 0x0;
const OPCODE_BINARY = 0x2;
/** A frame header is at most 14 bytes: 2, 8 of extended length, 4 of masking key (which a server never sends). */
const MAX_HEADER_BYTES = 14;
const END_OF_HEAD = Buffer.from('\r\n\r\n');
/** An upgrade answer longer than this is not an API server's: the tap stands aside (ws judges it). */
const MAX_HEAD_BYTES = 64 * 1024;
const EMPTY = Buffer.alloc(0);

type Phase = 'head' | 'frames' | 'aside';

/** What the connection is inside the current frame: still in its header, or in a payload kept, dropped or forwarded. */
type Frame =
  | { kind: 'header' }
  | { kind: 'channel'; header: Buffer; payloadBytes: number }
  | { kind: 'stdout'; remaining: number }
  | { kind: 'forward'; remaining: number };

/** Between frames (it carries nothing, so one object serves every frame). */
const AT_HEADER: Frame = { kind: 'header' };

/**
 * The connection of an exec, between its TLS (or TCP) socket and ws: it takes each stdout frame's payload off the
 * byte stream as it arrives and hands it to the export as views of the socket's own reads, and passes every other
 * byte on to ws unchanged (the upgrade answer, stderr, the exit status, ping, close).
 *
 * Through ws, a 32 KiB stdout frame that arrived in two or three TLS records (16 KiB each) was first copied into a
 * new buffer of its own (ws joins a frame's pieces before it emits it), then wrapped for client-node, sliced past its
 * channel byte and written through a stream of client-node's: about 0.15 s of CPU and a buffer per frame per GiB here.
 * Here the bytes are never copied: the views go straight to the export's destination.
 *
 * It stands aside (every later byte goes to ws, which then delivers stdout through client-node as before) as soon as
 * the connection is not what it expects: an answer other than 101, a masked frame or one with extension bits (ws
 * rejects those and closes the connection), a fragmented message (a binary frame without FIN, or a continuation), or
 * a length past 2^53. Nothing is lost when it does: what it took before was whole stdout frames, in order.
 *
 * Stdout that arrives before `attach` (in the same reads as the upgrade answer) is kept, as views, and handed over at
 * `attach`. `hold` stops reading the socket until `release` (the export's destination is full); ws's own `pause`
 * and `resume` do too, independently.
 */
export class ExecStdoutTap extends Duplex {
  private phase: Phase = 'head';
  private head: Buffer[] = [];
  private frame: Frame = AT_HEADER;
  /** The bytes of a frame header that arrived split between reads (at most {@link MAX_HEADER_BYTES}). */
  private partialHeader: Buffer = EMPTY;
  private onStdout: ((chunk: Buffer) => void) | undefined;
  private early: Buffer[] = [];
  private held = false;
  private readerPaused = false;
  /** Stdout bytes taken off the connection (for tests and benchmarks). */
  stdoutBytes = 0;

  constructor(private readonly socket: Duplex) {
    super({ allowHalfOpen: false });
    socket.on('data', (chunk: Buffer) => this.takeRead(chunk));
    socket.on('end', () => this.push(null));
    socket.on('error', (error) => this.destroy(error));
    socket.on('close', () => this.destroy());
    socket.on('timeout', () => this.emit('timeout'));
  }

  /** From now on, stdout payloads go to `onStdout` (first whatever arrived before), synchronously, in order. */
  attach(onStdout: (chunk: Buffer) => void): void {
    this.onStdout = onStdout;
    const early = this.early;
    this.early = [];
    for (const chunk of early) onStdout(chunk);
  }

  /** Stops reading the connection until {@link release} (backpressure from the export's destination). */
  hold(): void {
    this.held = true;
    this.socket.pause();
  }

  release(): void {
    this.held = false;
    if (!this.readerPaused) this.socket.resume();
  }

  /** Whether the tap has stepped aside and ws now sees every byte (for tests). */
  get standingAside(): boolean {
    return this.phase === 'aside';
  }

  override pause(): this {
    this.readerPaused = true;
    this.socket.pause();
    return super.pause();
  }

  override resume(): this {
    this.readerPaused = false;
    if (!this.held) this.socket.resume();
    return super.resume();
  }

  setNoDelay(noDelay?: boolean): this {
    (this.socket as Duplex & { setNoDelay?: (value?: boolean) => unknown }).setNoDelay?.(noDelay);
    return this;
  }

  setTimeout(timeout: number, callback?: () => void): this {
    (this.socket as Duplex & { setTimeout?: (ms: number) => unknown }).setTimeout?.(timeout);
    if (callback) this.once('timeout', callback);
    return this;
  }

  override _read(): void {
    // Reading is driven by the socket's 'data' events; pause() and resume() above start and stop them.
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.socket.write(chunk, encoding, callback);
  }

  /** A frame's header and payload (ws writes them corked) go to the socket corked too: one TLS write, not two. */
  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void,
  ): void {
    this.socket.cork();
    chunks.forEach(({ chunk, encoding }, index) =>
      this.socket.write(chunk, encoding, index === chunks.length - 1 ? callback : undefined),
    );
    this.socket.uncork();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }

  private takeRead(chunk: Buffer): void {
    if (this.phase === 'aside') return void this.push(chunk);
    let offset = 0;
    if (this.phase === 'head') {
      offset = this.takeHead(chunk);
      if (this.phase === 'head') return;
    }
    while (offset < chunk.length && (this.phase as Phase) === 'frames') offset = this.takeFrames(chunk, offset);
    if (offset < chunk.length) this.push(chunk.subarray(offset));
  }

  /** Passes the upgrade answer on; returns where the first frame starts in `chunk`, once the answer is complete. */
  private takeHead(chunk: Buffer): number {
    this.head.push(chunk);
    const head = Buffer.concat(this.head);
    const end = head.indexOf(END_OF_HEAD);
    if (end === -1) {
      this.push(chunk);
      if (head.length > MAX_HEAD_BYTES) this.standAside();
      return chunk.length;
    }
    const headEnd = end + END_OF_HEAD.length;
    const inThisChunk = chunk.length - (head.length - headEnd);
    this.head = [];
    this.push(chunk.subarray(0, inThisChunk));
    if (/^HTTP\/1\.[01] 101 /.test(head.subarray(0, head.indexOf('\r\n')).toString('latin1'))) this.phase = 'frames';
    else this.standAside();
    return inThisChunk;
  }

  /** Takes what it can of the frame under way from `chunk` at `offset`; returns the offset after it. */
  private takeFrames(chunk: Buffer, offset: number): number {
    const frame = this.frame;
    if (frame.kind === 'stdout' || frame.kind === 'forward') {
      const end = Math.min(chunk.length, offset + frame.remaining);
      frame.remaining -= end - offset;
      if (frame.kind === 'stdout') this.deliver(chunk.subarray(offset, end));
      else this.push(chunk.subarray(offset, end));
      if (frame.remaining === 0) this.frame = AT_HEADER;
      return end;
    }
    if (frame.kind === 'channel') return this.startBinary(chunk, offset, frame.header, frame.payloadBytes);
    return this.takeHeader(chunk, offset);
  }

  /**
   * A frame's header, at `offset` (or partly in the reads before). Views are kept and forwarded as they are: a socket
   * hands every read over in a buffer of its own, which it never reuses.
   */
  private takeHeader(chunk: Buffer, offset: number): number {
    const partial = this.partialHeader;
    const bytes =
      partial.length > 0
        ? Buffer.concat([partial, chunk.subarray(offset, offset + MAX_HEADER_BYTES)])
        : chunk.subarray(offset, offset + MAX_HEADER_BYTES);
    const header = parseFrameHeader(bytes);
    if (header === 'incomplete') {
      this.partialHeader = bytes;
      return chunk.length;
    }
    this.partialHeader = EMPTY;
    const headerBytes = bytes.subarray(0, header.headerBytes);
    const payloadAt = offset + header.headerBytes - partial.length;
    if (
      header.tooLong ||
      header.masked ||
      header.rsv !== 0 ||
      header.opcode === OPCODE_CONTINUATION ||
      (header.opcode === OPCODE_BINARY && !header.fin)
    ) {
      this.standAside();
      this.push(headerBytes);
      return payloadAt;
    }
    if (header.opcode === OPCODE_BINARY && header.payloadBytes > 0) {
      if (payloadAt < chunk.length) return this.startBinary(chunk, payloadAt, headerBytes, header.payloadBytes);
      this.frame = { kind: 'channel', header: headerBytes, payloadBytes: header.payloadBytes };
      return payloadAt;
    }
    this.push(headerBytes);
    this.frame = header.payloadBytes > 0 ? { kind: 'forward', remaining: header.payloadBytes } : AT_HEADER;
    return payloadAt;
  }

  /** A binary message's payload starts at `offset`: its first byte says the channel. */
  private startBinary(chunk: Buffer, offset: number, header: Buffer, payloadBytes: number): number {
    if (chunk[offset] !== STDOUT_CHANNEL) {
      this.push(header);
      this.frame = { kind: 'forward', remaining: payloadBytes };
      return offset;
    }
    this.frame = payloadBytes > 1 ? { kind: 'stdout', remaining: payloadBytes - 1 } : AT_HEADER;
    return offset + 1;
  }

  private deliver(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.stdoutBytes += chunk.length;
    if (this.onStdout) this.onStdout(chunk);
    else this.early.push(chunk);
  }

  private standAside(): void {
    this.phase = 'aside';
    this.head = [];
  }
}

interface FrameHeader {
  fin: boolean;
  /** The length does not fit in a safe integer (`payloadBytes` is then meaningless). */
  tooLong: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payloadBytes: number;
  headerBytes: number;
}

/** A WebSocket frame header at the start of `bytes` (RFC 6455, 5.2); 'incomplete' when more bytes are needed. */
export function parseFrameHeader(bytes: Buffer): FrameHeader | 'incomplete' {
  if (bytes.length < 2) return 'incomplete';
  const first = bytes[0]!;
  const second = bytes[1]!;
  const masked = (second & 0x80) !== 0;
  const shortLength = second & 0x7f;
  const lengthBytes = shortLength === 126 ? 2 : shortLength === 127 ? 8 : 0;
  const headerBytes = 2 + lengthBytes + (masked ? 4 : 0);
  if (bytes.length < headerBytes) return 'incomplete';
  let payloadBytes = shortLength;
  let tooLong = false;
  if (lengthBytes === 2) payloadBytes = bytes.readUInt16BE(2);
  if (lengthBytes === 8) {
    // The high 32 bits, then the low: a length up to 2^53 - 1 is exact.
    const high = bytes.readUInt32BE(2);
    tooLong = high > 0x1fffff;
    payloadBytes = high * 0x100000000 + bytes.readUInt32BE(6);
  }
  const fin = (first & 0x80) !== 0;
  return { fin, tooLong, rsv: first & 0x70, opcode: first & 0x0f, masked, payloadBytes, headerBytes };
}

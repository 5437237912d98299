/**
 * CRC-64/Jones, the checksum Redis appends to every RDB file (reflected, polynomial 0xad93d23594c935a9, initial value
 * and final xor 0; check value of "123456789" is 0xe9c6d914c4b8d9ca). Incremental, so a file of any size is checked
 * as a stream. The 64-bit state is kept as two 32-bit halves: BigInt arithmetic per byte would run at a few MB/s.
 */
const REFLECTED_POLYNOMIAL = 0x95ac9329ac4bc9b5n;
const TABLE_HIGH = new Uint32Array(256);
const TABLE_LOW = new Uint32Array(256);
for (let index = 0; index < 256; index += 1) {
  let crc = BigInt(index);
  for (let bit = 0; bit < 8; bit += 1) crc = crc & 1n ? (crc >> 1n) ^ REFLECTED_POLYNOMIAL : crc >> 1n;
  TABLE_HIGH[index] = Number(crc >> 32n);
  TABLE_LOW[index] = Number(crc & 0xffffffffn);
}

/** A running CRC-64/Jones; `update` with each chunk in order, then read `value`. */
export class Crc64 {
  private high = 0;
  private low = 0;

  update(bytes: Uint8Array): this {
    const tableHigh = TABLE_HIGH;
    const tableLow = TABLE_LOW;
    let high = this.high | 0;
    let low = this.low | 0;
    for (let i = 0, n = bytes.length; i < n; i += 1) {
      const index = (low ^ (bytes[i] as number)) & 0xff;
      low = ((low >>> 8) | (high << 24)) ^ (tableLow[index] as number);
      high = (high >>> 8) ^ (tableHigh[index] as number);
    }
    this.high = high >>> 0;
    this.low = low >>> 0;
    return this;
  }

  /** The checksum so far, as an unsigned 64-bit value. */
  get value(): bigint {
    return (BigInt(this.high) << 32n) | BigInt(this.low);
  }
}

import { describe, expect, it } from 'vitest';
import { choosePartSize, MAX_PARTS, MIN_PART_SIZE_BYTES } from '../../../src/lib/offsite/s3-destination.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('choosePartSize', () => {
  it.each([
    [1n, 8 * MiB, 8 * MiB],
    [BigInt(50 * GiB), 8 * MiB, 8 * MiB],
    [BigInt(100 * GiB), 8 * MiB, Math.ceil((100 * GiB) / MAX_PARTS)],
    [BigInt(5 * 1024 * GiB), 8 * MiB, Math.ceil((5 * 1024 * GiB) / MAX_PARTS)],
    [BigInt(12 * MiB), 1 * MiB, MIN_PART_SIZE_BYTES],
  ])('a %s-byte file with %i preferred uses %i-byte parts', (size, preferred, expected) => {
    const partSize = choosePartSize(size, preferred);
    expect(partSize).toBe(expected);
    expect(BigInt(partSize) * BigInt(MAX_PARTS) >= size).toBe(true);
  });
});

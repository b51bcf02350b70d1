/**
 * IEEE 754 half precision for gradient blocks on the wire (BigDL's FP16 compression): float32 →
 * float16 with round-to-nearest-even, overflow to ±Infinity, subnormals kept, NaN kept.
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toHalf(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    if (e < -10) return sign; // underflows to zero
    mant |= 0x800000; // implicit leading one
    const shift = 14 - e;
    const half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (rest > mid || (rest === mid && (half & 1)) ? half + 1 : half);
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // round to nearest even; a carry into the exponent is the correct rounding up
  return sign | (rest > 0x1000 || (rest === 0x1000 && (half & 1)) ? half + 1 : half);
}

export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Encodes src[start..end) into a new Uint16Array. */
export function encodeHalf(src: Float32Array, start = 0, end = src.length): Uint16Array {
  const out = new Uint16Array(end - start);
  for (let i = start; i < end; i++) out[i - start] = toHalf(src[i]);
  return out;
}

/** dst[i] += scale * half[i] (decode and accumulate in one pass). */
export function addHalf(dst: Float32Array, half: Uint16Array, scale = 1): void {
  if (dst.length !== half.length) throw new RangeError(`addHalf: ${half.length} halves for ${dst.length} floats`);
  for (let i = 0; i < half.length; i++) dst[i] += scale * fromHalf(half[i]);
}

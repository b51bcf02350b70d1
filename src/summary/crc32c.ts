/**
 * CRC-32C (Castagnoli; reflected polynomial 0x82F63B78), table-driven one byte at a time, and
 * the masked form TFRecord framing stores. `crc32c('123456789')` is 0xE3069283.
 */

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32C of `data` (a string is taken as UTF-8). `crc` continues a previous result, so
 * crc32c(b, crc32c(a)) === crc32c(a + b).
 */
export function crc32c(data: Uint8Array | string, crc = 0): number {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

const MASK_DELTA = 0xa282ead8;

/** TFRecord's masked CRC: rotate right by 15 bits, add 0xa282ead8 (mod 2^32). */
export function maskCrc(crc: number): number {
  return (((crc >>> 15) | (crc << 17)) + MASK_DELTA) >>> 0;
}

export function unmaskCrc(masked: number): number {
  const rot = (masked - MASK_DELTA) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}

export function maskedCrc32c(data: Uint8Array): number {
  return maskCrc(crc32c(data));
}

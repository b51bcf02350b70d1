import { RandomGenerator } from '../tensor/random.js';

/**
 * A generator for one (seed, epoch, purpose) triple. Seeded data stages draw from a fresh generator
 * per epoch instead of one long-lived stream, so epoch n gives the same numbers whether or not
 * epochs 0..n-1 ran first, and a shuffle and a random crop given the same seed are not correlated.
 */
export function epochGenerator(seed: number, epoch: number, purpose: string): RandomGenerator {
  if (!Number.isFinite(seed)) throw new RangeError(`${purpose}: seed must be a finite number, got ${seed}`);
  if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`${purpose}: epoch must be a non-negative integer, got ${epoch}`);
  let h = 0x811c9dc5;
  for (let i = 0; i < purpose.length; i++) h = Math.imul(h ^ purpose.charCodeAt(i), 0x01000193);
  h = mix(h ^ (Math.trunc(seed) >>> 0));
  h = mix(h ^ (Math.trunc(seed / 4294967296) >>> 0));
  h = mix(h ^ (epoch >>> 0));
  return new RandomGenerator(h >>> 0);
}

function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

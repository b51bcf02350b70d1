/** Argument checks shared by the model builders. */

export function requirePositiveInt(model: string, name: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`${model}: ${name} must be a positive integer, got ${String(v)}`);
}

export function requireProbability(model: string, name: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw new RangeError(`${model}: ${name} must be in [0, 1), got ${String(v)}`);
}

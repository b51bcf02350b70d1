/** Number options for the CLI: a bad value is a usage error naming the option. */
import { CliUsageError } from './datasets.js';

export function num(flag: string, value: string, min = -Infinity): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min) throw new CliUsageError(`${flag} must be a number${min > -Infinity ? ` >= ${min}` : ''}, got '${value}'`);
  return n;
}

export function positive(flag: string, value: string): number {
  const n = num(flag, value);
  if (!(n > 0)) throw new CliUsageError(`${flag} must be positive, got '${value}'`);
  return n;
}

export function int(flag: string, value: string, min: number): number {
  const n = num(flag, value, min);
  if (!Number.isInteger(n)) throw new CliUsageError(`${flag} must be an integer >= ${min}, got '${value}'`);
  return n;
}

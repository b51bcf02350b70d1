/**
 * Waiting for blocks another task writes: group scheduling's data-plane dependencies (Drizzle's
 * pre-scheduled tasks wait for their inputs instead of the driver launching them when ready).
 * Polls with a short, growing interval: the block stores have no notifications, and a poll is one
 * round trip (a file stat or a Redis MGET).
 */
import type { BlockStore } from './cluster/types.js';

export class BlockWaitTimeout extends Error {}

/**
 * Resolves to the blocks of `keys` once all exist; rejects after `timeoutMs` naming what is still
 * missing (`describe(i)` says what key i is, for the message).
 */
export async function waitForBlocks(blocks: BlockStore, keys: string[], timeoutMs: number, describe: (i: number) => string): Promise<Uint8Array[]> {
  const got: (Uint8Array | undefined)[] = new Array(keys.length);
  let missing = keys.map((_, i) => i);
  const deadline = Date.now() + timeoutMs;
  let pause = 0.2;
  for (;;) {
    const found = await blocks.getMany(missing.map((i) => keys[i]));
    missing = missing.filter((i, k) => {
      got[i] = found[k];
      return found[k] === undefined;
    });
    if (missing.length === 0) return got as Uint8Array[];
    if (Date.now() > deadline) {
      const list = missing.slice(0, 4).map(describe).join(', ') + (missing.length > 4 ? ` and ${missing.length - 4} more` : '');
      throw new BlockWaitTimeout(`waited ${(timeoutMs / 1000).toFixed(0)} s for ${list}: the task that writes them did not run or died and was not rerun in time ` +
        '(raise groupTimeoutMs if workers are this slow, or check the workers)');
    }
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 1.5, 20);
  }
}

// Shared by the source tests: kill the worker holding a cached partition and check that
// collecting again gives the same rows, the lost partitions recomputed on another worker.
import assert from 'node:assert/strict';
import type { LocalCluster } from '../../src/engine/cluster/local.js';
import type { PartitionedDataset } from '../../src/engine/dataset.js';

export async function until(cond: () => Promise<boolean>, what: string, ms = 10000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * `ds` is cached and maps every row to { ...row, pid } (the worker that computed it). Returns the
 * rows of the first collect, for checks of their own.
 */
export async function checkRecomputedAfterKill<Row extends { pid: number }>(cluster: LocalCluster, ds: PartitionedDataset<Row>): Promise<Row[]> {
  const first = await ds.collect();
  const locations = await ds.cacheLocations();
  const sizes = await ds.partitionSizes();
  const holder = locations[0]!;
  const victimPid = (await cluster.workers()).find((w) => w.id === holder)!.pid;
  process.kill(victimPid, 'SIGKILL');
  await until(async () => !(await cluster.workers()).some((w) => w.pid === victimPid), 'the death to be noticed');
  const again = await ds.collect();
  const strip = (rows: Row[]) => rows.map(({ pid, ...r }) => r);
  assert.deepEqual(strip(again), strip(first), 'the same rows in the same order, recomputed or cached');
  let start = 0;
  for (let p = 0; p < sizes.length; p++) {
    const now = again.slice(start, start + sizes[p]);
    start += sizes[p];
    if (locations[p] === holder) assert.ok(now.every((r) => r.pid !== victimPid), `partition ${p} was recomputed elsewhere`);
  }
  return first;
}

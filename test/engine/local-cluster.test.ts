// LocalCluster (local[N]): real worker processes, the file block store, retries, a worker killed
// with SIGKILL in the middle of a stage, task timeouts, per-worker caches, and a clean close().
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster, TaskFailedError, parseLocalMaster } from '../../src/engine/cluster/local.js';
import { FileBlockStore } from '../../src/engine/cluster/block-store-file.js';
import { refOf } from '../../src/engine/cluster/ship.js';
import type { Json, TaskSpec } from '../../src/engine/cluster/types.js';
import { fns } from './fns.js';

const tasks = (stage: string, fn: unknown, n: number, args: Json = null): TaskSpec[] =>
  Array.from({ length: n }, (_, p) => ({ id: `${stage}/t${p}`, fn: refOf(fn), partition: p, args }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('parseLocalMaster', () => {
  it('reads local, local[N], local[*] and rejects the rest', () => {
    assert.equal(parseLocalMaster('local'), 1);
    assert.equal(parseLocalMaster('local[3]'), 3);
    assert.ok(parseLocalMaster('local[*]')! >= 1);
    assert.equal(parseLocalMaster('redis://x:6379'), undefined);
    assert.throws(() => parseLocalMaster('local[0]'), /at least 1/);
  });
});

describe('FileBlockStore', () => {
  let store: FileBlockStore;
  before(() => {
    store = FileBlockStore.createTemp();
  });
  after(() => store.destroy());

  it('puts, gets, deletes and deletes by prefix, long keys included', async () => {
    const long = 'job/' + 'x'.repeat(300);
    await store.put('job/a', new Uint8Array([1, 2, 3]));
    await store.put('job/b/../c?', new Uint8Array([4]));
    await store.put(long, new Uint8Array([5, 6]));
    await store.put('other/a', new Uint8Array([7]));
    assert.deepEqual([...(await store.get('job/a'))!], [1, 2, 3]);
    assert.deepEqual((await store.getMany(['job/b/../c?', long, 'nope'])).map((v) => v && [...v]), [[4], [5, 6], undefined]);
    await store.put('job/a', new Uint8Array([9])); // overwrite
    assert.deepEqual([...(await store.get('job/a'))!], [9]);
    await store.delete(['job/a', 'missing']);
    assert.equal(await store.get('job/a'), undefined);
    await store.deletePrefix('job/');
    assert.deepEqual(await store.getMany(['job/b/../c?', long]), [undefined, undefined]);
    assert.deepEqual([...(await store.get('other/a'))!], [7]);
    await assert.rejects(store.put('', new Uint8Array(1)), /non-empty string/);
    await assert.rejects(store.put('k', [1, 2] as unknown as Uint8Array), /must be a Uint8Array, got Array/);
  });
});

describe('LocalCluster', () => {
  let cluster: LocalCluster;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bigdl-local-'));
    cluster = await LocalCluster.start({ workers: 3 });
  });
  after(async () => {
    const pids = (await cluster.workers()).map((w) => w.pid);
    await cluster.close();
    assert.ok(pids.every((pid) => !alive(pid)), 'every worker process is gone after close()');
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a stage on 3 worker processes; results come back in task order', async () => {
    const ws = await cluster.workers();
    assert.equal(ws.length, 3);
    assert.equal(new Set(ws.map((w) => w.pid)).size, 3);
    assert.ok(ws.every((w) => w.pid !== process.pid && alive(w.pid)));
    assert.equal(await cluster.totalCores(), 3);
    assert.equal(cluster.master, 'local[3]');
    const res = await cluster.runStage({ id: 'who', tasks: tasks('who', fns.whoAmI, 9) });
    assert.deepEqual(res.map((r) => (r.value as { partition: number }).partition), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    for (const r of res) {
      assert.equal(r.attempts, 1);
      assert.equal((r.value as { worker: string }).worker, r.worker);
      assert.ok(ws.some((w) => w.id === r.worker && w.pid === (r.value as { pid: number }).pid));
    }
  });

  it('keeps each worker\'s cache between tasks', async () => {
    const res1 = await cluster.runStage({ id: 'calls1', tasks: tasks('calls1', fns.countCalls, 6) });
    const res2 = await cluster.runStage({ id: 'calls2', tasks: tasks('calls2', fns.countCalls, 6) });
    const byWorker = new Map<string, number>();
    for (const r of [...res1, ...res2]) {
      const { worker, calls } = r.value as { worker: string; calls: number };
      assert.equal(calls, (byWorker.get(worker) ?? 0) + 1, `worker ${worker} counts its own calls`);
      byWorker.set(worker, calls);
    }
    assert.equal([...byWorker.values()].reduce((a, b) => a + b, 0), 12);
  });

  it('runs a task on its preferred worker', async () => {
    const ids = (await cluster.workers()).map((w) => w.id).reverse();
    const ts = tasks('pref', fns.whoAmI, 3).map((t, i) => ({ ...t, preferredWorker: ids[i] }));
    const res = await cluster.runStage({ id: 'pref', tasks: ts });
    assert.deepEqual(res.map((r) => r.worker), ids);
  });

  it('retries a failed task (on another worker) and reports the attempts', async () => {
    const res = await cluster.runStage({ id: 'flaky', tasks: tasks('flaky', fns.flakyTask, 2, { dir }) });
    assert.deepEqual(res.map((r) => r.value), [0, 1]);
    assert.deepEqual(res.map((r) => r.attempts), [2, 2]);
  });

  it('fails the stage after maxAttempts with the task id, the worker and the task\'s message', async () => {
    const err = await cluster.runStage({ id: 'bad', tasks: tasks('bad', fns.failTask, 2, { why: 'no disk' }), maxAttempts: 2 }).then(
      () => assert.fail('the stage should fail'), (e: unknown) => e as TaskFailedError);
    assert.ok(err instanceof TaskFailedError);
    assert.match(err.message, /^stage bad: task bad\/t[01] failed 2 times; last attempt on worker local-\d+: task [01] refuses: no disk$/);
    assert.equal(err.attempts, 2);
    assert.match(err.stack!, /on worker local-\d+/);
    // the cluster is still usable
    assert.equal((await cluster.runStage({ id: 'after-bad', tasks: tasks('after-bad', fns.whoAmI, 3) })).length, 3);
  });

  it('reruns the task of a worker killed with SIGKILL mid-stage and replaces the worker', async () => {
    const before = await cluster.workers();
    const lost0 = cluster.stats.workersLost;
    const stage = cluster.runStage({ id: 'kill', tasks: tasks('kill', fns.sleepTask, 6, { ms: 300 }) });
    await until(() => cluster.running().some((r) => r.stageId === 'kill'), 'a running task');
    const victim = cluster.running().find((r) => r.stageId === 'kill')!;
    process.kill(victim.pid, 'SIGKILL');
    const res = await stage;
    assert.deepEqual(res.map((r) => (r.value as { partition: number }).partition), [0, 1, 2, 3, 4, 5]);
    const rerun = res.find((r) => r.taskId === victim.taskId)!;
    assert.equal(rerun.attempts, 2);
    assert.notEqual(rerun.worker, victim.worker);
    assert.ok(res.every((r) => (r.value as { pid: number }).pid !== victim.pid));
    assert.equal(cluster.stats.workersLost, lost0 + 1);
    await until(async () => (await cluster.workers()).length === 3, 'a replacement worker');
    const after = await cluster.workers();
    assert.ok(!after.some((w) => w.pid === victim.pid));
    assert.equal(after.filter((w) => !before.some((b) => b.id === w.id)).length, 1, 'one new worker');
  });

  it('kills and retries a task that runs past taskTimeoutMs, then fails with a timeout message', async () => {
    const err = await cluster.runStage({ id: 'hang', tasks: tasks('hang', fns.hangTask, 1), taskTimeoutMs: 200, maxAttempts: 2 }).then(
      () => assert.fail('the stage should fail'), (e: Error) => e);
    assert.match(err.message, /task hang\/t0 failed 2 times; .*timed out after 200 ms/);
    await until(async () => (await cluster.workers()).length === 3, 'replacement workers');
  });

  it('shares the block store between the driver and the workers', async () => {
    const big = new Uint8Array(3 << 20).map((_, i) => i % 251);
    await cluster.blocks.put('t/in', big);
    const res = await cluster.runStage({ id: 'blk', tasks: [{ id: 'blk/0', fn: refOf(fns.blockTask), partition: 0, args: { inKey: 't/in', outKey: 't/out' } }] });
    assert.equal(res[0].value, big.length);
    const out = (await cluster.blocks.get('t/out'))!;
    assert.equal(out.length, big.length);
    assert.ok(out.every((v, i) => v === ((big[i] + 1) & 255)));
    await cluster.blocks.deletePrefix('t/');
    assert.equal(await cluster.blocks.get('t/in'), undefined);
  });

  it('refuses malformed stages at once', async () => {
    await assert.rejects(cluster.runStage({ id: 's', tasks: [{ id: 'a', fn: refOf(fns.whoAmI), partition: 0, args: null }, { id: 'a', fn: refOf(fns.whoAmI), partition: 1, args: null }] }), /task id a appears twice/);
    await assert.rejects(cluster.runStage({ id: 's', tasks: tasks('s', fns.whoAmI, 1), maxAttempts: 0 }), /maxAttempts must be a positive integer/);
    assert.deepEqual(await cluster.runStage({ id: 'empty', tasks: [] }), []);
  });
});

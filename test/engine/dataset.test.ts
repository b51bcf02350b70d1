// Partitioned datasets on local[3]: sources (parallelize, range, textFile over MovieLens, csvFile
// over Banking77), transform semantics, actions, shippability errors, task errors, and recovery
// from a worker killed mid-stage and from the loss of a cached partition's holder.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/package-root.js';
import { Engine } from '../../src/engine/engine.js';
import type { EngineContext } from '../../src/engine/context.js';
import type { LocalCluster } from '../../src/engine/cluster/local.js';
import { readLines } from '../../src/data/text.js';
import { readCsv } from '../../src/data/csv.js';
import { readTextSplit } from '../../src/engine/partition-task.js';
import { resolveFiles, shareParts, textSplits } from '../../src/engine/sources.js';
import { fns } from './fns.js';

const DATA = join(packageRoot(), '..', 'shared', 'data');
const RATINGS = join(DATA, 'movielens', 'ml-latest-small', 'ratings.csv');
const BANKING = join(DATA, 'text', 'banking77');

async function collectIt<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sorted = (xs: number[]) => xs.slice().sort((a, b) => a - b);

describe('byte-range text splits (no cluster)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bigdl-splits-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('every cut of a file gives back exactly its lines: CRLF, BOM, empty lines, multi-byte text, no final newline', async () => {
    const cases = {
      'a.txt': '\ufeffhead\r\nélan vital\r\n\r\n日本語のテキスト\nlast line without newline',
      'b.txt': 'x\n\n\ny\n',
      'c.txt': '',
      'd.txt': 'one long line '.repeat(5000) + '\nshort\n',
    };
    for (const [name, text] of Object.entries(cases)) {
      const path = join(dir, name);
      writeFileSync(path, text);
      const expected = await collectIt(readLines(path));
      for (const parts of [1, 2, 3, 5, 8, 13, 40]) {
        const got: string[] = [];
        for (const s of textSplits([path], parts)) for await (const c of readTextSplit(s.path, s.start, s.end)) got.push(...c);
        assert.deepEqual(got, expected, `${name} in ${parts} splits`);
      }
    }
  });
});

describe('file sources (no cluster)', () => {
  it('resolves paths, directories and globs; shares partitions between files by size', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bigdl-glob-'));
    try {
      for (const f of ['a/x.txt', 'a/y.csv', 'a/b/z.txt', 'a/b/c/w.txt', 'a/.hidden.txt', 'a/_meta.txt']) {
        mkdirSync(join(dir, f, '..'), { recursive: true });
        writeFileSync(join(dir, f), f);
      }
      const rel = (fs: string[]) => fs.map((f) => f.slice(dir.length + 1));
      assert.deepEqual(rel(resolveFiles(join(dir, 'a'), 't')), ['a/x.txt', 'a/y.csv']);
      assert.deepEqual(rel(resolveFiles(join(dir, 'a', '*.txt'), 't')), ['a/x.txt']);
      assert.deepEqual(rel(resolveFiles(join(dir, 'a', '**', '*.txt'), 't')), ['a/x.txt', 'a/b/z.txt', 'a/b/c/w.txt']);
      assert.deepEqual(rel(resolveFiles(join(dir, 'a', '*.{csv,txt}'), 't')), ['a/x.txt', 'a/y.csv']);
      assert.deepEqual(rel(resolveFiles([join(dir, 'a', '?.csv'), join(dir, 'a', '[xy].*')], 't')), ['a/y.csv', 'a/x.txt']);
      assert.throws(() => resolveFiles(join(dir, 'a', '*.json'), 'textFile'), /textFile: no file matches .*\*\.json/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(shareParts([100, 300], 8), [2, 6]);
    assert.deepEqual(shareParts([100, 300, 5], 2), [1, 1, 1]);
    assert.deepEqual(shareParts([0, 0], 5), [3, 2]);
    assert.deepEqual(shareParts([1, 1, 1000], 5), [1, 1, 3]);
  });
});

describe('PartitionedDataset on local[3]', () => {
  let ctx: EngineContext;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bigdl-ds-'));
    ctx = await Engine.init({ master: 'local[3]', maxAttempts: 2, local: { localityWaitMs: 3000 } });
  });
  after(async () => {
    const pids = (await ctx.cluster.workers()).map((w) => w.pid);
    await ctx.close();
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} is gone`);
    rmSync(dir, { recursive: true, force: true });
  });

  it('parallelize, map, filter, flatMap, count, collect, take, first, reduce', async () => {
    assert.equal(ctx.master, 'local[3]');
    assert.equal(ctx.defaultParallelism, 3);
    const xs = Array.from({ length: 1000 }, (_, i) => i);
    const ds = ctx.parallelize(xs, 4);
    assert.equal(ds.numPartitions, 4);
    assert.equal(await ds.count(), 1000);
    assert.deepEqual(await ds.collect(), xs);
    const evens = ds.map(fns.double).filter(fns.isEven);
    assert.deepEqual(await evens.collect(), xs.map((x) => x * 2));
    assert.deepEqual(await ds.filter(fns.isEven).collect(), xs.filter((x) => x % 2 === 0));
    assert.deepEqual(await ctx.parallelize([1, 3, 0, 2], 2).flatMap(fns.upTo).collect(), [0, 0, 1, 2, 0, 1]);
    assert.deepEqual(await ds.take(5), [0, 1, 2, 3, 4]);
    assert.deepEqual(await ds.take(300), xs.slice(0, 300));
    assert.deepEqual(await ds.take(5000), xs);
    assert.deepEqual(await ds.take(0), []);
    assert.equal(await ds.first(), 0);
    assert.equal(await ds.reduce(fns.add), 499500);
    assert.equal(await ds.reduce(fns.max), 999);
    assert.equal(await ctx.parallelize([7], 3).reduce(fns.add), 7, 'empty partitions are skipped');
    await assert.rejects(ctx.parallelize<number>([], 2).reduce(fns.add), /reduce: the dataset is empty/);
    assert.equal(await ctx.parallelize([], 2).first(), undefined);
  });

  it('passes JSON args as the second argument and awaits async functions', async () => {
    const ds = ctx.range(10, 3);
    assert.deepEqual(await ds.map(fns.scale, { factor: 3 }).collect(), Array.from({ length: 10 }, (_, i) => 3 * i));
    assert.deepEqual(await ds.map(fns.asyncInc).collect(), Array.from({ length: 10 }, (_, i) => i + 1));
    assert.deepEqual(await ds.mapPartitions(fns.partitionSums).collect(), [[0, 0 + 1 + 2], [1, 3 + 4 + 5], [2, 6 + 7 + 8 + 9]]);
    assert.throws(() => ds.map(fns.scale, { factor: () => 3 } as never), /map: args must be JSON .*args\.factor is a function/);
  });

  it('refuses a closure at once, saying how to fix it', () => {
    const k = 3;
    const ds = ctx.range(10);
    assert.throws(() => ds.map((x: number) => x * k), (e: Error) => {
      assert.ok(e instanceof TypeError);
      assert.match(e.message, /^map: an anonymous function cannot be shipped to workers: closures cannot be serialized/);
      assert.match(e.message, /shippable\(import\.meta\.url, \{ myFn \}\)/);
      return true;
    });
    function timesK(x: number) {
      return x * k;
    }
    assert.throws(() => ds.filter(timesK), /^TypeError: filter: timesK cannot be shipped.*shippable\(import\.meta\.url, \{ timesK \}\)/);
    assert.throws(() => ds.reduce((a: number, b: number) => a + b), /reduce: .* cannot be shipped/);
  });

  it('surfaces a task error with the task id, the worker and the function\'s message', async () => {
    const ds = ctx.range(20, 4).map(fns.boom, { at: 13 });
    const err = await ds.collect().then(() => assert.fail('collect should fail'), (e: Error) => e);
    assert.match(err.message, /^collect failed: stage ctx-[^ ]+\/stage-\d+-collect: task ctx-[^ ]+\/stage-\d+-collect\/part-2 failed 2 times; last attempt on worker local-\d+: map\(boom from fns\) failed on partition 2: boom at item 13$/);
    // other actions still work afterwards
    assert.equal(await ctx.range(20, 4).count(), 20);
  });

  it('zip pairs items partition by partition, and refuses mismatched partitions', async () => {
    const a = ctx.range(100, 4);
    const b = a.map(fns.double);
    assert.deepEqual(await a.zip(b).map(fns.sumPair).collect(), Array.from({ length: 100 }, (_, i) => 3 * i));
    assert.deepEqual((await a.zip(b).take(2)), [[0, 0], [1, 2]]);
    assert.throws(() => a.zip(ctx.range(100, 3)), /zip: this dataset has 4 partitions and the other 3/);
    await assert.rejects(a.zip(a.filter(fns.isEven)).count(), /zip: partition \d has 25 items on the left and 1[23] on the right; zip needs the same number of items in each partition/);
  });

  it('union concatenates partitions; glom shows them', async () => {
    const u = ctx.parallelize([1, 2, 3], 2).union(ctx.range(4, 2), ctx.parallelize([9], 1));
    assert.equal(u.numPartitions, 5);
    assert.deepEqual(await u.glom().collect(), [[1], [2, 3], [0, 1], [2, 3], [9]]);
    assert.equal(await u.count(), 8);
  });

  it('sample is a seeded Bernoulli sample: deterministic, a subset, about the right size', async () => {
    const ds = ctx.range(20000, 4);
    const s1 = await ds.sample(0.1, 7).collect();
    const s2 = await ds.sample(0.1, 7).collect();
    const s3 = await ds.sample(0.1, 8).collect();
    assert.deepEqual(s1, s2);
    assert.notDeepEqual(s1, s3);
    assert.ok(s1.length > 1800 && s1.length < 2200, `sample size ${s1.length}`);
    assert.ok(s1.every((x, i) => i === 0 || x > s1[i - 1]), 'a subset in order');
    assert.equal(await ds.sample(0).count(), 0);
    assert.equal(await ds.sample(1).count(), 20000);
    assert.throws(() => ds.sample(1.5), /fraction must be in \[0, 1\]/);
  });

  it('repartition keeps the items and balances partitions; shuffle permutes deterministically', async () => {
    const xs = Array.from({ length: 1001 }, (_, i) => i);
    const ds = ctx.parallelize(xs, 2);
    const r = ds.repartition(5);
    assert.equal(r.numPartitions, 5);
    const parts = await r.glom().collect();
    assert.deepEqual(sorted(parts.flat()), xs);
    assert.ok(parts.every((p) => p.length === 200 || p.length === 201), `sizes ${parts.map((p) => p.length)}`);
    assert.equal(await r.count(), 1001, 'a second action reuses the shuffle output');

    const s = ds.shuffle(3);
    const once = await s.collect();
    assert.equal(s.numPartitions, 2);
    assert.deepEqual(sorted(once), xs);
    assert.notDeepEqual(once, xs);
    assert.deepEqual(await ds.shuffle(3).collect(), once, 'the same seed gives the same order');
    assert.notDeepEqual(await ds.shuffle(4).collect(), once);
    assert.deepEqual(sorted(await ds.shuffle(5, 7).map(fns.double).collect()), xs.map((x) => 2 * x));
  });

  it('moves structured-clone values: typed arrays, and results larger than the inline limit', async () => {
    const v = await ctx.range(3, 2).map(fns.toFloat32).collect();
    assert.ok(v.every((a) => a instanceof Float32Array));
    assert.deepEqual(v.map((a) => [...a]), [[0, 0.5], [1, 1.5], [2, 2.5]]);
    const big = await ctx.range(300000, 2).collect(); // ~1.5 MB per partition: through the block store
    assert.equal(big.length, 300000);
    assert.equal(big[299999], 299999);
    assert.throws(() => ctx.parallelize([() => 1]), /parallelize: the items cannot be sent between processes/);
  });

  it('textFile over MovieLens ratings: every line, counted and reduced as a direct read does', async () => {
    const direct = await collectIt(readLines(RATINGS));
    const header = direct[0];
    const expectedSum = direct.slice(1).reduce((s, l) => s + Number(l.split(',')[2]), 0);
    assert.equal(direct.length, 100837);
    const lines = ctx.textFile(RATINGS, { partitions: 7 });
    assert.equal(lines.numPartitions, 7);
    assert.equal(await lines.count(), 100837);
    assert.deepEqual(await lines.collect(), direct, 'byte-range splits give back the file\'s lines, in order');
    assert.equal(await lines.first(), header);
    const ratings = lines.filter(fns.notRatingsHeader).map(fns.ratingOf);
    assert.equal(await ratings.count(), 100836);
    const sum = await ratings.reduce(fns.add);
    assert.ok(Math.abs(sum - expectedSum) < 1e-6, `${sum} vs ${expectedSum}`);
    assert.equal(Math.round(sum * 2) / 2, 353083); // 0.5-star steps: the sum is exact
    assert.equal(await ctx.textFile(RATINGS).numPartitions, 3, 'default: the cluster\'s cores');
  });

  it('textFile over a directory and a glob of several files', async () => {
    const d = join(dir, 'texts');
    mkdirSync(d);
    writeFileSync(join(d, 'a.txt'), 'the quick brown fox\njumps over\n');
    writeFileSync(join(d, 'b.txt'), 'the lazy dog\r\n');
    writeFileSync(join(d, 'c.log'), 'not text\n');
    writeFileSync(join(d, '_SUCCESS'), '');
    const all = ctx.textFile(d);
    assert.equal(await all.count(), 4);
    const txt = ctx.textFile(join(d, '*.txt'), { partitions: 5 });
    assert.equal(txt.numPartitions, 5);
    assert.deepEqual(await txt.collect(), ['the quick brown fox', 'jumps over', 'the lazy dog']);
    assert.deepEqual(await txt.flatMap(fns.words).count(), 9);
    assert.throws(() => ctx.textFile(join(d, '*.csv')), /textFile: no file matches .*\*\.csv/);
    assert.throws(() => ctx.textFile(join(d, 'nope.txt')), /textFile: .*nope\.txt does not exist/);
    assert.throws(() => ctx.textFile(d, { encoding: 'utf16le' }), /encoding 'utf16le' is not supported/);
  });

  it('csvFile over Banking77: rows as a direct readCsv gives them, over partitions and files', async () => {
    const train = join(BANKING, 'train.csv');
    const reader = readCsv(train);
    const direct: Record<string, unknown>[] = await collectIt(reader);
    assert.equal(direct.length, 10003);
    const rows = ctx.csvFile<{ text: string; category: string }>(train, { partitions: 4 });
    assert.equal(rows.numPartitions, 4);
    assert.deepEqual(await rows.collect(), direct);
    assert.equal(new Set(await rows.map(fns.categoryOf).collect()).size, 77);
    assert.equal(await rows.map(fns.textLength).reduce(fns.add), direct.reduce((s, r) => s + (r.text as string).length, 0));
    assert.deepEqual(await rows.csvStats(), { ...reader.stats, records: 10003, skipped: 0, reasons: [] });
    const both = ctx.csvFile(join(BANKING, '*.csv'), { partitions: 5 });
    assert.equal(await both.count(), 10003 + 3080);
    const arrays = ctx.csvFile(join(BANKING, 'test.csv'), { arrays: true, columns: ['category'] });
    assert.deepEqual(await arrays.first(), ['card_arrival']);
  });

  it('csvFile passes the malformed-record policy through', async () => {
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'x,y\n1,2\n3\n4,five\n6,7\n');
    await assert.rejects(ctx.csvFile(bad, { types: { x: 'int', y: 'int' } }).count(), /csvFile failed: .*bad\.csv:3: record has 1 field, expected 2/);
    const skipping = ctx.csvFile(bad, { types: { x: 'int', y: 'int' }, onError: 'skip', partitions: 2 });
    assert.deepEqual(await skipping.collect(), [{ x: 1, y: 2 }, { x: 6, y: 7 }]);
    const stats = await skipping.csvStats();
    assert.equal(stats.records, 2);
    assert.equal(stats.skipped, 2);
    assert.match(stats.reasons[1], /bad\.csv:4: column 'y': "five" is not an integer/);
  });

  it('saveAsTextFile writes part files that textFile reads back; foreachPartition runs on every partition', async () => {
    const out = join(dir, 'saved');
    const ds = ctx.range(1000, 3).map(fns.double);
    await ds.saveAsTextFile(out);
    assert.deepEqual(readdirSync(out).sort(), ['_SUCCESS', 'part-00000', 'part-00001', 'part-00002']);
    assert.deepEqual((await ctx.textFile(out).map(fns.ratingOf).count()), 1000);
    assert.equal(readFileSync(join(out, 'part-00000'), 'utf8').split('\n')[1], '2');
    await assert.rejects(ds.saveAsTextFile(out), /already exists and is not empty/);
    const sums = join(dir, 'sums');
    mkdirSync(sums);
    await ctx.range(10, 2).foreachPartition(fns.writePartitionSum, { dir: sums });
    assert.deepEqual(readdirSync(sums).sort().map((f) => readFileSync(join(sums, f), 'utf8')), ['10', '35']);
  });

  it('describes its lineage', () => {
    const ds = ctx.range(10, 2).map(fns.double).cache().union(ctx.range(3, 1)).repartition(4);
    assert.match(ds.toDebugString(), /^\(4\) repartition #\d+\n {2}\(3\) union #\d+\n {4}\(2\) map\(double\) \[cached\] #\d+\n {6}\(2\) range #\d+\n {4}\(1\) range #\d+$/);
  });

  it('completes a stage whose worker is killed with SIGKILL mid-task', async () => {
    const cluster = ctx.cluster as LocalCluster;
    const lost = cluster.stats.workersLost;
    const ds = ctx.range(600, 6).mapPartitions(fns.slowPartition, { ms: 300 }).map(fns.double);
    const pending = ds.collect();
    await until(() => cluster.running().length > 0, 'a running task');
    const victim = cluster.running()[0];
    process.kill(victim.pid, 'SIGKILL');
    assert.deepEqual(await pending, Array.from({ length: 600 }, (_, i) => 2 * i));
    assert.equal(cluster.stats.workersLost, lost + 1);
    await until(async () => (await cluster.workers()).length === 3, 'a replacement worker');
  });

  it('recomputes a cached partition whose worker died, and only that one', async () => {
    const cluster = ctx.cluster as LocalCluster;
    const ds = ctx.range(12, 4).map(fns.tagPid).cache();
    const first = await ds.collect();
    const locations = await ds.cacheLocations();
    assert.ok(locations.every((w) => w !== undefined), 'every partition has a holder');
    const second = await ds.collect();
    assert.deepEqual(second, first, 'served from the caches: the same processes\' tags');
    const pidOf = new Map((await cluster.workers()).map((w) => [w.id, w.pid]));
    const holder = locations[0]!;
    const victimPid = pidOf.get(holder)!;
    assert.equal(first[0].pid, victimPid, 'the holder computed it');
    process.kill(victimPid, 'SIGKILL');
    await until(async () => !(await cluster.workers()).some((w) => w.pid === victimPid), 'the death to be noticed');
    const third = await ds.collect();
    assert.deepEqual(third.map((r) => r.x), Array.from({ length: 12 }, (_, i) => i));
    for (let p = 0; p < 4; p++) {
      const before = first.slice(3 * p, 3 * p + 3), now = third.slice(3 * p, 3 * p + 3);
      if (locations[p] === holder) {
        assert.ok(now.every((r) => r.pid !== victimPid), `partition ${p} was recomputed elsewhere`);
      } else {
        assert.deepEqual(now, before, `partition ${p} still comes from its cache`);
      }
    }
    const relocated = await ds.cacheLocations();
    assert.ok(relocated.every((w) => w !== undefined && w !== holder));
    await ds.unpersist();
    assert.deepEqual(await ds.cacheLocations(), [undefined, undefined, undefined, undefined]);
  });
});

describe('Engine.init', () => {
  it('rejects unknown masters with what it accepts', async () => {
    await assert.rejects(Engine.init({ master: 'spark://x' }), /unknown master 'spark:\/\/x' \(local, local\[N\], local\[\*\], redis:\/\/host:port/);
    // redis:// goes to the Redis backend (which checks the URL before connecting)
    await assert.rejects(Engine.init({ master: 'redis://localhost:6379/x' }), /invalid Redis master .*database 'x' is not a number/);
    assert.equal(typeof Engine.getThreads(), 'number');
  });
});

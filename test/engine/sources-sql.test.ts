// ctx.sql on local[2]: DuckDB queries over the real MovieLens ratings and Beijing PM2.5 CSVs, checked
// against the CSVs read here; hash partitions that hold every row once, the same rows again when a
// lost cached partition is recomputed, analytics feeding DistriOptimizer in one pipeline, and the
// errors for queries that cannot be a dataset.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { packageRoot } from '../../src/util/package-root.js';
import { Engine } from '../../src/engine/engine.js';
import type { EngineContext } from '../../src/engine/context.js';
import type { LocalCluster } from '../../src/engine/cluster/local.js';
import { DistriOptimizer } from '../../src/engine/distri-optimizer.js';
import { Linear } from '../../src/nn/linear.js';
import { MSECriterion } from '../../src/nn/criterion.js';
import { SGD } from '../../src/optim/sgd.js';
import { Trigger } from '../../src/optim/trigger.js';
import { Loss } from '../../src/optim/validation.js';
import { RNG } from '../../src/tensor/random.js';
import { sfns, type WeatherDay } from './sources-fns.js';
import { checkRecomputedAfterKill } from './lost-partition.js';
import type { PartitionedDataset } from '../../src/engine/dataset.js';

const DATA = join(packageRoot(), '..', 'shared', 'data');
const RATINGS = join(DATA, 'movielens', 'ml-latest-small', 'ratings.csv');
const PM25 = join(DATA, 'timeseries', 'beijing_pm25_pollution.csv');

/** The CSV's data lines split on commas (neither file quotes fields); ratings.csv has CRLF ends. */
const csvLines = (path: string): string[][] =>
  readFileSync(path, 'utf8').split('\n').slice(1).map((l) => l.replace(/\r$/, '')).filter((l) => l !== '').map((l) => l.split(','));

type Rating = { userId: bigint; movieId: bigint; rating: number; timestamp: bigint };
const key = (r: Rating): string => `${r.userId},${r.movieId},${r.rating},${r.timestamp}`;
const cmp = (a: Rating, b: Rating): number =>
  Number(a.userId - b.userId) || Number(a.movieId - b.movieId) || a.rating - b.rating || Number(a.timestamp - b.timestamp);

describe('ctx.sql on local[2]', () => {
  let ctx: EngineContext;
  const ratings = csvLines(RATINGS);
  // a relative path: workers resolve it against the driver's working directory
  const ratingsRel = relative(process.cwd(), RATINGS);

  before(async () => {
    ctx = await Engine.init({ master: 'local[2]' });
  });

  after(async () => {
    await ctx?.close();
  });

  it('holds every row once over hash partitions, sorted within each, the same on every run', async () => {
    const ds = await ctx.sql<Rating>(`SELECT userId, movieId, rating, timestamp FROM read_csv('${ratingsRel}')`, { partitions: 3 });
    assert.equal(ds.numPartitions, 3);
    assert.match(ds.toDebugString(), /^\(3\) sql\(SELECT userId, movieId, rating, timestamp FROM read_csv\(.*\) #\d+$/);
    // each partition's plan carries its bucket and the query, not the other partitions'
    const plans = (await ds.partitionTasks()).map((t) => t.plan);
    assert.deepEqual(plans.map((pl) => [pl.op, (pl as { partition: number }).partition]), [['sql', 0], ['sql', 1], ['sql', 2]]);
    assert.ok(JSON.stringify(plans[0]).length < 600, JSON.stringify(plans[0]));
    const sizes = await ds.partitionSizes();
    assert.equal(sizes.reduce((a, b) => a + b, 0), ratings.length);
    assert.ok(sizes.every((n) => n > ratings.length / 4), `hash buckets of similar sizes: ${sizes}`);
    const rows = await ds.collect();
    assert.deepEqual(rows.map(key).sort(), ratings.map((r) => `${r[0]},${r[1]},${Number(r[2])},${r[3]}`).sort());
    let start = 0;
    for (const n of sizes) {
      const part = rows.slice(start, start + n);
      start += n;
      for (let i = 1; i < part.length; i++) assert.ok(cmp(part[i - 1], part[i]) <= 0, `sorted within the partition at ${i}`);
    }
    assert.deepEqual(await ds.collect(), rows, 'a second run gives the same partitions');
  });

  it('binds named and positional parameters', async () => {
    const expected = ratings.filter((r) => r[0] === '414' && Number(r[2]) >= 4.5).length;
    assert.ok(expected > 100, `${expected}`);
    const named = await ctx.sql(`FROM read_csv('${RATINGS}') WHERE userId = $user AND rating >= $min`, { params: { user: 414, min: 4.5 } });
    assert.equal(await named.count(), expected);
    const positional = await ctx.sql(`FROM read_csv('${RATINGS}') WHERE userId = ? AND rating >= ?`, { params: [414, 4.5], partitions: 1 });
    assert.equal(await positional.count(), expected);
  });

  it('runs analytics and training as one pipeline: GROUP BY and window functions into Samples into DistriOptimizer', async () => {
    // daily means of the hourly series (days with at least 12 PM2.5 readings), standardized in SQL
    const query = `
      WITH daily AS (
        SELECT make_date(year, month, day)::VARCHAR AS date, avg("pm2.5") AS pm, ln(avg("pm2.5")) AS lpm,
               avg(DEWP) AS dewp, avg(TEMP) AS temp, avg(PRES) AS pres, avg(ln(1 + Iws)) AS wind
        FROM read_csv('${PM25}', nullstr = 'NA')
        GROUP BY year, month, day
        HAVING count("pm2.5") >= 12)
      SELECT date, pm,
             (lpm - avg(lpm) OVER ()) / stddev(lpm) OVER () AS y,
             (dewp - avg(dewp) OVER ()) / stddev(dewp) OVER () AS dewp,
             (temp - avg(temp) OVER ()) / stddev(temp) OVER () AS temp,
             (pres - avg(pres) OVER ()) / stddev(pres) OVER () AS pres,
             (wind - avg(wind) OVER ()) / stddev(wind) OVER () AS wind
      FROM daily`;
    const days = await ctx.sql<WeatherDay & { date: string; pm: number }>(query, { partitions: 3 });

    // the same aggregation done here from the CSV
    const byDay = new Map<string, number[]>();
    for (const w of csvLines(PM25)) {
      if (w[5] === 'NA') continue;
      const d = `${w[1]}-${w[2].padStart(2, '0')}-${w[3].padStart(2, '0')}`;
      byDay.set(d, [...(byDay.get(d) ?? []), Number(w[5])]);
    }
    const kept = [...byDay].filter(([, v]) => v.length >= 12);
    const rows = await days.collect();
    assert.equal(rows.length, kept.length);
    const jan2 = rows.find((r) => r.date === '2010-01-02')!;
    const pm = byDay.get('2010-01-02')!;
    assert.ok(Math.abs(jan2.pm - pm.reduce((a, b) => a + b, 0) / pm.length) < 1e-9, `${jan2.pm}`);
    assert.ok(Math.abs(rows.reduce((s, r) => s + r.y, 0)) < 1e-6, 'y is centred over all partitions');

    RNG.setSeed(3);
    const model = new Linear(4, 1);
    const samples = days.map(sfns.dayToSample).cache();
    const opt = new DistriOptimizer({
      model, trainingSet: samples, criterion: new MSECriterion(), optimMethod: new SGD({ learningRate: 0.05 }),
      batchSize: 64, endWhen: Trigger.maxEpoch(6), progress: 'quiet',
    }).setValidation(Trigger.everyEpoch(), samples, [new Loss(new MSECriterion())]);
    await opt.optimize();
    const mse = opt.validationHistory.map((v) => v.results[0].value);
    // predicting the mean gives 1 (y is standardized); least squares on these four features gives 0.553
    assert.ok(mse[0] < 0.8 && mse[mse.length - 1] < 0.6, `validation MSE by epoch ${mse}`);
  });

  it('recomputes a lost cached partition with the same rows', async () => {
    const cluster = ctx.cluster as LocalCluster;
    const ds = (await ctx.sql(`SELECT movieId, count(*) AS n, avg(rating) AS mean FROM read_csv('${RATINGS}') GROUP BY movieId`, { partitions: 4 }))
      .map(sfns.withPid).cache();
    const first = await checkRecomputedAfterKill(cluster, ds as PartitionedDataset<{ movieId: bigint; pid: number }>);
    assert.equal(first.length, new Set(ratings.map((r) => r[1])).size);
  });

  it('rejects queries that cannot be a dataset on the driver, naming the query and giving DuckDB\'s message', async () => {
    const rejects = (q: string, re: RegExp, params?: never) =>
      assert.rejects(ctx.sql(q, params === undefined ? {} : { params }), (e: Error) => re.test(e.message) && e.message.includes(`query: ${q.replace(/\s+/g, ' ')}`));
    await rejects('SELEC userId FROM ratings', /^sql: DuckDB cannot parse the query: Parser Error: syntax error at or near "SELEC"/);
    await rejects(`SELECT nosuch FROM read_csv('${RATINGS}')`, /^sql: DuckDB rejected the query: Binder Error: Referenced column "nosuch" not found/);
    await rejects(`SELECT * FROM read_csv('${DATA}/no-such.csv')`, /^sql: DuckDB rejected the query: IO Error: No files found that match the pattern/);
    await rejects('SELECT 1; SELECT 2', /^sql: expected one statement, got 2/);
    await rejects('CREATE TABLE t AS SELECT 1 AS x', /^sql: only queries that return rows can be a dataset .* got a CREATE statement/);
    await rejects('SELECT * FROM range(3) WHERE range = $x', /^sql: the query has 1 parameter\(s\) \(\$x\); params lacks \$x/);
    await rejects('SELECT * FROM range(3) WHERE range = $x', /params lacks \$x and has no use for \$y/, { y: 1 } as never);
    await rejects('SELECT * FROM range(3) WHERE range = ?', /params has no use for #2/, [1, 2] as never);
    await assert.rejects(ctx.sql('SELECT 1', { params: [() => 1] as never }), /params must be an array .* of strings, finite numbers, booleans or null/);
    await assert.rejects(ctx.sql('SELECT 1', { partitions: 0 }), /positive integer, got 0/);
  });

  it('fails an action whose query fails while reading rows, naming the partition, DuckDB\'s message and the query', async () => {
    // 'NW' cannot be cast: DuckDB finds out only when rows are read, on the workers
    const q = `SELECT CAST(cbwd AS INTEGER) AS v FROM read_csv('${PM25}')`;
    const ds = await ctx.sql(q, { partitions: 2 });
    await assert.rejects(ds.count(), (e: Error) => /sql partition \d: DuckDB: Conversion Error: Could not convert string 'NW' to INT32/.test(e.message) && e.message.includes(`query: ${q}`));
  });
});

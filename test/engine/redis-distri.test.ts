// BigDL's Algorithm 1 on a Redis cluster of 3 `bigdl worker` processes (real redis-server on
// loopback), with real Fashion-MNIST: training learns with one iteration per submission and with
// group scheduling, and finishes when a worker is SIGKILLed mid-training.
import { describe, it, before, after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { RNG } from '../../src/tensor/random.js';
import { loadFashionMnist } from '../../src/data/idx.js';
import { LeNet5 } from '../../src/models/lenet.js';
import { ClassNLLCriterion } from '../../src/nn/criterion.js';
import { SGD } from '../../src/optim/sgd.js';
import { Trigger } from '../../src/optim/trigger.js';
import { Top1Accuracy } from '../../src/optim/validation.js';
import { Engine } from '../../src/engine/engine.js';
import type { EngineContext } from '../../src/engine/context.js';
import { RedisCluster } from '../../src/engine/cluster/redis-cluster.js';
import { DistriOptimizer } from '../../src/engine/distri-optimizer.js';
import { RedisServer, freePort, redisServerBinary } from './redis-server.js';
import { killAll, startWorker, type WorkerProc } from './redis-workers.js';
import { fns, imageRecords, type ImageRecord } from './distri-fns.js';

const noRedis = redisServerBinary() === null ? 'redis-server is not installed (Debian: apt-get install redis-server)' : false;
if (noRedis && process.env.BIGDL_REQUIRE_REDIS === '1') throw new Error(`BIGDL_REQUIRE_REDIS=1 but ${noRedis}`);

let train: ImageRecord[];
let test: ImageRecord[];

describe('DistriOptimizer on a Redis cluster of 3 workers', { skip: noRedis }, () => {
  let server: RedisServer;
  let ctx: EngineContext;
  let cluster: RedisCluster;
  let workers: WorkerProc[];

  before(async () => {
    const all = loadFashionMnist();
    train = imageRecords(all.train, 1200);
    test = imageRecords(all.test, 300);
    server = new RedisServer(await freePort());
    await server.start();
    workers = await Promise.all([0, 1, 2].map(() => startWorker(server.url, ['--unreachable-timeout', '20'])));
    cluster = await RedisCluster.connect(server.url, { checkIntervalMs: 200 });
    ctx = await Engine.init({ cluster });
  });

  after(async () => {
    await ctx?.close();
    await cluster?.close(); // a cluster given to Engine.init stays the caller's to close
    await killAll();
    await server?.kill();
  });

  for (const [groupSize, partitions] of [[1, 3], [4, 2]] as const) {
    it(`learns with groupSize ${groupSize} on ${partitions} partitions and finishes when a worker is SIGKILLed mid-training`, async () => {
      setBackend('native');
      RNG.setSeed(7);
      const model = LeNet5();
      let killed: WorkerProc | undefined;
      const opt = new DistriOptimizer({
        model, trainingSet: ctx.parallelize(train, partitions).map(fns.toSample), criterion: new ClassNLLCriterion(),
        optimMethod: new SGD({ learningRate: 0.05, momentum: 0.9, dampening: 0 }), batchSize: 100, groupSize,
        endWhen: Trigger.maxEpoch(3), progress: 'quiet',
      }).setValidation(Trigger.everyEpoch(), ctx.parallelize(test, 2).map(fns.toSample), [new Top1Accuracy()], 150)
        .onValidation(async (r) => {
          // after the first epoch, kill a worker while the next iterations run
          if (r.epoch === 1 && !killed) {
            killed = workers.pop()!;
            setTimeout(() => killed!.proc.kill('SIGKILL'), 300);
          }
        });
      await opt.optimize();
      assert.ok(killed && (await killed.exited) === null, 'a worker was killed');
      assert.equal(opt.iterationTimes.length, 3 * 12);
      const acc = opt.validationHistory.map((v) => v.results[0].value);
      assert.equal(opt.validationHistory[2].results[0].count, 300);
      assert.ok(acc[2] > 0.65, `accuracy ${acc}`);
      assert.ok(model.getParameters().weights.toArray().every(Number.isFinite));
      // the cluster replaces nothing on Redis: start a new worker for the next run
      workers.push(await startWorker(server.url, ['--unreachable-timeout', '20']));
    });
  }

  it('Redis restarted mid-training (its blocks gone): a clear error, never wrong weights; the checkpoint resumes the run', async () => {
    setBackend('native');
    const dir = mkdtempSync(join(tmpdir(), 'bigdl-redis-restart-'));
    try {
      const make = () => {
        RNG.setSeed(7);
        const model = LeNet5();
        const opt = new DistriOptimizer({
          model, trainingSet: ctx.parallelize(train, 2).map(fns.toSample), criterion: new ClassNLLCriterion(),
          optimMethod: new SGD({ learningRate: 0.05, momentum: 0.9, dampening: 0 }), batchSize: 100,
          endWhen: Trigger.maxEpoch(3), progress: 'quiet',
        }).setCheckpoint(dir, Trigger.everyEpoch()).resume(dir, { missingOk: true });
        return { model, opt };
      };
      const first = make();
      const before = first.model.getParameters().weights.toArray();
      let restarted = false;
      first.opt.setValidation(Trigger.everyEpoch(), ctx.parallelize(test, 2).map(fns.toSample), [new Top1Accuracy()], 150)
        .onValidation(async (r) => {
          if (r.epoch !== 2 || restarted) return;
          restarted = true;
          await server.kill();
          await server.start();
        });
      await assert.rejects(first.opt.optimize(), (e: Error) => {
        assert.match(e.message, /missing from the block store/);
        assert.match(e.message, /lost|restart/i);
        return true;
      });
      assert.ok(restarted);
      // the model holds the weights of a whole version (the last the driver read, at epoch 2's
      // validation), not a mix: the failed run wrote nothing into it after the restart
      assert.notDeepEqual(first.model.getParameters().weights.toArray(), before);
      // the same command again resumes from the epoch-1 checkpoint (epoch 2's was cut off by the restart) and finishes
      const again = make();
      await again.opt.optimize();
      assert.equal(again.opt.iterationTimes.length, 24, 'epochs 2 and 3');
      assert.ok(again.model.getParameters().weights.toArray().every(Number.isFinite));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

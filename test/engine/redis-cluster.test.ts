// The redis:// cluster backend against a real redis-server on loopback, with worker processes
// started as `bigdl worker --master redis://127.0.0.1:P`. Skipped (with the reason) only when
// redis-server is not installed, and then not under BIGDL_REQUIRE_REDIS=1.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisCluster, RedisAuthError, RedisUnavailableError, StageFailedError, type StageProgress } from '../../src/engine/cluster/redis-cluster.js';
import { refOf } from '../../src/engine/cluster/ship.js';
import type { StageSpec, TaskSpec, Json } from '../../src/engine/cluster/types.js';
import { RedisServer, freePort, redisServerBinary } from './redis-server.js';
import { allWorkers, killAll, procs, startWorker, workerMain as main, type WorkerProc } from './redis-workers.js';
import { fns } from './redis-fns.js';

const noRedis = redisServerBinary() === null ? 'redis-server is not installed (Debian: apt-get install redis-server)' : false;
// CI sets BIGDL_REQUIRE_REDIS=1: there a missing redis-server fails the run instead of skipping
if (noRedis && process.env.BIGDL_REQUIRE_REDIS === '1') throw new Error(`BIGDL_REQUIRE_REDIS=1 but ${noRedis}`);
const noOpenssl = spawnSync('openssl', ['version']).status === 0 ? false : 'openssl is not installed (needed to make a test certificate)';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function squareTasks(prefix: string, n: number, extra: Record<string, Json> = {}): TaskSpec[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, fn: refOf(fns.square), partition: i, args: { x: i, ...extra } }));
}

function checkSquares(results: Awaited<ReturnType<RedisCluster['runStage']>>, n: number): void {
  assert.equal(results.length, n);
  results.forEach((r, i) => assert.equal((r.value as { y: number }).y, i * i, `task ${r.taskId}`));
}

async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('redis:// cluster backend', { skip: noRedis }, () => {
  let server: RedisServer;
  let cluster: RedisCluster;
  let workers: WorkerProc[] = [];
  const progress: StageProgress[] = [];

  before(async () => {
    server = new RedisServer(await freePort());
    await server.start();
    cluster = await RedisCluster.connect(server.url, { checkIntervalMs: 200, unreachableTimeoutMs: 10_000, onProgress: (p) => progress.push(p) });
    workers = await Promise.all([0, 1, 2].map(() => startWorker(server.url, ['--unreachable-timeout', '20'])));
  });

  after(async () => {
    if (process.env.BIGDL_TEST_DEBUG) for (const w of allWorkers) console.log(`--- worker ${w.id}:\n${w.out()}`);
    await killAll();
    await cluster?.close();
    await server?.kill();
  });

  it('lists the registered workers and runs a stage of many tasks on them', async () => {
    await until('3 workers', async () => (await cluster.workers()).length === 3);
    const ws = await cluster.workers();
    assert.deepEqual(ws.map((w) => w.id).sort(), workers.map((w) => w.id).sort());
    for (const w of ws) {
      assert.equal(w.cores, 1);
      assert.ok(w.lastSeenMs < 2000, `lastSeenMs ${w.lastSeenMs}`);
      assert.equal(w.pid, workers.find((x) => x.id === w.id)!.proc.pid);
    }
    assert.equal(await cluster.totalCores(), 3);
    const results = await cluster.runStage({ id: 'many', tasks: squareTasks('many', 60, { ms: 5 }) });
    checkSquares(results, 60);
    const last = progress.filter((p) => p.stageId === 'many').at(-1)!;
    assert.deepEqual([last.done, last.total], [60, 60]);
    assert.ok(new Set(results.map((r) => r.worker)).size >= 2, 'work spread over several workers');
  });

  it('carries structured-clone values (NaN, typed arrays, Maps) both ways, as local[N] does', async () => {
    const args = { v: new Float64Array([NaN, 2]), m: new Map([[1, 'one']]) } as unknown as Json;
    const [r] = await cluster.runStage({ id: 'clone', tasks: [{ id: 'e', fn: refOf(fns.echo), partition: 0, args }] });
    assert.deepEqual(r.value, { args, nan: NaN, inf: -Infinity, f32: new Float32Array([1.5, -2]), map: new Map([['k', 1]]), when: new Date(0) });
    const bad = { f: () => 1 } as unknown as Json;
    await assert.rejects(cluster.runStage({ id: 'noclone', tasks: [{ id: 'nc', fn: refOf(fns.echo), partition: 0, args: bad }] }),
      /stage 'noclone': task 'nc' cannot be sent between machines: .*could not be cloned/);
  });

  it('places tasks on their preferred worker, and on any worker after the locality wait', async () => {
    const target = workers[0].id;
    const pinned = squareTasks('pref', 6, { ms: 20 }).map((t) => ({ ...t, preferredWorker: target }));
    const results = await cluster.runStage({ id: 'pref', tasks: pinned });
    checkSquares(results, 6);
    assert.deepEqual(new Set(results.map((r) => r.worker)), new Set([target]));
    const impatient = await RedisCluster.connect(server.url, { checkIntervalMs: 100, localityWaitMs: 150 });
    try {
      const slow = squareTasks('impatient', 6, { ms: 300 }).map((t) => ({ ...t, preferredWorker: target }));
      const r2 = await impatient.runStage({ id: 'impatient', tasks: slow });
      checkSquares(r2, 6);
      assert.ok(new Set(r2.map((r) => r.worker)).size >= 2, 'other workers took tasks the busy preferred worker could not');
    } finally {
      await impatient.close();
    }
  });

  it('a worker taken for dead (its heartbeat key lost) comes back and keeps working', async () => {
    const w = workers[1];
    const raw = new Redis(server.port, '127.0.0.1');
    try {
      await raw.del(`bigdl:hb:${w.id}`);
      assert.ok(!(await cluster.workers()).some((x) => x.id === w.id), 'taken for dead');
      // (the driver removed its task stream too, while the worker was blocked reading it)
    } finally {
      raw.disconnect();
    }
    await until('it to re-register', async () => (await cluster.workers()).some((x) => x.id === w.id));
    const tasks = squareTasks('back', 3).map((t) => ({ ...t, preferredWorker: w.id }));
    const results = await cluster.runStage({ id: 'back', tasks });
    checkSquares(results, 3);
    assert.deepEqual(new Set(results.map((r) => r.worker)), new Set([w.id]));
    assert.equal(w.proc.exitCode, null, 'still running');
  });

  it('retries a failing task, then fails the stage naming the task and the error', async () => {
    const flaky: StageSpec = { id: 'flaky', maxAttempts: 4, tasks: [{ id: 'flaky-0', fn: refOf(fns.flaky), partition: 0, args: { failures: 2 } }] };
    const [r] = await cluster.runStage(flaky);
    assert.deepEqual(r.value, { runs: 3 });
    assert.equal(r.attempts, 3);

    const bad: StageSpec = {
      id: 'bad', maxAttempts: 3,
      tasks: [...squareTasks('fine', 4), { id: 'bad-1', fn: refOf(fns.boom), partition: 4, args: null }],
    };
    await assert.rejects(cluster.runStage(bad), (e: Error) => {
      assert.ok(e instanceof StageFailedError, e.message);
      assert.equal(e.taskId, 'bad-1');
      assert.match(e.message, /stage 'bad': task 'bad-1' failed 3 times; last error on worker \S+: boom in bad-1 on purpose/);
      assert.match(e.remoteStack ?? '', /boom/);
      return true;
    });
    // a function that does not exist fails clearly too
    const missing: StageSpec = { id: 'missing', maxAttempts: 1, tasks: [{ id: 'm', fn: { module: refOf(fns.square).module, exportName: 'nope' }, partition: 0, args: null }] };
    await assert.rejects(cluster.runStage(missing), /task 'm' failed 1 time; .*has no exported function 'nope'/);
  });

  it('reclaims the task of a worker killed with SIGKILL mid-stage', async () => {
    const n = 12;
    const stage = cluster.runStage({ id: 'kill', tasks: squareTasks('kill', n, { ms: 400, mark: true }) });
    let victim: WorkerProc | undefined;
    let taskOfVictim = '';
    await until('a task to start', async () => {
      const marks = await cluster.blocks.getMany(Array.from({ length: n }, (_, i) => `started:kill-${i}`));
      const i = marks.findIndex((m) => m !== undefined);
      if (i < 0) return false;
      const id = new TextDecoder().decode(marks[i]);
      victim = workers.find((w) => w.id === id);
      taskOfVictim = `kill-${i}`;
      return true;
    });
    assert.ok(victim, 'the task ran on one of our workers');
    victim.proc.kill('SIGKILL');
    await victim.exited;
    workers = workers.filter((w) => w !== victim);
    const results = await stage;
    checkSquares(results, n);
    const reclaimed = results.find((r) => r.taskId === taskOfVictim)!;
    assert.notEqual(reclaimed.worker, victim.id);
    assert.ok(reclaimed.attempts >= 2, `attempts ${reclaimed.attempts}`);
    assert.ok(!(await cluster.workers()).some((w) => w.id === victim!.id), 'the dead worker is no longer listed');
    // and what it left in Redis is cleaned up: its registration, its consumer in the group
    const raw = new Redis(server.port, '127.0.0.1');
    try {
      await until('the dead worker to be forgotten', async () => {
        await cluster.workers();
        const consumers = (await raw.xinfo('CONSUMERS', 'bigdl:tasks', 'workers')) as unknown[][];
        return !consumers.some((c) => c.includes(victim!.id)) && (await raw.hexists('bigdl:workers', victim!.id)) === 0;
      }, 5000);
    } finally {
      raw.disconnect();
    }
  });

  it('lets workers leave gracefully (SIGTERM) and join mid-stage', async () => {
    // leave: one of the two remaining workers stops after its task and deregisters
    const leaving = workers.pop()!;
    leaving.proc.kill('SIGTERM');
    assert.equal(await leaving.exited, 0, leaving.out());
    assert.match(leaving.out(), /stopped after \d+ tasks/);
    await until('the leaver to be gone', async () => !(await cluster.workers()).some((w) => w.id === leaving.id));
    assert.equal((await cluster.workers()).length, 1);
    // join: a new worker started while a stage runs on the one left takes work
    const n = 16;
    const stage = cluster.runStage({ id: 'join', tasks: squareTasks('join', n, { ms: 250, mark: true }) });
    await until('the stage to start', async () => (await cluster.blocks.get('started:join-0')) !== undefined);
    const joiner = await startWorker(server.url, ['--unreachable-timeout', '20']);
    workers.push(joiner);
    const results = await stage;
    checkSquares(results, n);
    assert.ok(results.some((r) => r.worker === joiner.id), `the joiner took work: ${results.map((r) => r.worker).join(' ')}`);
  });

  it('stores large blocks binary-safe, shared between driver and workers', async () => {
    const big = new Uint8Array(24 * 1024 * 1024 + 13);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    await cluster.blocks.put('job1/big', big);
    await cluster.blocks.put('job1/small', Uint8Array.of(0, 1, 0, 255));
    await cluster.blocks.put('job1/empty', new Uint8Array(0));
    const back = await cluster.blocks.get('job1/big');
    assert.ok(back && back.length === big.length && back.byteOffset % 8 === 0);
    assert.ok(Buffer.compare(Buffer.from(back), Buffer.from(big)) === 0, 'large block round trip');
    const many = await cluster.blocks.getMany(['job1/small', 'job1/none', 'job1/empty', 'job1/big']);
    assert.deepEqual([...many[0]!], [0, 1, 0, 255]);
    assert.equal(many[1], undefined);
    assert.equal(many[2]!.length, 0);
    assert.equal(many[3]!.length, big.length);
    // a worker reads it and writes a derived block
    const [r] = await cluster.runStage({ id: 'blk', tasks: [{ id: 'sum', fn: refOf(fns.checksum), partition: 0, args: { key: 'job1/big', out: 'job1/head' } }] });
    let sum = 0;
    for (let i = 0; i < big.length; i += 4096) sum = (sum + big[i] * (i % 251)) % 1_000_000_007;
    assert.deepEqual(r.value, { sum, length: big.length });
    assert.deepEqual([...(await cluster.blocks.get('job1/head'))!], [...big.subarray(0, 4096)]);
    // overwriting a large block with a small one leaves no chunks behind; deletePrefix takes all
    const raw = new Redis(server.port, '127.0.0.1');
    try {
      const countKeys = async () => (await raw.keys('bigdl:blk:job1/*')).length;
      const before = await countKeys();
      await cluster.blocks.put('job1/big', Uint8Array.of(7));
      assert.deepEqual([...(await cluster.blocks.get('job1/big'))!], [7]);
      assert.equal(await countKeys(), before - 25, 'chunks of the replaced version are deleted');
      await cluster.blocks.put('job1/big', big);
      await cluster.blocks.delete(['job1/small']);
      assert.equal(await cluster.blocks.get('job1/small'), undefined);
      await cluster.blocks.put('job2/keep', Uint8Array.of(1));
      await cluster.blocks.deletePrefix('job1/');
      assert.equal(await countKeys(), 0);
      assert.deepEqual([...(await cluster.blocks.get('job2/keep'))!], [1]);
    } finally {
      raw.disconnect();
    }
  });

  it('survives a Redis restart mid-stage: correct results or a clear error, never wrong ones', async (t) => {
    workers.push(...await Promise.all([startWorker(server.url, ['--unreachable-timeout', '20'])]));
    await until('workers', async () => (await cluster.workers()).length === workers.length);
    const n = 15;
    const stage = cluster.runStage({ id: 'restart', tasks: squareTasks('restart', n, { ms: 300 }) }).then(
      (r) => ({ ok: true as const, r }), (e: Error) => ({ ok: false as const, e }));
    await sleep(500);
    await server.kill();
    await sleep(500);
    await server.start();
    const out = await stage;
    t.diagnostic(out.ok ? `stage completed after the restart (max attempts ${Math.max(...out.r.map((r) => r.attempts))})` : `stage failed: ${out.e.message}`);
    if (out.ok) checkSquares(out.r, n);
    else assert.match(out.e.message, new RegExp(`Redis at redis://127\\.0\\.0\\.1:${server.port}`));
    // the cluster and the workers are usable afterwards
    await until('workers to re-register', async () => (await cluster.workers()).length === workers.length);
    checkSquares(await cluster.runStage({ id: 'after-restart', tasks: squareTasks('after', 6) }), 6);
  });

  it('fails a stage that has no live worker, after noWorkersTimeoutMs', async () => {
    const lonely = await RedisCluster.connect(`${server.url}?namespace=lonely`, { checkIntervalMs: 100, noWorkersTimeoutMs: 400 });
    try {
      await assert.rejects(lonely.runStage({ id: 'alone', tasks: squareTasks('alone', 2) }),
        /stage 'alone': no live worker at redis:\/\/127\.0\.0\.1:\d+ for 0\.4 s with 2 task\(s\) left; start workers with: bigdl worker --master/);
    } finally {
      await lonely.close();
    }
  });

  it('reports a wrong password and an unreachable server clearly, without hanging', async () => {
    const secure = new RedisServer(await freePort(), ['--requirepass', 's3cret']);
    await secure.start();
    try {
      await assert.rejects(RedisCluster.connect(secure.url, { password: 'wrong' }), (e: Error) => {
        assert.ok(e instanceof RedisAuthError, e.message);
        assert.match(e.message, new RegExp(`Redis at redis://127\\.0\\.0\\.1:${secure.port} refused the credentials.*WRONGPASS`));
        return true;
      });
      const ok = await RedisCluster.connect(`redis://:s3cret@127.0.0.1:${secure.port}`);
      assert.deepEqual(await ok.workers(), []);
      assert.ok(!ok.master.includes('s3cret'), 'the password is not in messages');
      await ok.close();
      const w = spawn(process.execPath, [main, 'worker', '--master', secure.url, '--password', 'wrong'], { stdio: ['ignore', 'pipe', 'pipe'] });
      procs.add(w);
      let err = '';
      w.stderr.on('data', (d) => { err += d; });
      const code = await new Promise((resolve) => w.once('exit', resolve));
      assert.equal(code, 1);
      assert.match(err, /refused the credentials/);
    } finally {
      await secure.kill();
    }
    const nobody = await freePort();
    const t0 = Date.now();
    await assert.rejects(RedisCluster.connect(`redis://127.0.0.1:${nobody}`, { unreachableTimeoutMs: 800 }), (e: Error) => {
      assert.ok(e instanceof RedisUnavailableError, e.message);
      assert.match(e.message, new RegExp(`Redis at redis://127\\.0\\.0\\.1:${nobody} unreachable for .* s while connecting \\(last error: .*ECONNREFUSED`));
      return true;
    });
    assert.ok(Date.now() - t0 < 5000, 'gave up in bounded time');
    const w = spawn(process.execPath, [main, 'worker', '--master', `redis://127.0.0.1:${nobody}`, '--unreachable-timeout', '0.5'], { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.add(w);
    let err = '';
    w.stderr.on('data', (d) => { err += d; });
    assert.equal(await new Promise((resolve) => w.once('exit', resolve)), 1);
    assert.match(err, /bigdl worker: Redis at redis:\/\/127\.0\.0\.1:\d+ unreachable/);
  });

  it('connects over TLS as an ACL user (driver and worker)', { skip: noOpenssl }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bigdl-redis-tls-'));
    const cert = join(dir, 'cert.pem'), key = join(dir, 'key.pem');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const port = await freePort();
    const tlsServer = new RedisServer(port, ['--user', 'default', 'off', '--user', 'alice', 'on', '>apw', '~*', '&*', '+@all'], { cert, key });
    await tlsServer.start();
    try {
      const url = `rediss://alice:apw@127.0.0.1:${port}`;
      const ca = readFileSync(cert);
      await assert.rejects(RedisCluster.connect(url, { unreachableTimeoutMs: 3000 }), /TLS connection to Redis at rediss:\/\/127\.0\.0\.1:\d+ failed: self-signed certificate/);
      await assert.rejects(RedisCluster.connect(url, { tls: { ca }, password: 'nope' }), /refused the credentials of user 'alice'/);
      const c = await RedisCluster.connect(url, { tls: { ca } });
      try {
        const w = await startWorker(`rediss://127.0.0.1:${port}`, ['--tls-ca', cert, '--user', 'alice', '--password', 'apw']);
        assert.match(w.out(), /connected to rediss:\/\/127\.0\.0\.1:\d+ \(TLS\)/);
        checkSquares(await c.runStage({ id: 'tls', tasks: squareTasks('tls', 3) }), 3);
        w.proc.kill('SIGTERM');
        assert.equal(await w.exited, 0);
      } finally {
        await c.close();
      }
    } finally {
      await tlsServer.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

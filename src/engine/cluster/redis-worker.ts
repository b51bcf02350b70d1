/**
 * A worker of the `redis://` cluster backend: `bigdl worker --master redis://host:6379`.
 *
 * It registers itself (`{ns}:workers`, `{ns}:hb:{id}` with a TTL refreshed by a heartbeat thread),
 * then loops: XREADGROUP one task from its own stream `{ns}:tasks:{id}` (tasks placed on it) or the
 * shared `{ns}:tasks`, skip it if its stage is no longer wanted (`{stage}:live` gone), run it with
 * runTask (TaskContext.blocks = the Redis block store, cache = a Map local to this worker), then in
 * one MULTI post the result or error to the stage's result stream and XACK + XDEL the entry. See
 * ./redis-cluster.ts for the driver's half (retries, reclaiming tasks of dead workers).
 *
 * SIGTERM/SIGINT: finish the task in hand, deregister, exit 0. A second signal deregisters and
 * exits at once (the driver then reclaims the task in hand immediately).
 */
import { hostname, availableParallelism } from 'node:os';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { runTask, errorToJson } from './task-runner.js';
import type { TaskContext } from './types.js';
import {
  GROUP, Keys, RedisConn, V8_VERSION, decode, encode, field, isBusyGroup, openConn, parseRedisMaster,
  type RedisConnectOptions, type RedisTarget, type ResultEnvelope, type StreamReply, type TaskEnvelope, type WorkerRecord,
} from './redis-common.js';
import { RedisBlockStore } from './redis-block-store.js';

export interface RedisWorkerOptions extends RedisConnectOptions {
  /** cores offered (TaskContext.cores; default: all of this machine's) */
  cores?: number;
  /** heartbeat interval (ms, default 1000); the worker is presumed dead 4 intervals after its last beat */
  heartbeatMs?: number;
  /** worker id (default `{hostname}-{pid}-{random}`) */
  id?: string;
  /** progress lines (default: none) */
  log?: (line: string) => void;
}

/** How long results of a stage whose driver is gone stay in Redis (ms). */
const RESULT_TTL_MS = 10 * 60_000;
const BLOCK_MS = 1000;

export class RedisWorker {
  readonly id: string;
  readonly cores: number;
  readonly blocks: RedisBlockStore;
  private readonly keys: Keys;
  private readonly cache = new Map<string, unknown>();
  private readonly record: WorkerRecord;
  private heartbeat: Worker | undefined;
  private stopping = false;
  private done: Promise<void> | undefined;
  /** tasks run (results or errors posted) */
  tasksRun = 0;

  /** Connects, registers and starts heartbeating; call run() to take tasks. */
  static async start(master: string, opts: RedisWorkerOptions = {}): Promise<RedisWorker> {
    const target = parseRedisMaster(master, opts);
    const id = opts.id ?? `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
    if (!/^[\w.-]+$/.test(id)) throw new TypeError(`worker id '${id}': use letters, digits, '_', '.', '-'`);
    const cmd = await openConn(target, 'command', `bigdl-worker-${id}`);
    const reader = cmd.duplicate('blocking', `bigdl-worker-${id}-tasks`);
    const w = new RedisWorker(target, id, cmd, reader, opts);
    try {
      await w.register();
    } catch (e) {
      await Promise.all([cmd.close(), reader.close()]);
      throw e;
    }
    return w;
  }

  private constructor(readonly target: RedisTarget, id: string, private readonly cmd: RedisConn, private readonly reader: RedisConn, private readonly opts: RedisWorkerOptions) {
    this.id = id;
    this.cores = opts.cores ?? availableParallelism();
    if (!Number.isInteger(this.cores) || this.cores < 1) throw new TypeError(`cores must be an integer >= 1, got ${this.cores}`);
    const hb = opts.heartbeatMs ?? 1000;
    if (!(hb >= 10)) throw new TypeError(`heartbeatMs must be >= 10, got ${hb}`);
    this.keys = new Keys(target.namespace);
    this.blocks = new RedisBlockStore(cmd);
    this.record = { id, host: hostname(), pid: process.pid, cores: this.cores, ttlMs: 4 * hb, startedAt: Date.now() };
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  private async register(): Promise<void> {
    await this.ensureGroups();
    // the first heartbeat key lives long enough for the heartbeat thread to start on a busy machine
    await this.cmd.call('registering the worker', (c) => c.multi()
      .set(this.keys.heartbeat(this.id), String(Date.now()), 'PX', Math.max(this.record.ttlMs, 15_000))
      .hset(this.keys.workers, this.id, JSON.stringify(this.record))
      .exec());
    const hb = new Worker(new URL('./redis-heartbeat.js', import.meta.url), {
      workerData: { target: this.target, record: this.record, intervalMs: this.opts.heartbeatMs ?? 1000 },
    });
    this.heartbeat = hb;
    hb.unref();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the heartbeat thread could not reach Redis at ${this.target.address} in ${this.target.unreachableTimeoutMs} ms`)),
        this.target.unreachableTimeoutMs);
      hb.once('message', () => { clearTimeout(timer); resolve(); });
      hb.once('error', (e) => { clearTimeout(timer); reject(new Error(`the heartbeat thread failed: ${e.message}`)); });
    }).catch(async (e) => {
      await hb.terminate();
      throw e;
    });
    hb.on('error', (e) => this.log(`heartbeat thread failed: ${e.message}`));
  }

  private async ensureGroups(): Promise<void> {
    await this.cmd.pipeline('creating the task consumer groups', (p) => {
      p.xgroup('CREATE', this.keys.workerTasks(this.id), GROUP, '0', 'MKSTREAM');
      p.xgroup('CREATE', this.keys.sharedTasks, GROUP, '0', 'MKSTREAM');
    }, isBusyGroup);
  }

  /** Takes and runs tasks until stop(); rejects when Redis stays unreachable (see RedisConnectOptions). */
  run(): Promise<void> {
    this.done ??= this.loop().finally(() => this.shutdown());
    return this.done;
  }

  /** Graceful stop: finish the task in hand, deregister; resolves when run() has ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.done) await this.done.catch(() => undefined);
    else await this.shutdown();
  }

  /** Stop now: deregister (so the driver reclaims the task in hand at once) within about a second. */
  async abort(): Promise<void> {
    this.stopping = true;
    const hb = this.heartbeat;
    this.heartbeat = undefined;
    await hb?.terminate(); // no beat may re-register us after the goodbye below
    await Promise.race([
      this.cmd.client.multi().del(this.keys.heartbeat(this.id)).hdel(this.keys.workers, this.id).exec().catch(() => undefined),
      new Promise((r) => setTimeout(r, 1000)),
    ]);
  }

  private async loop(): Promise<void> {
    const own = this.keys.workerTasks(this.id);
    const shared = this.keys.sharedTasks;
    while (!this.stopping) {
      let reply: StreamReply;
      try {
        reply = (await this.reader.call('waiting for tasks', (c) =>
          c.xreadgroupBuffer('GROUP', GROUP, this.id, 'COUNT', 1, 'BLOCK', BLOCK_MS, 'STREAMS', own, shared, '>', '>'))) as StreamReply;
      } catch (e) {
        // Redis restarted or was flushed (NOGROUP), or a driver that took us for dead removed our
        // stream while we waited on it (UNBLOCKED): recreate and go on
        if (/NOGROUP|UNBLOCKED/.test((e as Error).message)) { await this.ensureGroups(); continue; }
        throw e;
      }
      if (!reply) continue;
      // tasks placed on this worker first
      const entries = reply.flatMap(([stream, list]) => list.map(([id, fields]) => ({ stream: stream.toString(), id: id.toString(), fields })))
        .sort((a, b) => (a.stream === own ? 0 : 1) - (b.stream === own ? 0 : 1));
      for (const e of entries) await this.handle(e.stream, e.id, e.fields);
    }
  }

  private async handle(stream: string, entryId: string, fields: Buffer[]): Promise<void> {
    const drop = () => this.cmd.pipeline('dropping a task', (p) => { p.xack(stream, GROUP, entryId); p.xdel(stream, entryId); }, () => true);
    const stage = field(fields, 's')?.toString();
    const taskId = field(fields, 'id')?.toString();
    const attempt = Number(field(fields, 'a')?.toString());
    if (!stage || !taskId || !Number.isInteger(attempt)) {
      this.log(`dropping malformed entry ${entryId} of ${stream}`);
      await drop();
      return;
    }
    const wanted = await this.cmd.call('checking the stage', (c) => c.exists(`${stage}:live`));
    if (!wanted) {
      await drop(); // its driver finished, failed or went away
      return;
    }
    const t0 = performance.now();
    const result: ResultEnvelope = { taskId, attempt, worker: this.id, ms: 0, ok: true };
    let payload: Buffer;
    try {
      const env = decode<TaskEnvelope>(field(fields, 't'), field(fields, 'v')?.toString(), `task ${taskId}`);
      payload = await this.run1(env, result, t0);
    } catch (e) {
      result.ok = false;
      result.ms = performance.now() - t0;
      delete result.value;
      result.error = errorToJson(e);
      payload = encode(result, 'an error');
      this.log(`task ${taskId} (attempt ${attempt}) failed: ${result.error.message}`);
    }
    const res = `${stage}:res`;
    await this.cmd.call(`posting the result of task ${taskId}`, async (c) => {
      const replies = await c.multi()
        .xadd(res, '*', 'w', this.id, 'v', V8_VERSION, 'r', payload)
        .pexpire(res, RESULT_TTL_MS)
        .xack(stream, GROUP, entryId)
        .xdel(stream, entryId)
        .exec();
      const err = replies?.[0]?.[0];
      if (err) throw err;
      if (!replies) throw new Error('transaction aborted');
    });
    this.tasksRun++;
  }

  /** Runs the task; returns the encoded result (throws when the task or the encoding fails). */
  private async run1(env: TaskEnvelope, result: ResultEnvelope, t0: number): Promise<Buffer> {
    const ctx: TaskContext = {
      taskId: env.spec.id, partition: env.spec.partition, workerId: this.id, cores: this.cores, blocks: this.blocks, cache: this.cache,
    };
    result.value = await runTask(env.spec, ctx);
    result.ms = performance.now() - t0;
    return encode(result, `the value returned by task ${env.spec.id}`);
  }

  private async shutdown(): Promise<void> {
    const hb = this.heartbeat;
    this.heartbeat = undefined;
    if (hb) {
      await Promise.race([
        new Promise<void>((resolve) => { hb.once('message', () => resolve()); hb.once('exit', () => resolve()); hb.postMessage('stop'); }),
        new Promise((r) => setTimeout(r, 1000)),
      ]);
      await hb.terminate();
    }
    const own = this.keys.workerTasks(this.id);
    try {
      await Promise.race([
        (async () => {
          await this.cmd.client.multi()
            .del(this.keys.heartbeat(this.id))
            .hdel(this.keys.workers, this.id)
            .xgroup('DELCONSUMER', this.keys.sharedTasks, GROUP, this.id)
            .exec();
          // tasks still queued on our own stream are moved back by the driver
          if (Number(await this.cmd.client.xlen(own)) === 0) await this.cmd.client.del(own);
        })(),
        new Promise((r) => setTimeout(r, 2000)),
      ]);
    } catch {
      // Redis gone: the heartbeat key expires on its own
    }
    await Promise.all([this.cmd.close(), this.reader.close()]);
  }
}

const WORKER_USAGE = `usage: bigdl worker --master redis://host:6379 [options]

Joins a Redis-coordinated cluster and runs tasks until SIGTERM/SIGINT (a second signal stops at once).

options:
  --master URL             redis://[user[:password]@]host[:port][/db][?namespace=name]; rediss:// for TLS
  --cores N                cores this worker offers (default: all, here ${availableParallelism()})
  --user NAME              Redis ACL user
  --password X             Redis password (or set BIGDL_REDIS_PASSWORD, which keeps it out of ps)
  --tls                    connect with TLS
  --tls-ca FILE            CA certificate(s) to trust for TLS (PEM)
  --namespace NAME         key namespace shared with the driver (default bigdl)
  --heartbeat-ms N         heartbeat interval; presumed dead after 4 missed beats (default 1000)
  --unreachable-timeout S  give up after Redis was unreachable this long (seconds, default 30)`;

/** `bigdl worker ...`: returns the exit code. */
export async function runWorkerCli(argv: string[]): Promise<number> {
  const { CliUsageError } = await import('../../cli/datasets.js');
  const { values } = parseArgs({
    args: argv,
    options: {
      master: { type: 'string' }, cores: { type: 'string' }, user: { type: 'string' }, password: { type: 'string' },
      tls: { type: 'boolean' }, 'tls-ca': { type: 'string' }, namespace: { type: 'string' }, 'heartbeat-ms': { type: 'string' },
      'unreachable-timeout': { type: 'string' }, help: { type: 'boolean' },
    },
    strict: true, allowPositionals: false,
  });
  if (values.help) {
    console.log(WORKER_USAGE);
    return 0;
  }
  if (!values.master) throw new CliUsageError('--master redis://host:port is required');
  const intOpt = (flag: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new CliUsageError(`${flag} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
  const secs = values['unreachable-timeout'];
  const unreachable = secs === undefined ? undefined : Number(secs);
  if (unreachable !== undefined && !(unreachable > 0)) throw new CliUsageError(`--unreachable-timeout must be a positive number of seconds, got '${secs}'`);
  let tls: RedisConnectOptions['tls'];
  if (values['tls-ca']) tls = { ca: readFileSync(values['tls-ca']) };
  else if (values.tls) tls = true;
  let target: RedisTarget;
  try {
    target = parseRedisMaster(values.master, {});
  } catch (e) {
    throw new CliUsageError((e as Error).message);
  }
  const worker = await RedisWorker.start(values.master, {
    cores: intOpt('--cores', values.cores, 1),
    heartbeatMs: intOpt('--heartbeat-ms', values['heartbeat-ms'], 10),
    username: values.user,
    password: values.password ?? process.env.BIGDL_REDIS_PASSWORD,
    tls,
    namespace: values.namespace,
    unreachableTimeoutMs: unreachable === undefined ? undefined : unreachable * 1000,
    log: (line) => console.error(`bigdl worker: ${line}`),
  });
  console.log(`bigdl worker ${worker.id}: connected to ${target.address}${worker.target.tls ? ' (TLS)' : ''}, ${worker.cores} cores`);
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      console.error(`bigdl worker ${worker.id}: ${sig}: finishing the task in hand, then stopping (send it again to stop at once)`);
      void worker.stop();
    } else {
      void worker.abort().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await worker.run();
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  console.log(`bigdl worker ${worker.id}: stopped after ${worker.tasksRun} tasks`);
  return 0;
}

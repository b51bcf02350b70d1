/**
 * The `redis://host:port` cluster backend, driver side. Many machines run `bigdl worker --master
 * redis://host:port` (./redis-worker.ts); this class hands them tasks and collects results through
 * Redis Streams consumer groups — no RPC layer of our own:
 *
 * - runStage XADDs one entry per task to `{ns}:tasks` (any worker), or to `{ns}:tasks:{worker}`
 *   when the task prefers a live worker or is a retry that should avoid the workers it failed on.
 *   Workers XREADGROUP (group `workers`, consumer = worker id), run the task, then in one MULTI post
 *   the result to the stage's result stream and XACK + XDEL the task entry. The driver XREADs the
 *   result stream (blocking), so a result is never lost between "done" and "acknowledged".
 * - Errors come back as results: the driver requeues the task (attempt + 1) on another live worker
 *   when there is one, up to maxAttempts, then fails the stage naming task, worker and message.
 * - Failure detection: a worker is alive while its heartbeat key `{ns}:hb:{id}` exists (a thread of
 *   the worker refreshes it with PX ttl, so long synchronous tasks do not starve it). Every
 *   `checkIntervalMs` the driver looks up each outstanding task's entry with XPENDING (which
 *   consumer holds it, for how long) and XRANGE (still queued?). An entry held by a consumer whose
 *   heartbeat key is gone — or held longer than the stage's taskTimeoutMs — is reclaimed: XACK
 *   (whose reply says whether the worker acknowledged first: then its result is already in the
 *   result stream) + XDEL, and requeued with attempt + 1. Entries queued on a dead worker's own
 *   stream are moved back to the shared stream. An entry that is nowhere (Redis restarted without
 *   persistence, or flushed) and has no result after two checks is requeued too.
 * - Redis unreachable: every call retries with backoff for unreachableTimeoutMs, then the stage
 *   fails with an error naming the address. No live worker for noWorkersTimeoutMs fails it too.
 * - Tasks are idempotent (see ./types.ts), so a duplicate run (a worker presumed dead that was only
 *   slow) is harmless: the first result of a task wins, later ones are dropped.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Json, StageSpec, TaskResult, TaskSpec, WorkerInfo } from './types.js';
import {
  GROUP, Keys, RedisConn, V8_VERSION, decode, encode, field, isBusyGroup, openConn, parseRedisMaster,
  type RedisConnectOptions, type RedisTarget, type ResultEnvelope, type StreamReply, type TaskEnvelope, type WorkerRecord,
} from './redis-common.js';
import { RedisBlockStore } from './redis-block-store.js';

export { RedisAuthError, RedisUnavailableError } from './redis-common.js';

export interface StageProgress {
  stageId: string;
  total: number;
  done: number;
  /** tasks a worker holds right now (as of the last check) */
  running: number;
  /** requeues so far: errors retried, tasks reclaimed from dead or timed-out workers */
  retries: number;
  /** live workers (as of the last check) */
  workers: number;
  /** what just happened, when it was a retry or a reclaim (e.g. "task s-3 lost: worker w stopped sending heartbeats; requeued as attempt 2") */
  event?: string;
}

export interface RedisClusterOptions extends RedisConnectOptions {
  /** how often the driver checks for dead workers, lost and timed-out tasks (ms, default 500) */
  checkIntervalMs?: number;
  /** a stage with tasks left and no live worker for this long fails (ms, default 60000) */
  noWorkersTimeoutMs?: number;
  /** lifetime of the stage's `live` key, refreshed every check; workers skip tasks of stages
   *  whose driver stopped refreshing it (ms, default 15000) */
  stageTtlMs?: number;
  /** how long a task may wait on its preferred worker's queue before any worker may take it
   *  (ms, default 3000; preferredWorker is a hint) */
  localityWaitMs?: number;
  /** called when a stage makes progress (a result, a retry, a check) */
  onProgress?: (p: StageProgress) => void;
}

/** A stage failed: a task failed or was lost maxAttempts times. */
export class StageFailedError extends Error {
  override name = 'StageFailedError';
  constructor(message: string, readonly stageId: string, readonly taskId?: string, readonly worker?: string, readonly remoteStack?: string) {
    super(message);
  }
}

interface TaskState {
  spec: TaskSpec;
  index: number;
  attempt: number;
  stream: string;
  entry: string;
  result?: TaskResult;
  failedOn: Set<string>;
  /** when its current entry was queued */
  queuedAt: number;
  /** it waited localityWaitMs on a worker's queue: any worker may take it now */
  unpinned?: boolean;
  /** entry id seen nowhere at the previous check */
  suspect?: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function validateStage(stage: StageSpec): void {
  if (!stage || typeof stage.id !== 'string' || !Array.isArray(stage.tasks)) throw new TypeError('runStage: expected { id: string, tasks: TaskSpec[] }');
  const ids = new Set<string>();
  for (const t of stage.tasks) {
    if (!t || typeof t.id !== 'string' || t.id === '') throw new TypeError(`stage '${stage.id}': every task needs a non-empty string id`);
    if (ids.has(t.id)) throw new TypeError(`stage '${stage.id}': task id '${t.id}' appears twice`);
    ids.add(t.id);
    if (!t.fn || typeof t.fn.module !== 'string' || typeof t.fn.exportName !== 'string') {
      throw new TypeError(`stage '${stage.id}': task '${t.id}' has no FnRef (use shippable()/fnRef() from ./ship.js)`);
    }
  }
  const m = stage.maxAttempts ?? 4;
  if (!Number.isInteger(m) || m < 1) throw new TypeError(`stage '${stage.id}': maxAttempts must be an integer >= 1, got ${m}`);
  if (stage.taskTimeoutMs !== undefined && !(stage.taskTimeoutMs > 0)) throw new TypeError(`stage '${stage.id}': taskTimeoutMs must be positive, got ${stage.taskTimeoutMs}`);
}

export class RedisCluster implements Cluster {
  readonly master: string;
  readonly blocks: RedisBlockStore;
  private readonly keys: Keys;
  private readonly run = randomBytes(6).toString('hex');
  private seq = 0;
  private readonly idleReaders: RedisConn[] = [];
  private readonly readers = new Set<RedisConn>();
  private closed = false;
  private readonly checkMs: number;
  private readonly noWorkersMs: number;
  private readonly stageTtlMs: number;
  private readonly localityWaitMs: number;

  /** Connects to the Redis at `master` (`redis://[user:pass@]host:port[/db]`); see RedisClusterOptions. */
  static async connect(master: string, opts: RedisClusterOptions = {}): Promise<RedisCluster> {
    const target = parseRedisMaster(master, opts);
    const conn = await openConn(target, 'command', `bigdl-driver-${process.pid}`);
    return new RedisCluster(target, conn, opts);
  }

  private constructor(readonly target: RedisTarget, private readonly conn: RedisConn, private readonly opts: RedisClusterOptions) {
    this.master = target.address;
    this.keys = new Keys(target.namespace);
    this.blocks = new RedisBlockStore(conn);
    this.checkMs = opts.checkIntervalMs ?? 500;
    this.noWorkersMs = opts.noWorkersTimeoutMs ?? 60_000;
    this.stageTtlMs = Math.max(opts.stageTtlMs ?? 15_000, 4 * this.checkMs);
    this.localityWaitMs = opts.localityWaitMs ?? 3000;
  }

  async workers(): Promise<WorkerInfo[]> {
    const all = await this.conn.call('listing workers', (c) => c.hgetall(this.keys.workers));
    const ids = Object.keys(all);
    if (ids.length === 0) return [];
    const ttls = await this.conn.pipeline('reading worker heartbeats', (p) => { for (const id of ids) p.pttl(this.keys.heartbeat(id)); });
    const live: WorkerInfo[] = [];
    const dead: string[] = [];
    ids.forEach((id, i) => {
      const pttl = Number(ttls[i]);
      let rec: WorkerRecord;
      try {
        rec = JSON.parse(all[id]) as WorkerRecord;
      } catch {
        dead.push(id);
        return;
      }
      if (pttl === -2) { dead.push(id); return; }
      const lastSeenMs = pttl < 0 ? 0 : Math.max(0, rec.ttlMs - pttl);
      live.push({ id, host: rec.host, pid: rec.pid, cores: rec.cores, lastSeenMs });
    });
    if (dead.length > 0) await this.forget(dead);
    return live.sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * Cleans up after dead workers: their registration, their empty task stream and their consumer go
   * once they hold no entry any stage still wants. Entries of stages whose driver is gone (their
   * `live` key expired) are acknowledged and deleted here; entries of live stages are left to the
   * stage, which reclaims them (so a dead worker stays registered, unlisted, until then). A worker
   * that was only slow re-registers with its next heartbeat and recreates what it needs.
   */
  private async forget(dead: string[]): Promise<void> {
    const shared = this.keys.sharedTasks;
    const looks = await this.conn.pipeline('looking at dead workers', (p) => {
      for (const id of dead) {
        p.xlen(this.keys.workerTasks(id));
        p.xpending(shared, GROUP, '-', '+', 100, id);
      }
    }, (e) => e.name === 'ReplyError');
    const held = dead.map((_, i) => (Array.isArray(looks[2 * i + 1]) ? (looks[2 * i + 1] as [string][]).map((e) => e[0]) : []));
    const entryIds = held.flat();
    const orphans = new Set<string>();
    if (entryIds.length > 0) {
      const entries = await this.conn.pipeline('reading entries of dead workers', (p) => { for (const e of entryIds) p.xrangeBuffer(shared, e, e); }, (e) => e.name === 'ReplyError');
      const stages = entries.map((r) => {
        const fields = Array.isArray(r) && r.length > 0 ? (r[0] as [Buffer, Buffer[]])[1] : undefined;
        return fields ? field(fields, 's')?.toString() : undefined;
      });
      const liveness = await this.conn.pipeline('checking stages of dead workers', (p) => {
        for (const st of stages) p.exists(st ? `${st}:live` : `${this.keys.ns}:none`);
      });
      entryIds.forEach((e, i) => { if (!stages[i] || Number(liveness[i]) === 0) orphans.add(e); });
    }
    const clean = dead.filter((_, i) => Number(looks[2 * i]) === 0 && held[i].every((e) => orphans.has(e)));
    if (clean.length === 0 && orphans.size === 0) return;
    await this.conn.pipeline('pruning dead workers', (p) => {
      for (const e of orphans) { p.xack(shared, GROUP, e); p.xdel(shared, e); }
      if (clean.length > 0) p.hdel(this.keys.workers, ...clean);
      for (const id of clean) {
        p.del(this.keys.workerTasks(id));
        p.xgroup('DELCONSUMER', shared, GROUP, id);
      }
    }, (e) => e.name === 'ReplyError');
  }

  async totalCores(): Promise<number> {
    return (await this.workers()).reduce((s, w) => s + w.cores, 0);
  }

  async runStage(stage: StageSpec): Promise<TaskResult[]> {
    if (this.closed) throw new Error(`runStage: the cluster at ${this.master} is closed`);
    validateStage(stage);
    if (stage.tasks.length === 0) return [];
    const maxAttempts = stage.maxAttempts ?? 4;
    const base = this.keys.stage(this.run, this.seq++);
    const liveKey = `${base}:live`;
    const resKey = `${base}:res`;
    const states = stage.tasks.map((spec, index): TaskState => ({ spec, index, attempt: 1, stream: '', entry: '', failedOn: new Set(), queuedAt: 0 }));
    const byId = new Map(states.map((s) => [s.spec.id, s]));
    // refuse what cannot travel, on the driver, naming the task
    for (const s of states) encode(s.spec, `stage '${stage.id}': task '${s.spec.id}'`);
    let done = 0;
    let retries = 0;
    let running = 0;
    let live = new Map<string, WorkerInfo>();
    let noWorkersSince: number | undefined;
    const progress = (event?: string) => this.opts.onProgress?.({ stageId: stage.id, total: states.length, done, running, retries, workers: live.size, event });

    const submit = async (batch: TaskState[]) => {
      if (batch.length === 0) return;
      for (const s of batch) s.stream = this.placement(s, live);
      const streams = [...new Set(batch.map((s) => s.stream))];
      const replies = await this.conn.pipeline(`queueing ${batch.length} tasks of stage '${stage.id}'`, (p) => {
        for (const st of streams) p.xgroup('CREATE', st, GROUP, '0', 'MKSTREAM');
        for (const s of batch) {
          const env: TaskEnvelope = { stage: base, attempt: s.attempt, spec: s.spec };
          p.xadd(s.stream, '*', 's', base, 'id', s.spec.id, 'a', String(s.attempt), 'v', V8_VERSION, 't', encode(env, `task '${s.spec.id}'`));
        }
      }, (e, i) => i < streams.length && isBusyGroup(e));
      const now = Date.now();
      batch.forEach((s, i) => { s.entry = String(replies[streams.length + i]); s.suspect = undefined; s.queuedAt = now; });
    };

    const fail = (msg: string, s?: TaskState, worker?: string, remoteStack?: string): never => {
      throw new StageFailedError(`stage '${stage.id}': ${msg}`, stage.id, s?.spec.id, worker, remoteStack);
    };

    const onResult = (r: ResultEnvelope, requeue: TaskState[]) => {
      const s = byId.get(r.taskId);
      if (!s || s.result) return;
      if (r.ok) {
        s.result = { taskId: r.taskId, worker: r.worker, value: (r.value ?? null) as Json, attempts: r.attempt, ms: r.ms };
        done++;
        return;
      }
      if (r.attempt !== s.attempt) return; // an error from an attempt already given up on
      s.failedOn.add(r.worker);
      const message = r.error?.message ?? 'unknown error';
      if (s.attempt >= maxAttempts) {
        fail(`task '${s.spec.id}' failed ${s.attempt} time${s.attempt > 1 ? 's' : ''}; last error on worker ${r.worker}: ${message}`, s, r.worker, r.error?.stack);
      }
      s.attempt++;
      s.unpinned = false;
      retries++;
      requeue.push(s);
      progress(`task ${s.spec.id} failed on worker ${r.worker} (${message}); requeued as attempt ${s.attempt}`);
    };

    const check = async () => {
      await this.conn.call(`refreshing stage '${stage.id}'`, (c) => c.set(liveKey, '1', 'PX', this.stageTtlMs));
      live = new Map((await this.workers()).map((w) => [w.id, w]));
      if (live.size === 0) {
        noWorkersSince ??= Date.now();
        if (Date.now() - noWorkersSince > this.noWorkersMs) {
          fail(`no live worker at ${this.master} for ${(this.noWorkersMs / 1000).toFixed(this.noWorkersMs < 10_000 ? 1 : 0)} s with ${states.length - done} task(s) left; ` +
            `start workers with: bigdl worker --master ${this.master}`);
        }
      } else noWorkersSince = undefined;
      const open = states.filter((s) => !s.result);
      if (open.length === 0) return;
      const looks = await this.conn.pipeline(`checking tasks of stage '${stage.id}'`, (p) => {
        for (const s of open) {
          p.xpending(s.stream, GROUP, s.entry, s.entry, 1);
          p.xrange(s.stream, s.entry, s.entry);
        }
      }, (e) => e.name === 'ReplyError'); // no stream / no group (Redis restarted): seen as "nowhere"
      // decide who is alive among the holders of pending entries
      const holders = new Set<string>();
      const where = open.map((s, i) => {
        const pend = looks[2 * i];
        const range = looks[2 * i + 1];
        const p = Array.isArray(pend) && pend.length > 0 ? (pend[0] as [string, string, number, number]) : undefined;
        if (p) holders.add(p[1]);
        const queued = Array.isArray(range) && range.length > 0;
        return { s, p, queued };
      });
      const owners = new Set<string>();
      for (const { s, p, queued } of where) {
        if (!p && queued && s.stream !== this.keys.sharedTasks) owners.add(s.stream.slice(this.keys.sharedTasks.length + 1));
      }
      const alive = await this.aliveSet([...holders, ...owners], live);
      running = 0;
      const reclaim: { s: TaskState; why: string; worker: string; delivered: boolean }[] = [];
      for (const { s, p, queued } of where) {
        if (p) {
          s.suspect = undefined;
          const [, consumer, idle] = p;
          if (!alive.has(consumer)) reclaim.push({ s, why: `lost: worker ${consumer} is gone (no heartbeat)`, worker: consumer, delivered: true });
          else if (stage.taskTimeoutMs !== undefined && idle > stage.taskTimeoutMs) {
            reclaim.push({ s, why: `timed out after ${stage.taskTimeoutMs} ms on worker ${consumer}`, worker: consumer, delivered: true });
          } else running++;
        } else if (queued) {
          s.suspect = undefined;
          const owner = s.stream === this.keys.sharedTasks ? undefined : s.stream.slice(this.keys.sharedTasks.length + 1);
          if (owner !== undefined && !alive.has(owner)) reclaim.push({ s, why: `queued on worker ${owner}, which left`, worker: owner, delivered: false });
          else if (owner !== undefined && Date.now() - s.queuedAt > this.localityWaitMs) {
            s.unpinned = true;
            reclaim.push({ s, why: `waited ${this.localityWaitMs} ms for busy worker ${owner}`, worker: owner, delivered: false });
          }
        } else if (s.suspect === s.entry) {
          reclaim.push({ s, why: 'lost: its queue entry vanished from Redis (restarted or flushed?)', worker: '?', delivered: true });
        } else s.suspect = s.entry;
      }
      if (reclaim.length > 0) {
        const replies = await this.conn.pipeline(`reclaiming ${reclaim.length} tasks of stage '${stage.id}'`, (p) => {
          for (const { s } of reclaim) { p.xack(s.stream, GROUP, s.entry); p.xdel(s.stream, s.entry); }
        }, (e) => e.name === 'ReplyError');
        const requeue: TaskState[] = [];
        reclaim.forEach(({ s, why, worker, delivered }, i) => {
          const acked = Number(replies[2 * i]) === 1;
          const deleted = Number(replies[2 * i + 1]) === 1;
          // the worker acknowledged first: its result is in the result stream, nothing to do
          if (delivered && worker !== '?' && !acked) return;
          if (!delivered && !deleted) return;
          if (delivered) {
            if (worker !== '?') s.failedOn.add(worker);
            if (s.attempt >= maxAttempts) fail(`task '${s.spec.id}' ${why} (attempt ${s.attempt} of ${maxAttempts})`, s, worker);
            s.attempt++;
            s.unpinned = false;
          }
          if (delivered) retries++;
          requeue.push(s);
          progress(`task ${s.spec.id} ${why}; requeued${delivered ? ` as attempt ${s.attempt}` : ''}`);
        });
        await submit(requeue);
      }
      progress();
    };

    const reader = this.takeReader();
    let readerBroken = false;
    try {
      await this.conn.call(`starting stage '${stage.id}'`, (c) => c.set(liveKey, '1', 'PX', this.stageTtlMs));
      live = new Map((await this.workers()).map((w) => [w.id, w]));
      await submit(states);
      progress();
      let lastId = '0';
      let nextCheck = Date.now() + this.checkMs;
      while (done < states.length) {
        const wait = Math.max(1, Math.min(this.checkMs, nextCheck - Date.now()));
        const reply = (await reader.call(`waiting for results of stage '${stage.id}'`,
          (c) => c.xreadBuffer('COUNT', 1000, 'BLOCK', wait, 'STREAMS', resKey, lastId))) as StreamReply;
        let got = 0;
        const requeue: TaskState[] = [];
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            lastId = id.toString();
            got++;
            const worker = field(fields, 'w')?.toString() ?? '?';
            let r: ResultEnvelope;
            try {
              r = decode<ResultEnvelope>(field(fields, 'r'), field(fields, 'v')?.toString(), `a result from worker ${worker}`);
            } catch (e) {
              fail((e as Error).message, undefined, worker);
            }
            onResult(r!, requeue);
          }
        }
        if (got > 0) {
          await submit(requeue);
          progress();
          if (got >= 1000) continue; // drain before checking, so "nowhere" really means lost
          await this.conn.call('trimming results', (c) => c.xtrim(resKey, 'MINID', lastId)).catch(() => undefined);
        }
        if (done < states.length && Date.now() >= nextCheck) {
          await check();
          nextCheck = Date.now() + this.checkMs;
        }
      }
      return states.map((s) => s.result!);
    } catch (e) {
      readerBroken = !(e instanceof StageFailedError);
      throw e;
    } finally {
      await this.cleanup(base, states, readerBroken);
      if (readerBroken || this.closed) { this.readers.delete(reader); void reader.close(); } else this.idleReaders.push(reader);
    }
  }

  /** Which stream a task goes to: a live preferred worker's, another live worker's for a retry, else shared. */
  private placement(s: TaskState, live: Map<string, WorkerInfo>): string {
    if (s.unpinned) return this.keys.sharedTasks;
    if (s.attempt === 1) {
      const pref = s.spec.preferredWorker;
      return pref && live.has(pref) ? this.keys.workerTasks(pref) : this.keys.sharedTasks;
    }
    if (s.failedOn.size === 0) return this.keys.sharedTasks;
    const others = [...live.keys()].filter((w) => !s.failedOn.has(w));
    if (others.length === 0) return this.keys.sharedTasks;
    return this.keys.workerTasks(others[Math.floor(Math.random() * others.length)]);
  }

  /** The ids among `ids` whose heartbeat key exists. */
  private async aliveSet(ids: string[], live: Map<string, WorkerInfo>): Promise<Set<string>> {
    const alive = new Set<string>();
    const unknown = [...new Set(ids)].filter((id) => { if (live.has(id)) { alive.add(id); return false; } return true; });
    if (unknown.length > 0) {
      const ex = await this.conn.pipeline('reading heartbeats', (p) => { for (const id of unknown) p.exists(this.keys.heartbeat(id)); });
      unknown.forEach((id, i) => { if (Number(ex[i]) === 1) alive.add(id); });
    }
    return alive;
  }

  /** End of a stage: workers stop taking its tasks, queued ones are dropped, results deleted. */
  private async cleanup(base: string, states: TaskState[], redisBroken: boolean): Promise<void> {
    const open = states.filter((s) => !s.result && s.entry);
    const work = this.conn.pipeline('cleaning up a stage', (p) => {
      p.del(`${base}:live`, `${base}:res`);
      for (const s of open) { p.xack(s.stream, GROUP, s.entry); p.xdel(s.stream, s.entry); }
    }, () => true).catch(() => undefined);
    // best effort: when Redis is gone the stage has already failed with the reason
    await Promise.race([work, sleep(redisBroken ? 200 : 5000)]);
  }

  private takeReader(): RedisConn {
    const r = this.idleReaders.pop() ?? this.conn.duplicate('blocking', `bigdl-driver-${process.pid}-results`);
    this.readers.add(r);
    return r;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.readers].map((r) => r.close()));
    this.readers.clear();
    this.idleReaders.length = 0;
    await this.conn.close();
  }
}

/** `RedisCluster.connect` under the name the engine's master-URL dispatch uses. */
export function connectRedisCluster(master: string, opts: RedisClusterOptions = {}): Promise<RedisCluster> {
  return RedisCluster.connect(master, opts);
}

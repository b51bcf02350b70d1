/**
 * The heartbeat of a Redis worker, in its own thread: a task that keeps the main thread busy for
 * minutes (a synchronous forward/backward) must not make the worker look dead. Every interval it
 * refreshes `{ns}:hb:{id}` (PX ttl) and the registration in `{ns}:workers` — re-registering after
 * a Redis restart or after a driver pruned it. A worker that is killed stops beating, and the
 * driver reclaims its tasks once the key expires. Started by ./redis-worker.ts; 'stop' ends it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Keys, RedisConn, type RedisTarget, type WorkerRecord } from './redis-common.js';

interface HeartbeatData {
  target: RedisTarget;
  record: WorkerRecord;
  intervalMs: number;
}

const { target, record, intervalMs } = workerData as HeartbeatData;
const keys = new Keys(target.namespace);
const conn = new RedisConn(target, 'heartbeat', `bigdl-hb-${record.id}`);
const c = conn.client;
let busy = false;
let first = true;

async function beat(): Promise<void> {
  if (busy) return;
  busy = true;
  try {
    if (c.status === 'wait' || c.status === 'end') await c.connect().catch(() => undefined);
    await c.multi()
      .set(keys.heartbeat(record.id), String(Date.now()), 'PX', record.ttlMs)
      .hset(keys.workers, record.id, JSON.stringify(record))
      .exec();
    if (first) { first = false; parentPort!.postMessage('beating'); }
  } catch {
    // Redis away: the main thread's calls decide when to give up; keep trying
  } finally {
    busy = false;
  }
}

const timer = setInterval(() => void beat(), intervalMs);
void beat();

parentPort!.on('message', (m: unknown) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  void conn.close().finally(() => parentPort!.postMessage('stopped'));
});

/**
 * What the Redis driver (./redis-cluster.ts), workers (./redis-worker.ts) and block store
 * (./redis-block-store.ts) share: parsing `redis://` masters, connection options (ACL user,
 * password, TLS, database, key namespace), the key layout, and the bounded retry every Redis call
 * goes through — a Redis server that is down or unreachable makes calls retry with backoff for
 * `unreachableTimeoutMs`, then fail with an error that names the address; bad credentials fail at
 * once. Nothing here hangs forever.
 *
 * Key layout (namespace `bigdl` by default, `?namespace=` in the URL or the `namespace` option):
 *   {ns}:workers             hash  worker id -> JSON WorkerRecord (registration)
 *   {ns}:hb:{worker}         string, PX ttl: present while the worker is alive (heartbeat)
 *   {ns}:tasks               stream, consumer group `workers`: tasks any worker may take
 *   {ns}:tasks:{worker}      stream, same group: tasks placed on one worker (preferred worker, retries)
 *   {ns}:stage:{run}:{n}:live    string, PX ttl: present while the driver still wants the stage
 *   {ns}:stage:{run}:{n}:res     stream: results and errors of the stage, read by the driver
 *   {ns}:blk:{key}           string: blocks of the block store
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { hostname } from 'node:os';
import { serialize, deserialize } from 'node:v8';

/** Connection options shared by the driver, the workers and the block store. */
export interface RedisConnectOptions {
  /** ACL user (Redis 6+); overrides the user in the URL */
  username?: string;
  /** overrides the password in the URL */
  password?: string;
  /** TLS: true for defaults (system CAs), or node:tls options; `rediss://` turns it on too */
  tls?: boolean | TlsOptions;
  /** key namespace (default `bigdl`, or `?namespace=` in the URL) */
  namespace?: string;
  /** how long calls keep retrying while Redis is unreachable before failing (ms, default 30000) */
  unreachableTimeoutMs?: number;
}

export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls?: TlsOptions;
  namespace: string;
  unreachableTimeoutMs: number;
  /** the address without credentials, for messages: `redis://host:port` (`/db` when not 0) */
  address: string;
}

/** Redis could not be reached for the whole retry window. */
export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/** The server refused our credentials (wrong password, ACL user) or its TLS certificate was not trusted. Never retried. */
export class RedisAuthError extends Error {
  override name = 'RedisAuthError';
}

export const GROUP = 'workers';
export const DEFAULT_UNREACHABLE_MS = 30_000;

/** Parses `redis://[user[:password]@]host[:port][/db][?namespace=ns]` (or `rediss://` for TLS). */
export function parseRedisMaster(master: string, opts: RedisConnectOptions = {}): RedisTarget {
  const usage = `expected redis://[user[:password]@]host[:port][/db][?namespace=name] (or rediss:// for TLS)`;
  let url: URL;
  try {
    url = new URL(master);
  } catch {
    throw new TypeError(`invalid Redis master '${master}': ${usage}`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new TypeError(`invalid Redis master '${redact(master)}': ${usage}`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new TypeError(`invalid Redis master '${redact(master)}': no host; ${usage}`);
  const port = url.port === '' ? 6379 : Number(url.port);
  const dbText = url.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw new TypeError(`invalid Redis master '${redact(master)}': database '${dbText}' is not a number; ${usage}`);
  for (const k of url.searchParams.keys()) {
    if (k !== 'namespace') throw new TypeError(`invalid Redis master '${redact(master)}': unknown parameter '${k}' (known: namespace)`);
  }
  const namespace = opts.namespace ?? url.searchParams.get('namespace') ?? 'bigdl';
  if (!/^[\w.-]+$/.test(namespace)) throw new TypeError(`invalid Redis namespace '${namespace}': use letters, digits, '_', '.', '-'`);
  const username = opts.username ?? (url.username ? decodeURIComponent(url.username) : undefined);
  const password = opts.password ?? (url.password ? decodeURIComponent(url.password) : undefined);
  const tlsOpt = opts.tls ?? url.protocol === 'rediss:';
  const tls = tlsOpt === true ? {} : tlsOpt === false ? undefined : tlsOpt;
  const unreachableTimeoutMs = opts.unreachableTimeoutMs ?? DEFAULT_UNREACHABLE_MS;
  if (!(unreachableTimeoutMs > 0)) throw new TypeError(`unreachableTimeoutMs must be positive, got ${unreachableTimeoutMs}`);
  const address = `${tls ? 'rediss' : 'redis'}://${host.includes(':') ? `[${host}]` : host}:${port}${db ? `/${db}` : ''}`;
  return { host, port, db, username, password, tls, namespace, unreachableTimeoutMs, address };
}

function redact(master: string): string {
  return master.replace(/\/\/[^@/]*@/, '//***@');
}

/** Key names under the namespace. */
export class Keys {
  constructor(readonly ns: string) {}
  get workers(): string { return `${this.ns}:workers`; }
  heartbeat(worker: string): string { return `${this.ns}:hb:${worker}`; }
  get sharedTasks(): string { return `${this.ns}:tasks`; }
  workerTasks(worker: string): string { return `${this.ns}:tasks:${worker}`; }
  stage(run: string, n: number): string { return `${this.ns}:stage:${run}:${n}`; }
  block(key: string): string { return `${this.ns}:blk:${key}`; }
  get blockPrefix(): string { return `${this.ns}:blk:`; }
}

/** What a worker registers (JSON in the `workers` hash). */
export interface WorkerRecord {
  id: string;
  host: string;
  pid: number;
  cores: number;
  /** heartbeat key lifetime (ms): the worker is presumed dead this long after its last beat */
  ttlMs: number;
  startedAt: number;
}

/**
 * A task as it sits in a task stream: field `t` is the envelope in V8's structured-clone format (the
 * same values local[N] carries over IPC: NaN, typed arrays, Maps survive), beside plain fields
 * `s` (stage), `id`, `a` (attempt) and `v` (V8 version), readable even when `t` is not.
 */
export interface TaskEnvelope {
  /** the stage's key base: `{base}:live` must exist for the task to be run, results go to `{base}:res` */
  stage: string;
  attempt: number;
  spec: import('./types.js').TaskSpec;
}

/** A result as it sits in a stage's result stream: field `r` (structured clone), `w` (worker), `v` (V8 version). */
export interface ResultEnvelope {
  taskId: string;
  attempt: number;
  worker: string;
  ms: number;
  ok: boolean;
  value?: import('./types.js').Json;
  error?: { message: string; stack?: string };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** TLS failures that retrying cannot fix (untrusted or mismatched certificate). */
function isTlsError(e: Error & { code?: string }): boolean {
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|ERR_SSL/.test(e.code ?? '');
}

function isAuthError(e: Error): boolean {
  return /WRONGPASS|NOAUTH|invalid password|invalid username-password|NOPERM|user is disabled/i.test(e.message);
}

/** Errors worth retrying: connection trouble, not a command the server rejected. */
function isTransient(e: Error): boolean {
  if (e.name === 'ReplyError') return /^(LOADING|BUSY |TRYAGAIN|MASTERDOWN|CLUSTERDOWN)/.test(e.message);
  return true;
}

/**
 * One ioredis connection plus the bounded retry. `call(what, fn)` runs fn, retrying transient
 * failures with backoff (50 ms doubling to 1 s) for `unreachableTimeoutMs`; fn must be safe to
 * repeat (every caller's is: reads, idempotent writes, or writes whose duplicates are tolerated).
 */
export class RedisConn {
  readonly client: Redis;
  private lastError: Error | undefined;
  private authError: Error | undefined;
  private closed = false;

  constructor(readonly target: RedisTarget, kind: 'command' | 'blocking' | 'heartbeat', name: string) {
    const options: RedisOptions = {
      host: target.host,
      port: target.port,
      db: target.db,
      username: target.username,
      password: target.password,
      tls: target.tls,
      lazyConnect: true,
      protocol: 2,
      connectionName: name.replace(/[^\w.-]/g, '_'),
      connectTimeout: Math.min(5000, target.unreachableTimeoutMs),
      keepAlive: 5000,
      // commands in flight when the connection drops fail after 2 reconnection attempts; call()
      // decides whether to try again, so the deadline is ours rather than the client's
      maxRetriesPerRequest: 2,
      enableOfflineQueue: kind !== 'heartbeat',
      retryStrategy: (times) => (this.closed || this.authError ? null : Math.min(50 * 2 ** Math.min(times, 5), 1000)),
      // no commandTimeout: call() bounds every attempt by the unreachable window itself
      disconnectTimeout: 200,
    };
    this.client = new Redis(options);
    this.client.on('error', (e: Error) => {
      this.lastError = e;
      if ((e.name === 'ReplyError' && isAuthError(e)) || isTlsError(e)) this.authError = e;
    });
  }

  get address(): string { return this.target.address; }

  private authFailure(e: Error): RedisAuthError {
    if (isTlsError(e)) {
      return new RedisAuthError(`TLS connection to Redis at ${this.address} failed: ${e.message} (${(e as Error & { code?: string }).code}); ` +
        'pass the CA that signed the server certificate (--tls-ca FILE, or the tls.ca option) and connect by the name the certificate is for');
    }
    const who = this.target.username ? `user '${this.target.username}'` : 'the default user';
    return new RedisAuthError(`Redis at ${this.address} refused the credentials of ${who} (${e.message.trim()}); ` +
      'check the password (--password, BIGDL_REDIS_PASSWORD or the URL) and the ACL user');
  }

  /**
   * Runs fn(client), retrying transient failures for a bounded time; see the class comment. An
   * attempt still unanswered when the window closes fails the call too (the window is also the
   * longest a single command may take).
   */
  async call<T>(what: string, fn: (c: Redis) => Promise<T>): Promise<T> {
    const start = Date.now();
    const deadline = start + this.target.unreachableTimeoutMs;
    let delay = 50;
    for (;;) {
      if (this.closed) throw new Error(`${what}: the connection to Redis at ${this.address} was closed`);
      if (this.authError) throw this.authFailure(this.authError);
      if (this.client.status === 'wait') this.client.connect().catch(() => { /* reported through call() */ });
      let timer: NodeJS.Timeout | undefined;
      try {
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no reply in ${this.target.unreachableTimeoutMs} ms`)), Math.max(0, deadline - Date.now()));
        });
        return await Promise.race([fn(this.client), late]);
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        if (err.name === 'ReplyError' && isAuthError(err)) { this.authError = err; throw this.authFailure(err); }
        if (this.authError) throw this.authFailure(this.authError);
        if (!isTransient(err) || this.closed) throw err;
        const cause = this.lastError && this.lastError !== err && /Connection is closed|max retries|Stream isn't writeable|no reply in/i.test(err.message)
          ? this.lastError : err;
        const waited = Date.now() - start;
        if (Date.now() + delay >= deadline) {
          throw new RedisUnavailableError(`Redis at ${this.address} unreachable for ${(waited / 1000).toFixed(1)} s while ${what} ` +
            `(last error: ${cause.message}); is redis-server running and reachable from ${hostname()}?`);
        }
        await sleep(delay);
        delay = Math.min(delay * 2, 1000);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** Runs a pipeline built by `build`; a transient error in any reply retries the whole pipeline. */
  async pipeline(what: string, build: (p: ReturnType<Redis['pipeline']>) => void, tolerate?: (e: Error, i: number) => boolean): Promise<unknown[]> {
    return this.call(what, async (c) => {
      const p = c.pipeline();
      build(p);
      const replies = (await p.exec()) ?? [];
      return replies.map(([err, value], i) => {
        if (err) {
          if (tolerate?.(err, i)) return err;
          throw err;
        }
        return value;
      });
    });
  }

  /** A second connection with the same options (for blocking reads). */
  duplicate(kind: 'command' | 'blocking', name: string): RedisConn {
    return new RedisConn(this.target, kind, name);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const c = this.client;
    if (c.status === 'ready') {
      await Promise.race([c.quit().catch(() => undefined), sleep(500)]);
    }
    c.disconnect();
  }
}

/** Connects (PING) within the retry window; throws RedisAuthError / RedisUnavailableError. */
export async function openConn(target: RedisTarget, kind: 'command' | 'blocking', name: string): Promise<RedisConn> {
  const conn = new RedisConn(target, kind, name);
  try {
    await conn.call('connecting', (c) => c.ping());
  } catch (e) {
    await conn.close();
    throw e;
  }
  return conn;
}

/** `XGROUP CREATE key workers 0 MKSTREAM`, tolerating BUSYGROUP (the group already exists). */
export function isBusyGroup(e: Error): boolean {
  return /BUSYGROUP/.test(e.message);
}

/** Stream entries as ioredis' *Buffer commands return them: [[key, [[id, [field, value, ...]], ...]], ...]. */
export type StreamReply = [Buffer, [Buffer, Buffer[]][]][] | null;

export function field(fields: Buffer[], name: string): Buffer | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i].toString('latin1') === name) return fields[i + 1];
  return undefined;
}

export const V8_VERSION = process.versions.v8;

/** Structured clone to bytes; `what` names the value in the error (a function, a class with private state...). */
export function encode(value: unknown, what: string): Buffer {
  try {
    return serialize(value);
  } catch (e) {
    throw new TypeError(`${what} cannot be sent between machines: ${(e as Error).message} (structured-clone data only: no functions, ` +
      'no class instances with private state; large data goes through the block store)');
  }
}

/** Bytes from encode() back to a value; a clear error when they were written by an incompatible V8. */
export function decode<T>(bytes: Buffer | undefined, writerV8: string | undefined, what: string): T {
  if (!bytes) throw new Error(`${what}: the entry has no payload`);
  try {
    return deserialize(bytes) as T;
  } catch (e) {
    throw new Error(`cannot decode ${what} (${(e as Error).message}): it was written by V8 ${writerV8 ?? '?'}, this process runs ` +
      `V8 ${V8_VERSION} (Node ${process.version}); run the same Node.js version on the driver and every worker`);
  }
}

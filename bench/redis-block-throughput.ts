// Put/get throughput of a 10 MB block through RedisBlockStore on loopback, against plain single
// SET/GET of the same bytes with the same client (what the chunked layout is measured against).
// Not a test (no timing in tests): run `node dist/bench/redis-block-throughput.js [MB] [reps]`
// with redis-server installed; it starts its own server on a free port, or uses $BIGDL_REDIS_URL.
import { parseRedisMaster, openConn } from '../src/engine/cluster/redis-common.js';
import { RedisBlockStore } from '../src/engine/cluster/redis-block-store.js';
import { RedisServer, freePort, redisServerBinary } from '../test/engine/redis-server.js';

const mb = Number(process.argv[2] ?? 10);
const reps = Number(process.argv[3] ?? 15);
let server: RedisServer | undefined;
let url = process.env.BIGDL_REDIS_URL;
if (!url) {
  if (!redisServerBinary()) { console.error('redis-server is not installed (apt-get install redis-server)'); process.exit(1); }
  server = new RedisServer(await freePort());
  await server.start();
  url = server.url;
}
const conn = await openConn(parseRedisMaster(url), 'command', 'throughput');
const store = new RedisBlockStore(conn);
const value = new Uint8Array(mb << 20);
for (let i = 0; i < value.length; i++) value[i] = (i * 2654435761) >>> 24;

const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rate = (ms: number) => `${(mb / (ms / 1000)).toFixed(0)} MB/s (${ms.toFixed(1)} ms)`;
const t = { put: [] as number[], get: [] as number[], set: [] as number[], rawGet: [] as number[] };
for (let r = 0; r < reps; r++) {
  let t0 = performance.now();
  await store.put('throughput', value);
  t.put.push(performance.now() - t0);
  t0 = performance.now();
  const back = await store.get('throughput');
  t.get.push(performance.now() - t0);
  if (!back || back.length !== value.length || back[12345] !== value[12345]) throw new Error('round trip mismatch');
  t0 = performance.now();
  await conn.client.set('bigdl-throughput-raw', Buffer.from(value.buffer));
  t.set.push(performance.now() - t0);
  t0 = performance.now();
  await conn.client.getBuffer('bigdl-throughput-raw');
  t.rawGet.push(performance.now() - t0);
}
await store.delete(['throughput']);
await conn.client.del('bigdl-throughput-raw');
console.log(`${mb} MB block on ${url}, median of ${reps}:`);
console.log(`  RedisBlockStore put ${rate(median(t.put))}, get ${rate(median(t.get))}`);
console.log(`  single SET        ${rate(median(t.set))}, GET ${rate(median(t.rawGet))}`);
await conn.close();
await server?.kill();

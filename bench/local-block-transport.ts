// Measures what moving one block between the driver and a worker process costs, both ways, for the
// two designs a local[N] block store could use: files in a directory both processes open
// (FileBlockStore, the one LocalCluster uses) and the driver's memory with the bytes sent over
// Node's IPC channel (serialization: 'advanced', as LocalCluster's control messages use).
// Not a test: run `node dist/bench/local-block-transport.js [MB] [reps]` after tsc.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FileBlockStore } from '../src/engine/cluster/block-store-file.js';

type Msg = { kind: string; data?: Uint8Array; dir?: string; key?: string; ms?: number };

if (process.argv[2] === 'child') {
  const send = (m: Msg) => process.send!(m);
  let kept: Uint8Array | undefined;
  process.on('message', async (m: Msg) => {
    if (m.kind === 'ipc-down') {
      kept = m.data;
      send({ kind: 'ok' });
    } else if (m.kind === 'ipc-up') {
      send({ kind: 'ok', data: kept });
    } else if (m.kind === 'file-get') {
      const t = performance.now();
      const v = await new FileBlockStore(m.dir!).get(m.key!);
      kept = v;
      send({ kind: 'ok', ms: performance.now() - t });
    } else if (m.kind === 'file-put') {
      const t = performance.now();
      await new FileBlockStore(m.dir!).put(m.key!, kept!);
      send({ kind: 'ok', ms: performance.now() - t });
    } else if (m.kind === 'exit') process.exit(0);
  });
  send({ kind: 'ready' });
} else {
  const mb = Number(process.argv[2] ?? 10), reps = Number(process.argv[3] ?? 7);
  const block = new Uint8Array(mb << 20);
  for (let i = 0; i < block.length; i += 997) block[i] = i & 255;
  const child = fork(fileURLToPath(import.meta.url), ['child'], { serialization: 'advanced' });
  const replies: ((m: Msg) => void)[] = [];
  child.on('message', (m: Msg) => replies.shift()?.(m));
  const ask = (m: Msg) => new Promise<Msg>((r) => {
    replies.push(r);
    if (m.kind !== 'wait') child.send(m);
  });
  await ask({ kind: 'wait' });
  const store = FileBlockStore.createTemp();
  const rows: Record<string, number[]> = {};
  const rec = (k: string, v: number) => (rows[k] ??= []).push(v);
  for (let r = 0; r < reps; r++) {
    let t = performance.now();
    await ask({ kind: 'ipc-down', data: block });
    rec('IPC driver -> worker (send + ack)', performance.now() - t);
    t = performance.now();
    const up = await ask({ kind: 'ipc-up' });
    rec('IPC worker -> driver (request + reply)', performance.now() - t);
    if (up.data!.length !== block.length) throw new Error('IPC lost bytes');
    t = performance.now();
    await store.put(`b${r}`, block);
    const put = performance.now() - t;
    rec('file: driver put', put);
    t = performance.now();
    const g = await ask({ kind: 'file-get', dir: store.dir, key: `b${r}` });
    rec('file: worker get (inside the worker)', g.ms!);
    rec('file driver -> worker (put + get request + ack)', put + performance.now() - t);
    t = performance.now();
    const p = await ask({ kind: 'file-put', dir: store.dir, key: `c${r}` });
    const v = await store.get(`c${r}`);
    rec('file worker -> driver (put request + ack + get)', performance.now() - t);
    rec('file: worker put (inside the worker)', p.ms!);
    if (v!.length !== block.length) throw new Error('file lost bytes');
  }
  child.send({ kind: 'exit' });
  await store.destroy();
  const med = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
  console.log(`one ${mb} MB block, ${reps} repetitions: median [min - max] ms`);
  for (const [k, xs] of Object.entries(rows)) console.log(`${k.padEnd(50)} ${med(xs).toFixed(1).padStart(7)}  [${Math.min(...xs).toFixed(1)} - ${Math.max(...xs).toFixed(1)}]`);
}

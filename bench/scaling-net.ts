// The Redis engine's processes for `npm run bench -- scaling`: a redis-server and `bigdl worker`
// processes, either all on loopback or each in its own network namespace ("host") on a bridge,
// every host's veth link rate-limited in both directions (tc tbf), to mimic separate machines.
//
// Addresses: 10.213.0.0/24 exists only on the bridge and in the namespaces made here (bridge/driver
// .1, redis .2, worker i .(10+i)); nothing is sent anywhere else. Everything made here is removed
// by teardown(), which also runs on exit and on SIGINT/SIGTERM.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const PREFIX = 'bdlsc';
const BRIDGE = `${PREFIX}-br`;
const SUBNET = '10.213.0';
const REDIS_NS = `${PREFIX}-redis`;
const workerNs = (i: number) => `${PREFIX}-w${i}`;

function run(cmd: string, args: string[]): { ok: boolean; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: r.status === 0, err: (r.error?.message ?? r.stderr ?? '').trim() };
}

function must(cmd: string, args: string[]): void {
  const r = run(cmd, args);
  if (!r.ok) throw new Error(`${cmd} ${args.join(' ')}: ${r.err}`);
}

export interface Topology {
  /** how the Redis engine's hosts are connected, for the output */
  link: string;
  /** address the driver and workers use for redis */
  redisHost: string;
  /** prefix for a worker's command (`ip netns exec NS`), or none on loopback */
  workerWrap(i: number): string[];
  redisWrap: string[];
  teardown(): void;
}

export function loopback(why: string): Topology {
  return { link: `loopback (${why})`, redisHost: '127.0.0.1', workerWrap: () => [], redisWrap: [], teardown: () => {} };
}

/** Removes whatever a previous (killed) run left: only this bench's own names. */
function cleanup(hosts: number): void {
  const names = run('ip', ['netns', 'list']).ok ? spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout : '';
  for (const line of names.split('\n')) {
    const ns = line.split(' ')[0];
    if (ns.startsWith(`${PREFIX}-`)) run('ip', ['netns', 'del', ns]);
  }
  for (let i = 0; i <= hosts; i++) run('ip', ['link', 'del', `${PREFIX}-h${i}`]);
  run('ip', ['link', 'del', BRIDGE]);
}

/**
 * Bridge + one namespace per host (redis, workers 1..n), veth links shaped to `rate` (tc syntax,
 * e.g. 1gbit) each way with tbf. netem (delay) is added when the kernel has it. Returns a reason
 * instead when this machine does not allow it.
 */
export function namespaces(workers: number, rate: string, delay: string): Topology | string {
  if (process.getuid?.() !== 0) return 'not root: ip netns needs root';
  if (!run('ip', ['-V']).ok || !run('tc', ['-V']).ok) return 'ip/tc not installed (Debian: iproute2)';
  cleanup(workers + 1);
  const made: string[] = [];
  const teardown = () => {
    for (const ns of made) run('ip', ['netns', 'del', ns]);
    cleanup(workers + 1);
  };
  try {
    must('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
    must('ip', ['addr', 'add', `${SUBNET}.1/24`, 'dev', BRIDGE]);
    must('ip', ['link', 'set', BRIDGE, 'up']);
    // netem: try it once on the bridge; this kernel may be built without it
    const netem = run('tc', ['qdisc', 'add', 'dev', BRIDGE, 'root', 'netem', 'delay', delay]);
    run('tc', ['qdisc', 'del', 'dev', BRIDGE, 'root']);
    const hosts = [{ ns: REDIS_NS, ip: `${SUBNET}.2` }, ...Array.from({ length: workers }, (_, i) => ({ ns: workerNs(i + 1), ip: `${SUBNET}.${11 + i}` }))];
    // tbf burst: at least one timer tick of traffic at the rate (and 64 KB), as tc-tbf(8) asks
    const bps = parseRate(rate);
    const burst = `${Math.max(64 * 1024, Math.ceil(bps / 8 / 250))}b`;
    hosts.forEach((h, i) => {
      const outer = `${PREFIX}-h${i}`, inner = `${PREFIX}-i${i}`;
      must('ip', ['netns', 'add', h.ns]);
      made.push(h.ns);
      must('ip', ['link', 'add', outer, 'type', 'veth', 'peer', 'name', inner]);
      must('ip', ['link', 'set', inner, 'netns', h.ns]);
      must('ip', ['link', 'set', outer, 'master', BRIDGE, 'up']);
      must('ip', ['-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', inner]);
      must('ip', ['-n', h.ns, 'link', 'set', inner, 'up']);
      must('ip', ['-n', h.ns, 'link', 'set', 'lo', 'up']);
      // egress of each end: into the host (bridge side) and out of it (namespace side)
      for (const [ns, dev] of [[null, outer], [h.ns, inner]] as const) {
        const base = ns ? ['-n', ns] : [];
        if (netem.ok) must('tc', [...base, 'qdisc', 'add', 'dev', dev, 'root', 'netem', 'delay', delay, 'rate', rate]);
        else must('tc', [...base, 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', rate, 'burst', burst, 'latency', '50ms']);
      }
    });
    const shaping = netem.ok
      ? `netem rate ${rate} delay ${delay} each way`
      : `tbf rate ${rate} each way, no added delay (${delay} asked: ${netemMissing(netem.err)})`;
    return {
      link: `network namespaces: redis and each worker its own host on a bridge, every host link ${shaping}`,
      redisHost: `${SUBNET}.2`,
      workerWrap: (i) => ['ip', 'netns', 'exec', workerNs(i)],
      redisWrap: ['ip', 'netns', 'exec', REDIS_NS],
      teardown,
    };
  } catch (e) {
    teardown();
    return `could not build the namespaces: ${(e as Error).message.split('\n')[0]}`;
  }
}

/** Why netem could not be used, with the kernel's own word when its config is readable. */
function netemMissing(err: string): string {
  let config = '';
  try {
    if (existsSync('/proc/config.gz')) config = gunzipSync(readFileSync('/proc/config.gz')).toString('latin1');
  } catch { /* unreadable: say what tc said */ }
  const tc = err.replace(/^Error:\s*/, '').replace(/\s+/g, ' ').replace(/\.$/, '');
  return config.includes('# CONFIG_NET_SCH_NETEM is not set')
    ? `tc netem: "${tc}": this kernel is built without CONFIG_NET_SCH_NETEM`
    : `tc netem: "${tc}"`;
}

function parseRate(rate: string): number {
  const m = /^(\d+(?:\.\d+)?)(k|m|g)?bit$/i.exec(rate);
  if (!m) throw new Error(`link rate '${rate}': use tc syntax such as 100mbit or 1gbit`);
  return Number(m[1]) * ({ k: 1e3, m: 1e6, g: 1e9 }[(m[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1);
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, host);
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
  });
}

/** Child processes this bench started; killed on exit whatever happens. */
const children = new Set<ChildProcess>();
let hooked = false;
const teardowns: (() => void)[] = [];

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const t of teardowns.splice(0)) t();
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Registers a teardown to run on exit (and on SIGINT/SIGTERM). */
export function onExit(fn: () => void): void {
  hookExit();
  teardowns.push(fn);
}

export async function stopProcess(p: ChildProcess, graceMs = 5000): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
    p.once('exit', () => { clearTimeout(t); resolve(); });
    p.kill('SIGTERM');
  });
}

export class RedisProc {
  private proc: ChildProcess | undefined;
  private out = '';
  constructor(readonly topo: Topology, readonly port: number) {}

  get url(): string { return `redis://${this.topo.redisHost}:${this.port}`; }

  async start(): Promise<void> {
    hookExit();
    const args = ['redis-server', '--port', String(this.port), '--bind', this.topo.redisHost, '--protected-mode', 'no', '--save', '', '--appendonly', 'no'];
    const [cmd, ...rest] = [...this.topo.redisWrap, ...args];
    const proc = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    children.add(proc);
    proc.once('exit', () => children.delete(proc));
    proc.stdout!.on('data', (d) => { this.out = (this.out + d).slice(-4000); });
    proc.stderr!.on('data', (d) => { this.out = (this.out + d).slice(-4000); });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited: ${this.out.slice(-500)}`);
      if (await canConnect(this.topo.redisHost, this.port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server did not start in 10 s: ${this.out.slice(-500)}`);
  }

  async stop(): Promise<void> {
    if (this.proc) await stopProcess(this.proc, 2000);
  }
}

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Starts `bigdl worker` number i (1-based) and resolves once it is connected. */
export function startWorker(topo: Topology, i: number, url: string, namespace: string): Promise<ChildProcess> {
  hookExit();
  const [cmd, ...rest] = [...topo.workerWrap(i), process.execPath, CLI, 'worker', '--master', url, '--cores', '1', '--namespace', namespace, '--heartbeat-ms', '1000'];
  const proc = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BIGDL_THREADS: '1' } });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`worker ${i} did not connect in 30 s: ${out.slice(-500)}`)); }, 30_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d;
      if (/bigdl worker \S+: connected/.test(out)) { clearTimeout(timer); resolve(proc); }
    });
    proc.stderr!.on('data', (d: Buffer) => { out = (out + d).slice(-4000); });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`worker ${i} exited with ${code}: ${out.slice(-500)}`)); });
  });
}

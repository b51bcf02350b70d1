// A throwaway redis-server on loopback for tests and measurements: no persistence, a free port.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';

/** The redis-server binary, or null when it is not installed. */
export function redisServerBinary(): string | null {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? 'redis-server' : null;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
  });
}

export class RedisServer {
  private proc: ChildProcess | undefined;
  private output = '';

  /** `tls`: serve TLS only, on `port`, with this certificate and key (clients are not asked for one). */
  constructor(readonly port: number, private readonly extra: string[] = [], private readonly tls?: { cert: string; key: string }) {}

  get url(): string { return `${this.tls ? 'rediss' : 'redis'}://127.0.0.1:${this.port}`; }

  /** Starts it and waits until it accepts connections (at most 10 s). */
  async start(): Promise<void> {
    this.output = '';
    const ports = this.tls
      ? ['--port', '0', '--tls-port', String(this.port), '--tls-cert-file', this.tls.cert, '--tls-key-file', this.tls.key, '--tls-auth-clients', 'no']
      : ['--port', String(this.port)];
    const proc = spawn('redis-server', [...ports, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...this.extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    proc.stdout!.on('data', (d) => { this.output += d; });
    proc.stderr!.on('data', (d) => { this.output += d; });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`redis-server on port ${this.port} exited: ${this.output.slice(-500)}`);
      if (await canConnect(this.port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server on port ${this.port} did not start in 10 s: ${this.output.slice(-500)}`);
  }

  /** Kills it (SIGKILL: no goodbye to clients) and waits for the exit. */
  async kill(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => { p.once('exit', () => resolve()); p.kill('SIGKILL'); });
  }
}

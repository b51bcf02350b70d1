// The driver killed: a training driver process (driver-script.ts) is SIGKILLed mid-run; its
// workers go with it, and rerunning the same command resumes from the last checkpoint and ends
// with the same weights, bit for bit, as a run that was never interrupted.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCheckpoint } from '../../src/optim/checkpoint.js';
import { LeNet5 } from '../../src/models/lenet.js';

const script = fileURLToPath(new URL('./driver-script.js', import.meta.url));

interface Run { out: string; code: number | null; signal: NodeJS.Signals | null }

/** Runs the driver script; `until` (if given) is called on each output chunk and may kill it. */
function drive(dir: string, env: Record<string, string> = {}, until?: (out: string, kill: () => void) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, dir], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const take = (b: Buffer) => {
      out += b.toString();
      until?.(out, () => child.kill('SIGKILL'));
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ out, code, signal }));
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function gone(pids: number[], withinMs: number): Promise<boolean> {
  const end = Date.now() + withinMs;
  while (pids.some(alive)) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

describe('driver killed', () => {
  it('rerunning the same command resumes from the last checkpoint and ends with the same weights as an uninterrupted run', async () => {
    const killed = mkdtempSync(join(tmpdir(), 'bigdl-kill-'));
    const clean = mkdtempSync(join(tmpdir(), 'bigdl-clean-'));
    try {
      const first = await drive(killed, { HANG_AT: '7' }, (out, kill) => {
        if (out.includes('hanging at iteration 7')) kill();
      });
      assert.equal(first.signal, 'SIGKILL', first.out);
      const pids = /workers ([\d,]+)/.exec(first.out)![1].split(',').map(Number);
      assert.ok(await gone(pids, 15000), `the killed driver's workers ${pids} exit with it`);
      const ck = await readCheckpoint(join(killed, 'checkpoint.bigdl'), LeNet5());
      assert.equal(ck.iteration, 6, 'the last checkpoint before the kill');
      const second = await drive(killed);
      assert.equal(second.code, 0, second.out);
      assert.match(second.out, /resumed from .*checkpoint\.bigdl at epoch 1, iteration 6/);
      assert.match(second.out, /done after 10 iterations/);
      const reference = await drive(clean);
      assert.equal(reference.code, 0, reference.out);
      assert.match(reference.out, /done after 16 iterations/);
      assert.ok(readFileSync(join(killed, 'final.bin')).equals(readFileSync(join(clean, 'final.bin'))), 'same weights, bit for bit');
    } finally {
      rmSync(killed, { recursive: true, force: true });
      rmSync(clean, { recursive: true, force: true });
    }
  });
});

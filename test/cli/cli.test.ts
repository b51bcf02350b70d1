// The `bigdl` command end to end, as a script would use it: outputs and exit codes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/package-root.js';

const main = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
const bigdl = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', env: { ...process.env, BIGDL_THREADS: '2' } });

describe('bigdl CLI', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bigdl-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('help and usage errors', () => {
    const help = bigdl('--help');
    assert.equal(help.status, 0);
    assert.match(help.stdout, /train \[options\]/);
    for (const cmd of ['train', 'evaluate', 'predict', 'info', 'backend']) assert.equal(bigdl(cmd, '--help').status, 0, `${cmd} --help`);
    const unknown = bigdl('fly');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command 'fly'/);
    const bad = bigdl('train', '--epochs', '0');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--epochs must be a number >= 1, got '0'/);
    assert.equal(bigdl('train', '--no-such-flag').status, 2);
    assert.equal(bigdl('train', '--executor', 'gpu').status, 2);
  });

  it('train, then info, evaluate and predict on the saved model; resume from its checkpoint', () => {
    const model = join(dir, 'lenet.bigdl'), ck = join(dir, 'ck');
    const train = bigdl('train', '--epochs', '1', '--out', model, '--checkpoint', ck, '--quiet');
    assert.equal(train.status, 0, train.stderr);
    const m = /best test accuracy ([\d.]+)% at epoch 1; wall time [\d.]+ s \(.+\); model saved to (.+)$/m.exec(train.stdout);
    assert.ok(m, train.stdout);
    assert.ok(Number(m[1]) > 80, `accuracy ${m[1]}% after one epoch`);
    assert.equal(m[2], model);

    const info = bigdl('info', model);
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, /checksum ok/);
    assert.match(info.stdout, /22,278 parameters/);
    assert.match(info.stdout, /"dataset":"fashion-mnist"/);

    const ev = bigdl('evaluate', model);
    assert.equal(ev.status, 0, ev.stderr);
    const acc = /Top1Accuracy is Accuracy\(correct: (\d+), count: 10000/.exec(ev.stdout);
    assert.ok(acc, ev.stdout);
    assert.equal((Number(acc[1]) / 100).toFixed(2), Number(m[1]).toFixed(2), 'evaluate agrees with training');

    const csv = join(dir, 'p.csv');
    const pr = bigdl('predict', model, '--limit', '5', '--out', csv);
    assert.equal(pr.status, 0, pr.stderr);
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    assert.equal(lines[0], 'index,class,probability');
    assert.equal(lines.length, 6);
    for (const l of lines.slice(1)) assert.match(l, /^\d,\d,(0|1)\.\d{6}$/);

    assert.ok(existsSync(join(ck, 'checkpoint.bigdl')));
    const resumed = bigdl('train', '--epochs', '2', '--resume', join(ck, 'checkpoint.bigdl'), '--out', join(dir, 'resumed.bigdl'), '--quiet');
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stdout, /per-epoch test accuracy \(%\): [\d.]+\n/, 'only epoch 2 was trained');
    assert.match(resumed.stdout, /at epoch 2/);
  });

  it('corrupt and missing files: exit code 3 with the reason', () => {
    const model = join(dir, 'lenet.bigdl');
    const bad = join(dir, 'bad.bigdl');
    writeFileSync(bad, readFileSync(model).subarray(0, 1000));
    const r = bigdl('info', bad);
    assert.equal(r.status, 3);
    assert.match(r.stderr, /truncated/);
    const missing = bigdl('evaluate', join(dir, 'nope.bigdl'));
    assert.equal(missing.status, 3);
    assert.match(missing.stderr, /nope\.bigdl/);
    const notModel = join(dir, 'x.bigdl');
    writeFileSync(notModel, 'hello world, not a model at all, padding padding padding');
    assert.equal(bigdl('info', notModel).status, 3);
  });
});

/**
 * A model replica in a worker thread (BigDL's local mode): it trains on weights shared with the
 * trainer through a SharedArrayBuffer and writes its gradient into its own shared buffer, which
 * the trainer sums over replicas. Stateless between steps except for the model's buffers.
 */
import { parentPort } from 'node:worker_threads';
import { setBackend, setThreads } from '../../backend/registry.js';
import { RNG } from '../../tensor/random.js';
import { Tensor } from '../../tensor/tensor.js';
import type { Activity, Module } from '../../nn/module.js';
import type { Criterion } from '../../nn/criterion.js';
import { deserializeObject } from '../../serialization/index.js';
import { materialize, type FromReplica, type InputDesc, type OutputData, type ToReplica } from './protocol.js';

if (!parentPort) throw new Error('replica-worker.js runs as a worker thread of ReplicaPool');
const port = parentPort;

let model: Module<any, any> | undefined;
let criterion: Criterion<any, any> | undefined;

function rows(d: InputDesc, start: number, end: number): Activity {
  if (Array.isArray(d)) return d.map((x) => rows(x, start, end));
  return materialize(d).narrow(0, start, end - start);
}

function copyOut(a: Activity): OutputData {
  if (a instanceof Tensor) return { shape: a.shape.slice(), data: (a.clone().data as Float32Array).subarray(0, a.numel) };
  return a.map(copyOut);
}

function flatBuffers(m: Module<any, any>): Tensor[] {
  return m.namedBuffers().map((b) => b.tensor);
}

function handle(msg: ToReplica): FromReplica {
  switch (msg.kind) {
    case 'init': {
      setBackend(msg.backend);
      setThreads(msg.threads);
      model = deserializeObject(msg.model) as Module<any, any>;
      criterion = msg.criterion ? (deserializeObject(msg.criterion) as Criterion<any, any>) : undefined;
      model.bindParameters(materialize(msg.weights), materialize(msg.gradients));
      return { kind: 'ready' };
    }
    case 'train': {
      const m = model!, c = criterion;
      if (!c) throw new Error('this replica pool was started without a criterion: it can predict but not train');
      // dropout and other random layers draw from a stream fixed by (run seed, iteration, replica)
      RNG.setSeed(msg.seed);
      const x = rows(msg.input, msg.rowStart, msg.rowEnd);
      const y = rows(msg.target, msg.rowStart, msg.rowEnd);
      m.training();
      m.zeroGradParameters();
      const out = m.forward(x);
      const loss = c.forward(out, y);
      m.backward(x, c.backward(out, y));
      return { kind: 'trained', loss };
    }
    case 'predict': {
      const m = model!;
      m.evaluate();
      return { kind: 'predicted', output: copyOut(m.forward(rows(msg.input, msg.rowStart, msg.rowEnd))) };
    }
    case 'buffers': {
      const into = materialize(msg.into);
      let off = 0;
      for (const b of flatBuffers(model!)) {
        into.narrow(0, off, b.numel).copy_(b.reshape(b.numel));
        off += b.numel;
      }
      return { kind: 'done' };
    }
    case 'setBuffers': {
      const from = materialize(msg.from);
      let off = 0;
      for (const b of flatBuffers(model!)) {
        b.copy_(from.narrow(0, off, b.numel).view(b.shape));
        off += b.numel;
      }
      return { kind: 'done' };
    }
  }
}

port.on('message', (msg: ToReplica) => {
  let reply: FromReplica;
  try {
    reply = handle(msg);
  } catch (e) {
    reply = { kind: 'error', message: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? e.stack : undefined };
  }
  port.postMessage(reply);
});

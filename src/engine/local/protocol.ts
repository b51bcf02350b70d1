/**
 * Messages between the trainer (main thread) and its replica workers. Tensors cross as
 * descriptors of SharedArrayBuffer-backed storage, so nothing is copied between threads.
 */
import { Tensor, type DType } from '../../tensor/tensor.js';

export interface TensorDesc {
  buffer: SharedArrayBuffer;
  dtype: DType;
  shape: number[];
  offset: number;
}

/** A batch input: one tensor, or a table of them (multi-input models). */
export type InputDesc = TensorDesc | InputDesc[];

export type ToReplica =
  | {
      kind: 'init';
      replica: number;
      backend: 'native' | 'reference';
      threads: number;
      model: Uint8Array;
      /** null for a pool that only predicts */
      criterion: Uint8Array | null;
      weights: TensorDesc;
      gradients: TensorDesc;
    }
  /** forward + backward on rows [rowStart, rowEnd) of the batch; gradients are overwritten */
  | { kind: 'train'; input: InputDesc; target: InputDesc; rowStart: number; rowEnd: number; seed: number }
  /** forward only on rows [rowStart, rowEnd), in evaluation mode; the output comes back copied */
  | { kind: 'predict'; input: InputDesc; rowStart: number; rowEnd: number }
  /** copies the replica's buffers (running statistics), flattened in namedBuffers() order */
  | { kind: 'buffers'; into: TensorDesc }
  /** overwrites the replica's buffers from a flat tensor */
  | { kind: 'setBuffers'; from: TensorDesc };

export type FromReplica =
  | { kind: 'ready' }
  | { kind: 'trained'; loss: number }
  | { kind: 'predicted'; output: OutputData }
  | { kind: 'done' }
  | { kind: 'error'; message: string; stack?: string };

/** A forward output copied out of a replica: a tensor's values and shape, or a table of them. */
export type OutputData = { shape: number[]; data: Float32Array } | OutputData[];

export function describe(t: Tensor): TensorDesc {
  if (!(t.data.buffer instanceof SharedArrayBuffer)) throw new Error('replica protocol: tensor is not backed by a SharedArrayBuffer');
  if (!t.isContiguous()) throw new Error('replica protocol: tensor must be contiguous');
  return { buffer: t.data.buffer, dtype: t.dtype, shape: t.shape.slice(), offset: t.offset + t.data.byteOffset / 4 };
}

export function materialize(d: TensorDesc): Tensor {
  const n = d.shape.reduce((a, b) => a * b, 1);
  const data = d.dtype === 'int32' ? new Int32Array(d.buffer) : new Float32Array(d.buffer);
  return new Tensor(data.subarray(0, Math.max(d.offset + n, 0)), d.shape, undefined, d.offset);
}

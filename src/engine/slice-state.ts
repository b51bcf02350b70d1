/**
 * Optimizer state of a sliced parameter buffer, as one whole-buffer state and back. Each weight
 * slice's owner keeps the optim method's state for its slice only (BigDL's AllReduceParameter);
 * a distributed checkpoint joins them into the state one optim method would have over the whole
 * buffer, so a distributed checkpoint is an ordinary checkpoint: it resumes with any number of
 * slices, and local training can continue from it.
 */
import type { SavedState, StateValue } from '../optim/optim-method.js';

type Buffers = { [key: string]: StateValue };

function isEmpty(x: StateValue | undefined): boolean {
  return x === undefined || x === null || (typeof x === 'object' && !ArrayBuffer.isView(x) && Object.keys(x).length === 0);
}

/** Joins the per-slice states (slice order, covering the buffer) into one state for the whole buffer. */
export function joinSliceStates(states: readonly SavedState[]): SavedState {
  if (states.length === 0) throw new RangeError('joinSliceStates: no states');
  const first = states[0];
  for (const [i, s] of states.entries()) {
    if (s.method !== first.method) throw new RangeError(`joinSliceStates: slice ${i} was saved by ${String(s.method)}, slice 0 by ${String(first.method)}`);
    if (s.neval !== first.neval) throw new RangeError(`joinSliceStates: slice ${i} has made ${String(s.neval)} updates, slice 0 ${String(first.neval)}: the states are from different iterations`);
    if (!isEmpty(s.extra)) {
      throw new RangeError(`joinSliceStates: ${String(s.method)} keeps state that is not per element (${Object.keys(s.extra as object).join(', ')}), so it cannot be sliced over weight owners; use SGD, Adam, Adagrad, RMSprop, Adadelta or Adamax for distributed training`);
    }
  }
  const names = Object.keys(first.buffers as Buffers);
  const length = states.reduce((a, s) => a + (s.length as number), 0);
  const buffers: Buffers = {};
  for (const name of names) {
    const out = new Float32Array(length);
    let at = 0;
    states.forEach((s, i) => {
      const b = (s.buffers as Buffers)[name];
      if (!(b instanceof Float32Array) || b.length !== s.length) throw new RangeError(`joinSliceStates: slice ${i} lacks state buffer '${name}' of length ${String(s.length)}`);
      out.set(b, at);
      at += b.length;
    });
    buffers[name] = out;
  }
  return { ...first, length, buffers };
}

/** Cuts a whole-buffer state into the states of the slices [start, end) given. */
export function splitSliceStates(state: SavedState, ranges: readonly (readonly [number, number])[]): SavedState[] {
  const length = state.length as number;
  const end = ranges.length ? ranges[ranges.length - 1][1] : 0;
  if (end !== length) {
    throw new RangeError(`splitSliceStates: the optimizer state covers ${length} values but the model has ${end} parameters: the checkpoint is for a different model`);
  }
  if (!isEmpty(state.extra)) throw new RangeError(`splitSliceStates: ${String(state.method)} keeps state that is not per element, so it cannot be sliced over weight owners`);
  const buffers = state.buffers as Buffers;
  return ranges.map(([s, e]) => {
    const part: Buffers = {};
    for (const [name, b] of Object.entries(buffers)) part[name] = (b as Float32Array).slice(s, e);
    return { ...state, length: e - s, buffers: part };
  });
}

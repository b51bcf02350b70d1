/** Recurrent layers: cells (one time step) and the containers that run them over sequences. */
export { Cell, CellWorkspace, type RunMode } from './cell.js';
export { RnnCell } from './rnn-cell.js';
export { LSTM, LSTMPeephole, LSTMFamily } from './lstm.js';
export { GRU } from './gru.js';
export { ConvLSTMPeephole, type ConvLSTMOptions } from './conv-lstm.js';
export { Recurrent, RecurrentDecoder, BiRecurrent, type HiddenState, type MergeMode, type RecurrentOptions } from './recurrent.js';
export { TimeDistributed } from './time-distributed.js';

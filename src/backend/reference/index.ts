import type { Backend } from '../backend.js';
import { referenceCore } from './core.js';
import { referenceDnn } from './dnn.js';

export const referenceBackend: Backend = { name: 'reference', ...referenceCore, ...referenceDnn };

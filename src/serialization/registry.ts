/**
 * The classes a model file may contain. Saving records an instance by its registered name; loading
 * recreates it with Object.create(RegisteredClass.prototype) and assigns its fields, so only the
 * classes listed here can ever be instantiated from a file, and no constructor runs.
 *
 * Adding a class is one line: in the default list below (for src/nn classes; importing a class here
 * from the file that defines it avoids a cycle), or from user code with
 * `registerClass('MyLayer', MyLayer)` before saving or loading.
 */
import * as activations from '../nn/activations.js';
import * as containers from '../nn/containers.js';
import * as conv from '../nn/conv.js';
import * as criterion from '../nn/criterion.js';
import * as criterions from '../nn/criterions.js';
import * as dropout from '../nn/dropout.js';
import * as graph from '../nn/graph.js';
import * as linear from '../nn/linear.js';
import * as lookupTable from '../nn/lookup-table.js';
import * as recurrent from '../nn/recurrent/index.js';
import * as mathLayers from '../nn/math-layers.js';
import * as models from '../models/index.js';
import * as optim from '../optim/index.js';
import * as validation from '../optim/validation.js';
import * as node from '../nn/node.js';
import * as normalization from '../nn/normalization.js';
import * as pooling from '../nn/pooling.js';
import * as sequential from '../nn/sequential.js';
import * as shapeLayers from '../nn/shape-layers.js';
import * as tables from '../nn/tables.js';
import * as temporal from '../nn/temporal.js';
import { Module } from '../nn/module.js';
import { Criterion } from '../nn/criterion.js';
import { DnnState } from '../tensor/dnn.js';
import { RandomGenerator, RNG } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { SerializationError } from './format.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Constructor = abstract new (...args: any[]) => object;

const byName = new Map<string, Constructor>();
const byCtor = new Map<Constructor, string>();
const singletonsByName = new Map<string, object>();
const singletonsByObject = new Map<object, string>();

/** Names the format handles itself, which no class may take. */
const RESERVED = new Set(['Tensor', 'Object', 'Array', 'Map', 'Set', 'Date', 'ArrayBuffer', 'SharedArrayBuffer']);

function checkName(what: string, name: string): void {
  if (typeof name !== 'string' || !/^[A-Za-z_$][\w$.:-]*$/.test(name)) {
    throw new TypeError(`${what}: '${String(name)}' is not a valid name (letters, digits, _ $ . : -, not starting with a digit)`);
  }
  if (RESERVED.has(name)) throw new Error(`${what}: '${name}' is reserved: the format handles ${name} itself`);
}

/**
 * Allows instances of `ctor` (exactly that class, not subclasses) in model files under `name`.
 * Registering the same class under the same name again is a no-op; a name that is taken by
 * another class, or a class already registered under another name, is an error.
 */
export function registerClass(name: string, ctor: Constructor): void {
  checkName('registerClass', name);
  if (typeof ctor !== 'function' || typeof ctor.prototype !== 'object' || ctor.prototype === null) {
    throw new TypeError(`registerClass('${name}'): expected a class`);
  }
  if (ctor === (Tensor as Constructor)) throw new Error(`registerClass('${name}'): Tensor is handled natively by the format`);
  const existing = byName.get(name);
  if (existing === ctor) return;
  if (existing) {
    throw new Error(`registerClass: the name '${name}' is already registered for another class (${existing.name || 'anonymous'}); two classes cannot share a name in model files, register this one under a different name`);
  }
  const other = byCtor.get(ctor);
  if (other !== undefined) throw new Error(`registerClass('${name}'): class ${ctor.name} is already registered as '${other}'`);
  byName.set(name, ctor);
  byCtor.set(ctor, name);
}

const transientClasses = new Set<Constructor>();

/**
 * Like registerClass, for caches that modules keep between calls (e.g. the last view made of the
 * last input): instances are saved without their fields, so a file never carries stale inputs,
 * and come back empty. The class must work from an empty instance (every field optional).
 */
export function registerTransientClass(name: string, ctor: Constructor): void {
  registerClass(name, ctor);
  transientClasses.add(ctor);
}

export function isTransientClass(ctor: Constructor): boolean {
  return transientClasses.has(ctor);
}

const droppedClasses = new Set<Constructor>();

/**
 * For per-call state a module rebuilds on its next forward (kernel workspaces): fields holding
 * such an instance are saved as undefined. Registered, so the class is known, never written.
 */
export function registerDroppedClass(name: string, ctor: Constructor): void {
  registerClass(name, ctor);
  droppedClasses.add(ctor);
}

export function isDroppedClass(ctor: Constructor): boolean {
  return droppedClasses.has(ctor);
}

/** registerClass for each entry: `registerClasses({ MyLayer, MyOtherLayer })`. */
export function registerClasses(classes: Record<string, Constructor>): void {
  for (const [name, ctor] of Object.entries(classes)) registerClass(name, ctor);
}

/**
 * A process-wide object that files refer to by name instead of copying (the global RNG): a module
 * that used it before saving uses this process's instance after loading.
 */
export function registerSingleton(name: string, obj: object): void {
  checkName('registerSingleton', name);
  const existing = singletonsByName.get(name);
  if (existing === obj) return;
  if (existing) throw new Error(`registerSingleton: the name '${name}' is already registered for another object`);
  if (singletonsByObject.has(obj)) throw new Error(`registerSingleton('${name}'): that object is already registered as '${singletonsByObject.get(obj)}'`);
  singletonsByName.set(name, obj);
  singletonsByObject.set(obj, name);
}

/** The registered name of exactly this class, or undefined. */
export function classNameOf(ctor: Constructor): string | undefined {
  return byCtor.get(ctor);
}

export function classByName(name: string): Constructor | undefined {
  return byName.get(name);
}

export function singletonNameOf(obj: object): string | undefined {
  return singletonsByObject.get(obj);
}

export function singletonByName(name: string): object | undefined {
  return singletonsByName.get(name);
}

/** Every registered class name, sorted. */
export function registeredClassNames(): string[] {
  return [...byName.keys()].sort();
}

/** Throws the standard error for a class name a file uses but this process has not registered. */
export function unknownClassError(names: string[]): SerializationError {
  const list = names.map((n) => `'${n}'`).join(', ');
  const first = names[0];
  return new SerializationError('E_UNKNOWN_CLASS',
    `unknown class${names.length > 1 ? 'es' : ''} ${list}: the file contains instances of ${names.length > 1 ? 'classes' : 'a class'} not in the serialization registry. ` +
    `Import the module that defines ${names.length > 1 ? 'them' : 'it'} and register ${names.length > 1 ? 'each' : 'it'} before loading, e.g. registerClass('${first}', ${first}) from src/serialization/registry.js`);
}

// Graph's Input() placeholder module is not exported by src/nn/graph.ts; take its class from an instance.
const InputModule = graph.Input().module.constructor as Constructor;

// ---- the default registry ------------------------------------------------------------------------
// Every module and criterion class exported by src/nn is registered under its class name, so a new
// layer only needs `export class` in a file listed here. State classes that modules hold are listed
// by hand.
const NN_FILES: Record<string, unknown>[] = [
  activations, containers, conv, criterion, criterions, dropout, graph, linear, lookupTable, mathLayers, models, recurrent, node, normalization,
  pooling, sequential, shapeLayers, tables, temporal,
];

/** Exported classes that are modules or criterions (abstract bases included: never instantiated, harmless). */
function nnClasses(ns: Record<string, unknown>): Record<string, Constructor> {
  const out: Record<string, Constructor> = {};
  for (const [name, v] of Object.entries(ns)) {
    if (typeof v === 'function' && (v.prototype instanceof Module || v.prototype instanceof Criterion)) out[name] = v as Constructor;
  }
  return out;
}

for (const ns of NN_FILES) registerClasses(nnClasses(ns));
// optim methods, schedules and validation methods: plain data, shipped to parameter-sync and
// validation tasks of the distributed engine
for (const ns of [optim, validation] as Record<string, unknown>[]) {
  for (const [name, v] of Object.entries(ns)) {
    if (typeof v === 'function' && v.prototype && Object.getPrototypeOf(v.prototype) !== null && /^[A-Z]/.test(name)) registerClass(name, v as Constructor);
  }
}
registerClasses({
  ModuleNode: node.ModuleNode,
  InputModule,
  RandomGenerator,
});
registerDroppedClass('DnnState', DnnState);
registerTransientClass('Reshaper', shapeLayers.Reshaper);
registerTransientClass('ViewMemo', shapeLayers.ViewMemo);

registerSingleton('RNG', RNG);

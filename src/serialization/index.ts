/**
 * Model files: architecture + weights (+ optional extra state for checkpoints) in one versioned,
 * checksummed file. See docs/MODEL_FORMAT.md for the byte layout.
 *
 *   await saveModel('model.bigdl', model, { metadata: { epoch: 3 }, extra: { optimState } });
 *   const { model, metadata, extra } = await loadModel('model.bigdl');
 *
 * Classes defined outside src/nn must be registered (registerClass) before saving or loading.
 */
export { saveModel, saveModelSync, serializeModel, serializeObject, libraryVersion, type SaveOptions } from './save.js';
export { loadModel, loadModelSync, deserializeModel, deserializeObject, readModelHeader, type LoadedModel } from './load.js';
export {
  registerClass, registerClasses, registerSingleton, registeredClassNames, classByName, classNameOf, type Constructor,
} from './registry.js';
export {
  FORMAT_VERSION, MIN_FORMAT_VERSION, MAGIC, SerializationError,
  type SerializationErrorCode, type ModelMetadata, type FileHeader, type BlobEntry, type ObjectEntry, type JsonValue,
} from './format.js';

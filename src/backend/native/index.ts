import type { Backend } from '../backend.js';
import type { NativeAddon } from './addon.js';
import { nativeCore } from './core.js';
import { nativeDnn } from './dnn.js';

export function createNativeBackend(addon: NativeAddon): Backend {
  return { name: 'native', ...nativeCore(addon), ...nativeDnn(addon) };
}

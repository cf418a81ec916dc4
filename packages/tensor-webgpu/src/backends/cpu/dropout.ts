/** Dropout masks from the shared hash in random.ts, so cpu and webgpu draw identical bits. */
import { dropoutKeep, dropoutThreshold, hash32 } from '../../random.js';
import { uninitFloat, type FloatArray, type Precision } from './storage.js';

export function dropoutMask(size: number, p: number, seed: number, precision: Precision): FloatArray {
  const out = uninitFloat(precision, size);
  const seedHash = hash32(seed >>> 0);
  const threshold = dropoutThreshold(p);
  const keep = 1 / (1 - p);
  for (let i = 0; i < size; i++) out[i] = dropoutKeep(i, seedHash, threshold) ? keep : 0;
  return out;
}

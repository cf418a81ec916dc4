/** Dropout masks from the shared hash in random.ts, so cpu and webgpu draw identical bits. */
import { dropoutKeep, dropoutThreshold, hash32 } from '../../random.js';
import { newFloat, type FloatArray, type Precision } from './storage.js';

export function dropoutMask(size: number, p: number, seed: number, precision: Precision): FloatArray {
  const out = newFloat(precision, size);
  const seedHash = hash32(seed >>> 0);
  const threshold = dropoutThreshold(p);
  const keep = 1 / (1 - p);
  for (let i = 0; i < size; i++) if (dropoutKeep(i, seedHash, threshold)) out[i] = keep;
  return out;
}

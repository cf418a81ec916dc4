/**
 * Finding every Generator an adapter holds (dropout streams, router initialisation streams), so a
 * checkpoint can save and restore their states and a resumed run draws the same dropout masks.
 */
import { Generator, Tensor } from '@moegraph/tensor-webgpu';
import type { Adapter } from '@moegraph/lora';

const SKIP_KEYS = new Set(['backend', 'model', 'base', 'weights', 'config']);

/** Every distinct Generator reachable from the adapter's modules, in a deterministic order. */
export function adapterGenerators(adapter: Adapter): Generator[] {
  const found: Generator[] = [];
  const seen = new Set<unknown>();
  const visit = (v: unknown, depth: number): void => {
    if (!v || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (v instanceof Generator) {
      found.push(v);
      return;
    }
    if (v instanceof Tensor || ArrayBuffer.isView(v) || depth > 8) return;
    if (v instanceof Map) {
      for (const x of v.values()) visit(x, depth + 1);
      return;
    }
    if (Array.isArray(v)) {
      for (const x of v) visit(x, depth + 1);
      return;
    }
    for (const k of Object.keys(v)) {
      if (SKIP_KEYS.has(k)) continue;
      visit((v as Record<string, unknown>)[k], depth + 1);
    }
  };
  for (const m of adapter.modules.values()) visit(m, 0);
  return found;
}

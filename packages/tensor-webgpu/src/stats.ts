/** Runtime counters and explicit submission. */
import type { Backend, BackendStats } from './backend.js';
import { engine, getBackend } from './engine.js';

export interface Stats extends BackendStats {
  /** Tensor objects created and not yet disposed (all backends). */
  liveTensors: number;
  backend: string;
}

/** Counters for leak tests and monitoring. */
export function stats(b: Backend = getBackend()): Stats {
  return { ...b.stats(), liveTensors: engine.liveTensors, backend: b.name };
}

/** Submit pending GPU work now. */
export function flush(b: Backend = getBackend()): void {
  b.flush();
}

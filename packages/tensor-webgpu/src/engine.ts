/**
 * Process-wide runtime state: the default backend, grad mode, scopes and the live-tensor count.
 * Kept in one small module so every op reads the same state.
 */
import type { Backend, Storage } from './backend.js';
import type { DType } from './dtype.js';
import type { Tensor } from './tensor.js';

interface EngineState {
  backend: Backend | null;
  gradEnabled: boolean;
  scopes: Set<Tensor>[];
  liveTensors: number;
  /** Lazily created cpu backend used when no backend was chosen. */
  fallback: (() => Backend) | null;
}

export const engine: EngineState = {
  backend: null,
  gradEnabled: true,
  scopes: [],
  liveTensors: 0,
  fallback: null,
};

export function setBackend(b: Backend): void {
  engine.backend = b;
}

/** The default backend; a cpu backend is created on first use when none was chosen. */
export function getBackend(): Backend {
  if (!engine.backend) {
    if (!engine.fallback) throw new Error('no backend: call init() or setBackend() first');
    engine.backend = engine.fallback();
  }
  return engine.backend;
}

/** Run fn with gradient recording off (like torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  const prev = engine.gradEnabled;
  engine.gradEnabled = false;
  try {
    return fn();
  } finally {
    engine.gradEnabled = prev;
  }
}

export function isGradEnabled(): boolean {
  return engine.gradEnabled;
}

/** Register a new tensor with the innermost scope. */
export function track(t: Tensor): void {
  engine.liveTensors++;
  const s = engine.scopes[engine.scopes.length - 1];
  if (s) s.add(t);
}

export function untrack(t: Tensor): void {
  for (const s of engine.scopes) s.delete(t);
}

/** Constants (scalars used by ops) are cached per backend, value and dtype, so a step uploads none. */
const constants = new WeakMap<Backend, Map<string, Storage>>();
const constantSet = new WeakSet<Storage>();
/** Whether `s` came from the constant cache (captures may keep using one the cache dropped: its value never changes). */
export const isConstantStorage = (s: Storage): boolean => constantSet.has(s);
export function constantStorage(b: Backend, value: number, dtype: DType): Storage {
  let m = constants.get(b);
  if (!m) constants.set(b, (m = new Map()));
  const key = `${dtype}:${Object.is(value, -0) ? '-0' : value}`;
  let s = m.get(key);
  if (!s) {
    if (m.size > 1024) {
      // Bound the cache: scalars that vary per step (e.g. a schedule's lr) must not grow it forever.
      for (const old of m.values()) b.release(old);
      m.clear();
    }
    s = b.fill(1, dtype, value);
    constantSet.add(s);
    m.set(key, s);
  }
  return s;
}

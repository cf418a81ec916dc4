/**
 * Synchronous scopes: every tensor created inside `scope(fn)` is disposed when fn returns, except
 * the tensors fn returns (found in arrays and plain objects) and those passed to `keep`.
 */
import { engine, untrack } from './engine.js';
import { Tensor } from './tensor.js';

export function collect(v: unknown, out: Set<Tensor>, depth = 0): void {
  if (v instanceof Tensor) out.add(v);
  else if (depth < 4 && Array.isArray(v)) for (const x of v) collect(x, out, depth + 1);
  else if (depth < 4 && v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) collect(x, out, depth + 1);
  }
}

export function scope<T>(fn: () => T): T {
  const mine = new Set<Tensor>();
  engine.scopes.push(mine);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    engine.scopes.pop();
    for (const t of mine) t.dispose();
    throw e;
  }
  engine.scopes.pop();
  if (result && typeof (result as { then?: unknown }).then === 'function') {
    for (const t of mine) t.dispose();
    throw new Error('scope: the function returned a Promise; scopes are synchronous (await outside the scope)');
  }
  const kept = new Set<Tensor>();
  collect(result, kept);
  const parent = engine.scopes[engine.scopes.length - 1];
  for (const t of mine) {
    if (kept.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/** Exempt tensors from every enclosing scope's cleanup (e.g. parameters created inside one). */
export function keep<T extends Tensor | Tensor[]>(t: T): T {
  for (const x of Array.isArray(t) ? t : [t]) untrack(x);
  return t;
}

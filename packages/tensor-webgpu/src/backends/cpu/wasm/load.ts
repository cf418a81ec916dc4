/**
 * Synchronous instantiation of the embedded WebAssembly modules (plain WebAssembly API: Node, Deno, Bun,
 * browsers). Every caller keeps a TypeScript path for runtimes where this returns null.
 */

/** The bytes of a base64 string (atob is available in every supported runtime). */
export function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const s = atob(b64);
  const out = new Uint8Array(new ArrayBuffer(s.length));
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** The compiled module, or null where WebAssembly (or one of its proposals used, e.g. SIMD) is unavailable. */
export function compileWasm(b64: string): WebAssembly.Module | null {
  try {
    if (typeof WebAssembly === 'undefined') return null;
    return new WebAssembly.Module(decodeBase64(b64));
  } catch {
    return null;
  }
}

/** The instance's exports, or null where the module cannot be compiled or instantiated here. */
export function instantiateWasm<T>(b64: string, imports: WebAssembly.Imports = {}): T | null {
  const module = compileWasm(b64);
  if (module === null) return null;
  try {
    return new WebAssembly.Instance(module, imports).exports as unknown as T;
  } catch {
    return null;
  }
}

/** Grows `memory` to at least `bytes`; false where it cannot grow that far. */
export function ensureMemory(memory: WebAssembly.Memory, bytes: number): boolean {
  const have = memory.buffer.byteLength;
  if (bytes <= have) return true;
  try {
    memory.grow(Math.ceil((bytes - have) / 65536));
    return true;
  } catch {
    return false;
  }
}

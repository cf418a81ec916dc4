/**
 * Test helper (not exported from the package): corrupt-file fuzzing for the model file readers.
 * Damaged copies of a good file must either parse (and then read each tensor or fail cleanly) or
 * fail with an Error naming the source, never a stray RangeError / TypeError.
 */
import { expect } from 'vitest';
import { memorySource, type ByteSource } from './source.js';

/** Small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface CorruptFileFuzz<T> {
  /** The intact file. */
  good: Uint8Array;
  /** Source name the errors must carry. */
  name: string;
  seed: number;
  /**
   * Trials cycle through: 1-4 damaged bytes within the first `headBytes` (counts, lengths,
   * types, where damage matters most), 1-4 damaged bytes before `headerEnd`, a truncation.
   */
  headBytes: number;
  headerEnd: number;
  /** Parses the file, giving its tensors. */
  parse(src: ByteSource): Promise<readonly T[]>;
  readTensor(src: ByteSource, t: T): Promise<unknown>;
  /** What every parse error's message must match. */
  parseError: RegExp;
  /** Further checks of a parse error. */
  checkParseError?(e: Error): void;
  /** Checks of the Error from reading a tensor of a file that did parse. */
  checkTensorError(e: Error): void;
}

/** Runs 300 damaged or truncated copies of a file through its reader; returns how many failed to parse. */
export async function fuzzCorruptFile<T>(o: CorruptFileFuzz<T>): Promise<number> {
  const rand = rng(o.seed);
  const good = o.good;
  let failures = 0;
  for (let trial = 0; trial < 300; trial++) {
    let b: Uint8Array;
    const mode = trial % 3;
    if (mode === 2) {
      b = good.slice(0, Math.floor(rand() * good.length));
    } else {
      b = good.slice();
      const flips = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < flips; k++) {
        const pos = mode === 0 ? Math.floor(rand() * o.headBytes) : Math.floor(rand() * o.headerEnd);
        b[pos] = rand() < 0.5 ? b[pos]! ^ (1 << Math.floor(rand() * 8)) : Math.floor(rand() * 256);
      }
    }
    const src = memorySource(b, o.name);
    try {
      const tensors = await o.parse(src);
      for (const t of tensors) {
        try {
          await o.readTensor(src, t);
        } catch (e) {
          expect(e).toBeInstanceOf(Error);
          o.checkTensorError(e as Error);
        }
      }
    } catch (e) {
      failures++;
      expect(e).toBeInstanceOf(Error);
      expect(e).not.toBeInstanceOf(RangeError);
      expect(e).not.toBeInstanceOf(TypeError);
      expect((e as Error).message).toMatch(o.parseError);
      o.checkParseError?.(e as Error);
    }
  }
  return failures;
}

/**
 * Seeded randomness. Host-side draws (initialisation, shuffling) use a small counter-based
 * generator; device-side draws (dropout) use `hash32`, implemented bit-identically in every
 * backend, so one seed gives the same mask on cpu and webgpu.
 */
import { capture, captureFail } from './capture/state.js';

/** lowbias32 (Chris Wellons): a fast, well-mixed 32-bit integer hash. */
export function hash32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  return x;
}

/** The dropout rule of Backend.dropoutMask, for the cpu backend and for tests. */
export function dropoutKeep(i: number, seedHash: number, threshold: number): boolean {
  return hash32((i ^ seedHash) >>> 0) >>> 8 >= threshold;
}

export function dropoutThreshold(p: number): number {
  return Math.floor(p * 2 ** 24);
}

const HOST_DRAW = 'a host random draw (Generator: dropout > 0 with a generator, randn, shuffling) inside the captured step; ' +
  'a replay would repeat the captured draw every step. Draw outside the step, or use dropout 0 or a fixed seed';

/** A seeded generator (splitmix32 stream) for host-side draws. */
export class Generator {
  private state: number;
  constructor(seed = 0) {
    this.state = hash32((seed >>> 0) ^ 0x9e3779b9);
  }
  /** The generator's whole state (one u32), for checkpoints. */
  getState(): number {
    return this.state;
  }
  /** Restore a state from getState(): the stream continues exactly where it was. */
  setState(state: number): void {
    if (!Number.isInteger(state) || state < 0 || state > 0xffffffff) throw new Error(`Generator.setState: ${state} is not a u32 state`);
    this.state = state >>> 0;
  }
  /** A uniform u32. */
  nextU32(): number {
    if (capture.session) captureFail(HOST_DRAW);
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad) >>> 0;
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97) >>> 0;
    return (z ^ (z >>> 15)) >>> 0;
  }
  /** Uniform in [0, 1) with 32 random bits. */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    let u = this.uniform();
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
  /** A derived seed for a device-side draw; advances the stream. */
  nextSeed(): number {
    return this.nextU32();
  }
}

/**
 * The reference kernel the CI gate divides throughput by: a fixed plain-JavaScript f32 matmul chain,
 * timed in the same process as the runs. It measures the machine (and its load), not moegraph: had it
 * run on our own backend, making our matmul faster would have lowered every run's relative throughput
 * and failed the gate. Absolute times drift between machines and loads; the ratio
 * run-throughput / reference-throughput drifts much less.
 */

export interface ReferenceTiming {
  kernel: string;
  /** What ran the reference kernel ('js': plain JavaScript, independent of the backend under test). */
  backend: string;
  /** Reference kernels (one chain = `chain` matmuls of n x n) per second; best of the rounds. */
  perSec: number;
  gflops: number;
  rounds: number;
}

export interface ReferenceOptions {
  n?: number;
  chain?: number;
  rounds?: number;
  itersPerRound?: number;
}

/** c = a @ b for n x n row-major f32 matrices: i-k-j loop order, so the inner loop streams rows. */
function matmulJs(a: Float32Array, b: Float32Array, c: Float32Array, n: number): void {
  c.fill(0);
  for (let i = 0; i < n; i++) {
    const ci = i * n;
    for (let k = 0; k < n; k++) {
      const aik = a[ci + k];
      const bk = k * n;
      for (let j = 0; j < n; j++) c[ci + j] += aik * b[bk + j];
    }
  }
}

export async function timeReferenceKernel(opts: ReferenceOptions = {}): Promise<ReferenceTiming> {
  const n = opts.n ?? 128, chain = opts.chain ?? 8, rounds = opts.rounds ?? 5, iters = opts.itersPerRound ?? 4;
  // Deterministic values in [-1, 1) scaled so the chain neither overflows nor underflows.
  const a = Float32Array.from({ length: n * n }, (_, i) => (((i * 2654435761) >>> 0) / 2 ** 32) * 2 - 1);
  const b = Float32Array.from({ length: n * n }, (_, i) => ((((i + 7) * 2246822519) >>> 0) / 2 ** 32 - 0.5) * (2 / Math.sqrt(n)));
  const bufs = [new Float32Array(n * n), new Float32Array(n * n)];
  let sink = 0;
  const once = () => {
    let cur = a;
    for (let i = 0; i < chain; i++) {
      const out = bufs[i & 1];
      matmulJs(cur, b, out, n);
      cur = out;
    }
    sink += cur[0];
  };
  once(); // warm-up: let the JIT compile the loop
  once();
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) once();
    best = Math.min(best, (performance.now() - t0) / 1000 / iters);
  }
  if (!Number.isFinite(sink)) throw new Error('reference kernel: the matmul chain produced a non-finite value');
  return {
    kernel: `chain of ${chain} plain-JS f32 matmuls ${n}x${n} @ ${n}x${n}`,
    backend: 'js',
    perSec: 1 / best,
    gflops: (2 * n * n * n * chain) / best / 1e9,
    rounds,
  };
}

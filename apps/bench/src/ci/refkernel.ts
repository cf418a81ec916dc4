/**
 * The reference kernel the CI gate divides throughput by: a fixed chain of f32 matmuls on the
 * same backend as the runs, timed in the same process. Absolute times drift between machines and
 * loads; the ratio run-throughput / reference-throughput drifts much less.
 */

export interface ReferenceTiming {
  kernel: string;
  backend: string;
  /** Reference kernels (one chain = `chain` matmuls of n x n) per second; best of the rounds. */
  perSec: number;
  gflops: number;
  rounds: number;
}

export interface ReferenceOptions {
  backend?: 'auto' | 'cpu' | 'webgpu';
  n?: number;
  chain?: number;
  rounds?: number;
  itersPerRound?: number;
}

export async function timeReferenceKernel(opts: ReferenceOptions = {}): Promise<ReferenceTiming> {
  const n = opts.n ?? 256, chain = opts.chain ?? 8, rounds = opts.rounds ?? 5, iters = opts.itersPerRound ?? 4;
  const tw = await import('@moegraph/tensor-webgpu');
  const backend = await tw.init({ backend: opts.backend ?? 'auto' });
  const a = tw.randn([n, n], { backend, seed: 1 });
  const b = tw.randn([n, n], { backend, seed: 2, std: 1 / Math.sqrt(n) });
  const once = async () => {
    const s = tw.scope(() => {
      let c = a;
      for (let i = 0; i < chain; i++) c = tw.matmul(c, b);
      return tw.sum(c);
    });
    await s.item(); // the chain has run once its sum is read back
    s.dispose();
  };
  await once(); // warm-up: pipelines, buffers
  await once();
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) await once();
    best = Math.min(best, (performance.now() - t0) / 1000 / iters);
  }
  a.dispose();
  b.dispose();
  return {
    kernel: `chain of ${chain} f32 matmuls ${n}x${n} @ ${n}x${n} + sum + readback`,
    backend: backend.name,
    perSec: 1 / best,
    gflops: (2 * n * n * n * chain) / best / 1e9,
    rounds,
  };
}

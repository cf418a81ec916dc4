// The LoRA linear alone, fused (matmulAddLowRank) against its unfused reference, forward and
// forward+backward, ms per call. Run: node bench/lora-apply.mjs [--backends cpu,webgpu]
import { createCpuBackend, createWebGPUBackend, Generator, scope, sum, tensor } from '@moegraph/tensor-webgpu';
import { Linear } from '@moegraph/llm';
import { LoRALinear } from '@moegraph/lora';

const args = process.argv.slice(2);
const backends = (args.includes('--backends') ? args[args.indexOf('--backends') + 1] : 'cpu,webgpu').split(',');
const [M, IN, OUT, R] = [512, 512, 512, 8];
for (const bn of backends) {
  const be = bn === 'cpu' ? createCpuBackend() : await createWebGPUBackend();
  const g = new Generator(1);
  const rnd = (shape) => tensor(Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => g.normal() * 0.05), shape, { backend: be });
  const layer = new LoRALinear('l', new Linear('l', rnd([IN, OUT])), { r: R, alpha: 16, generator: g });
  const x = rnd([M, IN]);
  for (const fused of [false, true, false, true]) {
    layer.fused = fused;
    for (const train of [false, true]) {
      const step = async () => {
        const l = scope(() => { const y = sum(layer.forward(x)); if (train) y.backward(); return y.detach(); });
        await l.item();
        l.dispose();
        for (const p of layer.parameters()) { p.grad?.dispose(); p.grad = null; }
      };
      await step();
      const reps = 10;
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) await step();
      console.log(`${bn.padEnd(6)} ${fused ? 'fused  ' : 'unfused'} ${train ? 'fwd+bwd' : 'fwd    '} [${M}x${IN}]@[${IN}x${OUT}] r ${R}: ${((performance.now() - t0) / reps).toFixed(2)} ms`);
    }
  }
  if (bn !== 'cpu') be.destroy();
}
process.exit(0);

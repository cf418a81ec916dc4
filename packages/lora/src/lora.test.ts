/** LoRA and DoRA: no-op at initialisation, gradients against finite differences, training, save/load. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdamW, createCpuBackend, createWebGPUBackend, crossEntropy, Generator, noGrad, scope, tensor, type Backend, type Tensor } from '@moegraph/tensor-webgpu';
import { loadGGUF, type LlamaModel } from '@moegraph/llm';
import { stories260KPath } from '@moegraph/llm/node';
import { attachLoRA, loadAdapter, saveAdapter, type Adapter } from './index.js';
import { tinyModel } from './testing/tiny.js';

let gpu: Backend;
const cpu = createCpuBackend();
const f64 = createCpuBackend({ precision: 'f64' });
beforeAll(async () => {
  gpu = await createWebGPUBackend();
});
afterAll(() => gpu?.destroy());

const ids = (b: Backend, xs: number[]) => tensor(Int32Array.from(xs), [1, xs.length], { dtype: 'i32', backend: b });
const logits = async (m: LlamaModel, x: Tensor) => Float64Array.from(await noGrad(() => m.forward(x)).data());
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i]! - b[i]!));
  return w;
};

/** Next-token training text: a few sentences in the model's domain. */
const TEXT = 'Tom had a red ball. He liked to play with his ball in the garden. One day the ball went over the wall. Tom was sad.';

async function trainLoss(model: LlamaModel, adapter: Adapter, steps: number, tok: (s: string) => number[]): Promise<[number, number]> {
  const all = tok(TEXT);
  const b = model.backend;
  const x = ids(b, all.slice(0, -1));
  const y = tensor(Int32Array.from(all.slice(1)), [1, all.length - 1], { dtype: 'i32', backend: b });
  const opt = new AdamW(adapter.parameters(), { lr: 0.01, weightDecay: 0 });
  const out: number[] = [];
  for (let s = 0; s < steps; s++) {
    const l = scope(() => {
      opt.zeroGrad();
      const loss = crossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
      return loss.detach();
    });
    if (s === 0 || s === steps - 1) out.push(await l.item());
    l.dispose();
  }
  opt.dispose();
  return [out[0]!, out[1]!];
}

describe.each(['lora', 'dora'] as const)('%s on stories260K', (method) => {
  it.each(['cpu', 'webgpu'])('changes nothing at initialisation and trains (loss falls) on %s', async (bn) => {
    const backend = bn === 'cpu' ? cpu : gpu;
    const { model, tokenizer } = await loadGGUF(stories260KPath(), { backend });
    const x = ids(backend, tokenizer.encode('Once upon a time', { addBos: true }));
    const before = await logits(model, x);
    const adapter = attachLoRA(model, { method, r: 4, alpha: 8, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'], seed: 1 });
    expect(maxDiff(await logits(model, x), before)).toBeLessThan(1e-5);
    const [first, last] = await trainLoss(model, adapter, 40, (s) => tokenizer.encode(s, { addBos: true }));
    expect(last).toBeLessThan(first * 0.7);
    adapter.detach();
    expect(maxDiff(await logits(model, x), before)).toBe(0);
    model.dispose();
  });
});

describe('gradients match central finite differences (float64, tiny model)', () => {
  it.each(['lora', 'dora'] as const)('%s', async (method) => {
    const model = await tinyModel(f64);
    const adapter = attachLoRA(model, { method, r: 2, alpha: 4, targets: ['q', 'v', 'gate', 'down'], seed: 5, doraNormGrad: method === 'dora' });
    // Random B (not zero) so every gradient path is exercised.
    const g = new Generator(9);
    const params = adapter.parameters();
    const set = (p: Tensor, v: Float64Array) => {
      const t = tensor(v, p.shape, { backend: f64 });
      f64.accumulate(p.buffer('t').storage, p.offset, t.view(), 'copy');
      t.dispose();
    };
    const values = params.map((p) => Float64Array.from({ length: p.size }, () => g.normal() * 0.3 + (p.name?.endsWith('magnitude_vector') ? 1 : 0)));
    params.forEach((p, i) => set(p, values[i]!));
    const x = ids(f64, [1, 5, 9, 3, 7]);
    const y = tensor(Int32Array.from([5, 9, 3, 7, 2]), [1, 5], { dtype: 'i32', backend: f64 });
    const lossOf = () => noGrad(() => scope(() => (crossEntropy(model.forward(x), y).dataSync() as Float64Array)[0]!));
    scope(() => crossEntropy(model.forward(x), y).backward());
    const h = 1e-6;
    params.forEach((p, i) => {
      const grad = p.grad!.dataSync();
      const v = values[i]!;
      for (let j = 0; j < v.length; j += Math.max(1, Math.floor(v.length / 6))) {
        const orig = v[j]!;
        v[j] = orig + h;
        set(p, v);
        const lp = lossOf();
        v[j] = orig - h;
        set(p, v);
        const lm = lossOf();
        v[j] = orig;
        set(p, v);
        const fd = (lp - lm) / (2 * h);
        expect(Math.abs(grad[j]! - fd), `${p.name}[${j}] autograd ${grad[j]} vs fd ${fd}`).toBeLessThan(1e-6 + 1e-5 * Math.abs(fd));
      }
    });
  });
});

describe('save and load', () => {
  it('round trip gives bit-identical outputs; wrong model and missing tensors are clear errors', async () => {
    const { model, tokenizer } = await loadGGUF(stories260KPath(), { backend: gpu });
    const adapter = attachLoRA(model, { method: 'dora', r: 4, alpha: 8, targets: ['q', 'v', 'up'], seed: 2 });
    await trainLoss(model, adapter, 5, (s) => tokenizer.encode(s, { addBos: true }));
    adapter.training = false;
    const x = ids(gpu, tokenizer.encode('The cat sat', { addBos: true }));
    const want = await logits(model, x);
    const dir = mkdtempSync(join(tmpdir(), 'moegraph-adapter-'));
    await saveAdapter(adapter, dir);
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, use_dora: true, target_modules: ['q_proj', 'v_proj', 'up_proj'] });
    adapter.detach();

    const loaded = await loadAdapter(model, dir);
    loaded.training = false;
    const got = await logits(model, x);
    expect(maxDiff(got, want)).toBe(0);
    loaded.detach();

    const tiny = await tinyModel(gpu);
    await expect(loadAdapter(tiny, dir)).rejects.toThrow(/trained on a different model \(dim 64 vs 8/);
    const bad = mkdtempSync(join(tmpdir(), 'moegraph-adapter-bad-'));
    writeFileSync(join(bad, 'adapter_config.json'), JSON.stringify({ ...cfg, target_modules: ['q_proj', 'v_proj', 'up_proj', 'down_proj'] }));
    writeFileSync(join(bad, 'adapter_model.safetensors'), readFileSync(join(dir, 'adapter_model.safetensors')));
    await expect(loadAdapter(model, bad)).rejects.toThrow(/adapter_model\.safetensors: missing tensor 'base_model\.model\.model\.layers\.0\.mlp\.down_proj\.lora_A\.weight'/);
    expect(model.blocks[0]!.ffn.constructor.name).toBe('SwiGLU');
    model.dispose();
  });

  it('counts trainable parameters as PEFT does', async () => {
    const { model } = await loadGGUF(stories260KPath(), { backend: cpu });
    const lora = attachLoRA(model, { r: 2, alpha: 4, targets: ['q', 'k', 'v', 'o'] });
    // q, o: 64x64 -> r(64 + 64); k, v: 64x32 -> r(64 + 32); 5 layers.
    expect(lora.numParameters()).toBe(5 * 2 * (2 * (64 + 64) + 2 * (64 + 32)));
    lora.detach();
    const dora = attachLoRA(model, { method: 'dora', r: 2, alpha: 4, targets: ['gate'] });
    expect(dora.numParameters()).toBe(5 * (2 * (64 + 172) + 172));
    dora.detach();
    model.dispose();
  });
});

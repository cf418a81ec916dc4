/** Shared test helpers: token tensors, logits, training a few steps, finite differences. */
import { AdamW, crossEntropy, noGrad, scope, tensor, type Backend, type Tensor } from '@moegraph/tensor-webgpu';
import type { LlamaModel } from '@moegraph/llm';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Adapter } from '../adapter.js';

export const ids = (b: Backend, xs: number[]) => tensor(Int32Array.from(xs), [1, xs.length], { dtype: 'i32', backend: b });

export const logits = async (m: LlamaModel, x: Tensor) => Float64Array.from(await noGrad(() => scope(() => m.forward(x))).data());

export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i]! - b[i]!));
  return w;
}

/** Next-token training text in the stories model's domain. */
export const TEXT = 'Tom had a red ball. He liked to play with his ball in the garden. One day the ball went over the wall. Tom was sad.';

/** Train the adapter on TEXT; returns [first loss, last loss]. */
export async function trainLoss(model: LlamaModel, adapter: Adapter, steps: number, tok: (s: string) => number[], lr = 0.01): Promise<[number, number]> {
  const all = tok(TEXT);
  const b = model.backend;
  const x = ids(b, all.slice(0, -1));
  const y = tensor(Int32Array.from(all.slice(1)), [1, all.length - 1], { dtype: 'i32', backend: b });
  const opt = new AdamW(adapter.parameters(), { lr, weightDecay: 0 });
  const out: number[] = [];
  for (let s = 0; s < steps; s++) {
    const l = scope(() => {
      adapter.clearRoutes();
      opt.zeroGrad();
      const loss = crossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
      return loss.detach();
    });
    if (s === 0 || s === steps - 1) out.push(await l.item());
    l.dispose();
  }
  adapter.clearRoutes();
  opt.dispose();
  x.dispose();
  y.dispose();
  return [out[0]!, out[1]!];
}

/** Overwrite a parameter's values (f64-exact on the f64 cpu backend). */
export function setParam(p: Tensor, v: ArrayLike<number>): void {
  const t = tensor(Float64Array.from(v), p.shape, { backend: p.backend });
  p.backend.accumulate(p.buffer('setParam').storage, p.offset, t.view(), 'copy');
  t.dispose();
}

/**
 * Check autograd against central differences for sampled entries of every parameter, where
 * `loss` is a pure function of the parameters' current values (a float64 cpu backend).
 */
export function checkGradients(params: Tensor[], values: Float64Array[], loss: () => number, h = 1e-6, samples = 6): { name: string; at: number; got: number; fd: number }[] {
  const bad: { name: string; at: number; got: number; fd: number }[] = [];
  params.forEach((p, i) => {
    // A parameter the loss never reached has no .grad: its gradient is zero, which FD must confirm.
    const grad = p.grad ? p.grad.dataSync() : new Float64Array(p.size);
    const v = values[i]!;
    for (let j = 0; j < v.length; j += Math.max(1, Math.floor(v.length / samples))) {
      const orig = v[j]!;
      v[j] = orig + h;
      setParam(p, v);
      const lp = loss();
      v[j] = orig - h;
      setParam(p, v);
      const lm = loss();
      v[j] = orig;
      setParam(p, v);
      const fd = (lp - lm) / (2 * h);
      if (!(Math.abs(grad[j]! - fd) <= 1e-6 + 1e-5 * Math.abs(fd))) bad.push({ name: p.name ?? `param ${i}`, at: j, got: grad[j]!, fd });
    }
  });
  return bad;
}

/**
 * Save the adapter, detach it (the model's logits must return to `before` when given), load it
 * again (logits bit-identical to the trained adapter's). Returns the loaded adapter (still
 * attached), its folder and its parsed adapter_config.json. `io` is the caller's saveAdapter and
 * loadAdapter: packages that register router types or attachers pass the built @moegraph/lora's,
 * whose registries they filled.
 */
export async function expectSaveLoadRoundTrip(
  io: { saveAdapter(a: Adapter, dir: string): Promise<void>; loadAdapter(m: LlamaModel, dir: string): Promise<Adapter> },
  model: LlamaModel,
  adapter: Adapter,
  x: Tensor,
  before?: Float64Array,
) {
  const { saveAdapter, loadAdapter } = io;
  adapter.training = false;
  const want = await logits(model, x);
  const dir = mkdtempSync(join(tmpdir(), 'moegraph-adapter-'));
  await saveAdapter(adapter, dir);
  const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
  adapter.detach();
  if (before) expect(maxDiff(await logits(model, x), before)).toBe(0);
  const loaded = await loadAdapter(model, dir);
  loaded.training = false;
  expect(maxDiff(await logits(model, x), want)).toBe(0);
  return { loaded, dir, config };
}

/**
 * Independent numerical verification against PyTorch (fixtures/make_fixtures.py -> fixtures/gru.json):
 * a tiny MixLoRA layer wrapped in T rounds of recurrent routing, outputs and gradients of
 * sum(y_T * c) for every parameter, on the cpu and webgpu backends, fused and unfused GRU, to 1e-5 relative.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, createWebGPUBackend, Generator, mul, sum, tensor, type Backend, type Tensor } from '@moegraph/tensor-webgpu';
import { Linear, SwiGLU } from '@moegraph/llm';
import { LinearRouter, MixLoRAFFN } from '@moegraph/lora';
import { setParam } from '../../lora/src/testing/helpers.js';
import { LowRankGRU, RecurrentFFN, type CandidateActivation, type CandidateInput } from './index.js';

interface HostT { shape: number[]; data: number[] }
interface Case {
  rounds: number; act: CandidateActivation; input: CandidateInput; shared: boolean;
  y: number[]; indices: number[][][]; grads: Record<string, number[]>;
}
const fx = JSON.parse(readFileSync(new URL('../fixtures/gru.json', import.meta.url), 'utf8')) as {
  dims: { d: number; ffn: number; numExperts: number; topK: number; r: number; alpha: number; hiddenSize: number; shape: number[] };
  params: Record<string, HostT>;
  cases: Case[];
};
const { d, numExperts: N, topK: K, r, alpha, hiddenSize, shape } = fx.dims;

/** torch [out, in] -> ours [in, out] (and back: the same map with rows/cols swapped). */
function transpose2d(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j]!;
  return out;
}

/** max |a - b| / max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  expect(a.length).toBe(b.length);
  return num / Math.max(den, 1e-30);
}

function build(b: Backend, c: Case, fused: boolean) {
  const P = fx.params;
  const host = (k: string) => Float32Array.from(P[k]!.data);
  const lin = (k: string) => new Linear(k, tensor(host(k), P[k]!.shape, { backend: b }));
  const base = new SwiGLU(lin('Wgate'), lin('Wup'), lin('Wdown'));
  const g = new Generator(0);
  const router = (k: string) => {
    const rt = new LinearRouter(d, N, K, b, g, k);
    setParam(rt.weight, host(k));
    return rt;
  };
  const ffn = new MixLoRAFFN('model.layers.0.mlp', base, router('router'), { numExperts: N, r, alpha, dropout: 0, targets: ['gate', 'up', 'down'], generator: g });
  ffn.training = false;
  const E = ffn.experts;
  const experts: Record<string, Tensor> = {
    A_gate: E.gate!.A, B_gate: E.gate!.B, A_up: E.up!.A, B_up: E.up!.B, A_down: E.down!.A, B_down: E.down!.B,
  };
  for (const [k, t] of Object.entries(experts)) setParam(t, host(k));
  const gru = new LowRankGRU({ dim: d, hiddenSize, candidateActivation: c.act, candidateInput: c.input, wgInit: 'xavier', fused, backend: b, generator: g });
  // torch layouts: W_z/W_r/W_o [d_bar, d_bar + d], W_g [d, d_bar]
  const gruParams: Record<string, [Tensor, number, number] | [Tensor]> = {
    W_z: [gru.Wz, hiddenSize, hiddenSize + d], W_r: [gru.Wr, hiddenSize, hiddenSize + d], W_o: [gru.Wo, hiddenSize, hiddenSize + d],
    b_o: [gru.bo], W_g: [gru.Wg, d, hiddenSize],
  };
  for (const [k, [t, rows, cols]] of Object.entries(gruParams)) setParam(t, rows ? transpose2d(P[k]!.data, rows, cols!) : host(k));
  const rounds = c.shared ? [] : [router('router_round2'), router('router_round3')].slice(0, c.rounds - 1);
  const rec = new RecurrentFFN('model.layers.0.mlp', ffn, gru, { rounds: c.rounds, roundRouters: c.shared ? undefined : [rounds] });
  const grads = async (): Promise<Record<string, Float64Array>> => {
    const out: Record<string, Float64Array> = {};
    out.router = Float64Array.from(await ffn.router.parameters()[0]!.grad!.data());
    for (const [i, rt] of rounds.entries()) out[`router_round${i + 2}`] = Float64Array.from(await rt.weight.grad!.data());
    for (const [k, t] of Object.entries(experts)) out[k] = Float64Array.from(await t.grad!.data());
    for (const [k, [t, rows, cols]] of Object.entries(gruParams)) {
      if (!t.grad) continue; // T = 1: the GRU never runs (torch reports no gradient either)
      const v = await t.grad.data();
      // ours [in, out] back to torch [out, in]: ours is [cols, rows] of torch's [rows, cols]
      out[k] = rows ? transpose2d(v, cols!, rows) : Float64Array.from(v);
    }
    return out;
  };
  return { ffn, rec, grads };
}

let gpu: Backend;
const cpu = createCpuBackend();
beforeAll(async () => {
  gpu = await createWebGPUBackend();
});
afterAll(() => gpu?.destroy());

// Both GRU paths: the fused gate kernels (default) and the composition of small ops they replace.
describe.each([['cpu', true], ['cpu', false], ['webgpu', true], ['webgpu', false]] as const)('matches the PyTorch reference on %s (fused GRU: %s)', (name, fused) => {
  it.each(fx.cases.map((c) => [`T=${c.rounds} ${c.act} candidate-input=${c.input} ${c.shared ? 'shared' : 'unshared'} router`, c] as const))('%s', async (_, c) => {
    const b = name === 'cpu' ? cpu : gpu;
    const { ffn, rec, grads } = build(b, c, fused);
    const x = tensor(Float32Array.from(fx.params.x!.data), shape, { backend: b, requiresGrad: true });
    const cc = tensor(Float32Array.from(fx.params.c!.data), shape, { backend: b });
    const y = rec.forward(x);
    sum(mul(y, cc)).backward();
    expect(y.shape).toEqual(shape);
    // The same experts were chosen in every round (as sets; order within a token may differ).
    expect(ffn.routes.length).toBe(c.rounds);
    for (const [t, rt] of ffn.routes.entries()) {
      const got = Array.from(await rt.indices!.data());
      const want = c.indices[t]!;
      want.forEach((pair, tok) => expect([...got.slice(tok * K, tok * K + K)].sort()).toEqual([...pair].sort()));
    }
    expect(relErr(await y.data(), c.y)).toBeLessThan(1e-5);
    expect(relErr(await x.grad!.data(), c.grads.x!)).toBeLessThan(1e-5);
    const got = await grads();
    const keys = Object.keys(c.grads).filter((k) => k !== 'x');
    expect(keys.sort()).toEqual(Object.keys(got).sort());
    for (const k of keys) {
      const e = relErr(got[k]!, c.grads[k]!);
      expect(e, `${k}: rel err ${e}`).toBeLessThan(1e-5);
    }
  });
});

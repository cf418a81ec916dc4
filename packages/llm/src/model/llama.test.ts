/**
 * The transformer against known outputs: the stories260K golden greedy text on both backends, the
 * same weights through the Hugging Face path, and Llama/Qwen2-shaped checkpoints against an
 * independent float64 reference.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, createWebGPUBackend, Generator, noGrad, tensor, type Backend } from '@moegraph/tensor-webgpu';
import { stories260KPath } from '../paths.js';
import { openSource, readGGUF, readTensor, writeSafetensors } from '../io/index.js';
import { ggufToHFTokenizerJson } from '../tokenizer/index.js';
import { loadGGUF, loadHF, loadModel } from './load.js';
import { serveDir } from '../io/test-http.js';
import { referenceForward, type RefConfig, type RefWeights } from '../testing/reference.js';

const GOLDEN =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. ' +
  'One day, she saw a big, red ball. She wanted to play with it, but it was too high.';
const squash = (s: string) => s.replace(/\s+/g, ' ').trim();

let gpu: Backend;
const cpu = createCpuBackend();
beforeAll(async () => {
  gpu = await createWebGPUBackend();
});
afterAll(() => gpu?.destroy());

describe.each(['cpu', 'webgpu'])('stories260K on %s', (name) => {
  it('greedy decoding from "Once upon a time" reproduces the known text', async () => {
    const backend = name === 'cpu' ? cpu : gpu;
    const { model, tokenizer } = await loadGGUF(stories260KPath(), { backend });
    const prompt = tokenizer.encode('Once upon a time', { addBos: true });
    expect(prompt[0]).toBe(1);
    const ids = await model.generateGreedy(prompt, 60, { stopAtEos: true });
    const text = tokenizer.decode([...prompt, ...ids], { skipSpecial: true });
    expect(squash(text).slice(0, GOLDEN.length)).toBe(GOLDEN);
    model.dispose();
  });
});

describe('download code paths', () => {
  it('loads stories260K over HTTP (Range requests, as from the Hugging Face hub) and generates the same tokens', async () => {
    const { dirname, basename } = await import('node:path');
    const server = await serveDir(dirname(stories260KPath()), { ranges: true });
    try {
      const local = await loadGGUF(stories260KPath(), { backend: cpu });
      const remote = await loadModel(`${server.url}/${basename(stories260KPath())}`, { backend: cpu });
      const prompt = local.tokenizer.encode('Once upon a time', { addBos: true });
      expect(remote.tokenizer.encode('Once upon a time', { addBos: true })).toEqual(prompt);
      expect(await remote.model.generateGreedy(prompt, 12)).toEqual(await local.model.generateGreedy(prompt, 12));
      expect(server.requests.some((r) => r.range)).toBe(true);
      local.model.dispose();
      remote.model.dispose();
    } finally {
      await server.close();
    }
  });
});

/** Undo llama.cpp's Q/K row permutation (HF half-rotation layout -> ggml interleaved pairs). */
function unpermute(w: Float32Array, heads: number, rows: number, cols: number): Float32Array {
  const hd = rows / heads;
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < hd / 2; j++) {
      for (let s = 0; s < 2; s++) {
        const ggufRow = h * hd + j * 2 + s;
        const hfRow = h * hd + s * (hd / 2) + j;
        out.set(w.subarray(ggufRow * cols, (ggufRow + 1) * cols), hfRow * cols);
      }
    }
  }
  return out;
}

describe('Hugging Face layout', () => {
  it('stories260K written as an HF checkpoint gives the same logits as the GGUF', async () => {
    const path = stories260KPath();
    const src = await openSource(path);
    const file = await readGGUF(src);
    const meta = file.metadata;
    const nHeads = meta.get('llama.attention.head_count') as number;
    const nKv = meta.get('llama.attention.head_count_kv') as number;
    const nLayers = meta.get('llama.block_count') as number;
    const hfNames: Record<string, string> = {
      'token_embd.weight': 'model.embed_tokens.weight', 'output_norm.weight': 'model.norm.weight',
    };
    const per: Record<string, string> = {
      attn_norm: 'input_layernorm', ffn_norm: 'post_attention_layernorm', attn_q: 'self_attn.q_proj', attn_k: 'self_attn.k_proj',
      attn_v: 'self_attn.v_proj', attn_output: 'self_attn.o_proj', ffn_gate: 'mlp.gate_proj', ffn_up: 'mlp.up_proj', ffn_down: 'mlp.down_proj',
    };
    const tensors = [];
    for (const t of file.tensors) {
      let data = (await readTensor(src, t, 'f32')) as Float32Array;
      const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(t.name);
      const name = m ? `model.layers.${m[1]}.${per[m[2]!]}.weight` : hfNames[t.name]!;
      if (m?.[2] === 'attn_q') data = unpermute(data, nHeads, t.shape[0]!, t.shape[1]!);
      if (m?.[2] === 'attn_k') data = unpermute(data, nKv, t.shape[0]!, t.shape[1]!);
      tensors.push({ name, dtype: 'F32' as const, shape: t.shape, data });
    }
    await src.close();
    const dir = mkdtempSync(join(tmpdir(), 'moegraph-hf-'));
    await writeSafetensors(join(dir, 'model.safetensors'), tensors);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({
      model_type: 'llama', hidden_size: 64, num_hidden_layers: nLayers, num_attention_heads: nHeads, num_key_value_heads: nKv,
      intermediate_size: 172, vocab_size: 512, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true,
      max_position_embeddings: 512, bos_token_id: 1, eos_token_id: 2,
    }));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(ggufToHFTokenizerJson(meta)));

    const a = await loadGGUF(path, { backend: cpu });
    const b = await loadHF(dir, { backend: cpu });
    const text = 'Once upon a time, there was a cat.';
    const ids = a.tokenizer.encode(text, { addBos: true });
    expect(b.tokenizer.encode(text, { addBos: true })).toEqual(ids);
    const x = tensor(Int32Array.from(ids), [1, ids.length], { dtype: 'i32', backend: cpu });
    const la = noGrad(() => a.model.forward(x)).dataSync();
    const lb = noGrad(() => b.model.forward(x)).dataSync();
    let worst = 0;
    for (let i = 0; i < la.length; i++) worst = Math.max(worst, Math.abs(la[i]! - lb[i]!));
    expect(worst).toBeLessThan(1e-4);
    a.model.dispose();
    b.model.dispose();
  });

  /** A random checkpoint in HF layout plus the same weights as float64 arrays for the reference. */
  async function randomCheckpoint(arch: 'llama' | 'qwen2', c: RefConfig, layers: number, tied: boolean) {
    const g = new Generator(arch === 'llama' ? 11 : 12);
    const rnd = (n: number, s = 0.2) => Float64Array.from({ length: n }, () => g.normal() * s);
    const ones = (n: number) => Float64Array.from({ length: n }, () => 1 + 0.1 * g.normal());
    const qd = c.nHeads * c.headDim;
    const kd = c.nKvHeads * c.headDim;
    const bias = arch === 'qwen2';
    const w: RefWeights = {
      embed: rnd(c.vocab * c.dim, 1),
      layers: Array.from({ length: layers }, () => ({
        attnNorm: ones(c.dim), ffnNorm: ones(c.dim),
        q: rnd(qd * c.dim), k: rnd(kd * c.dim), v: rnd(kd * c.dim), o: rnd(c.dim * qd),
        ...(bias ? { qBias: rnd(qd), kBias: rnd(kd), vBias: rnd(kd) } : {}),
        gate: rnd(c.ffnDim * c.dim), up: rnd(c.ffnDim * c.dim), down: rnd(c.dim * c.ffnDim),
      })),
      norm: ones(c.dim),
      output: new Float64Array(0),
    };
    w.output = tied ? w.embed : rnd(c.vocab * c.dim);
    // Round every weight to f32 first so the reference sees exactly what the model loads.
    const f32 = (a: Float64Array) => Float32Array.from(a);
    const round = (a: Float64Array) => Float64Array.from(f32(a));
    const t: { name: string; dtype: 'F32'; shape: number[]; data: Float32Array }[] = [];
    const put = (name: string, a: Float64Array, shape: number[]) => t.push({ name, dtype: 'F32', shape, data: f32(a) });
    put('model.embed_tokens.weight', w.embed, [c.vocab, c.dim]);
    w.layers.forEach((L, i) => {
      const p = `model.layers.${i}.`;
      put(p + 'input_layernorm.weight', L.attnNorm, [c.dim]);
      put(p + 'post_attention_layernorm.weight', L.ffnNorm, [c.dim]);
      put(p + 'self_attn.q_proj.weight', L.q, [qd, c.dim]);
      put(p + 'self_attn.k_proj.weight', L.k, [kd, c.dim]);
      put(p + 'self_attn.v_proj.weight', L.v, [kd, c.dim]);
      put(p + 'self_attn.o_proj.weight', L.o, [c.dim, qd]);
      if (L.qBias) {
        put(p + 'self_attn.q_proj.bias', L.qBias, [qd]);
        put(p + 'self_attn.k_proj.bias', L.kBias!, [kd]);
        put(p + 'self_attn.v_proj.bias', L.vBias!, [kd]);
      }
      put(p + 'mlp.gate_proj.weight', L.gate, [c.ffnDim, c.dim]);
      put(p + 'mlp.up_proj.weight', L.up, [c.ffnDim, c.dim]);
      put(p + 'mlp.down_proj.weight', L.down, [c.dim, c.ffnDim]);
    });
    put('model.norm.weight', w.norm, [c.dim]);
    if (!tied) put('lm_head.weight', w.output, [c.vocab, c.dim]);
    const rw: RefWeights = {
      embed: round(w.embed), norm: round(w.norm), output: round(w.output),
      layers: w.layers.map((L) => Object.fromEntries(Object.entries(L).map(([k, v]) => [k, round(v as Float64Array)])) as RefWeights['layers'][number]),
    };
    const dir = mkdtempSync(join(tmpdir(), `moegraph-${arch}-`));
    await writeSafetensors(join(dir, 'model.safetensors'), t);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({
      model_type: arch, hidden_size: c.dim, num_hidden_layers: layers, num_attention_heads: c.nHeads, num_key_value_heads: c.nKvHeads,
      intermediate_size: c.ffnDim, vocab_size: c.vocab, rms_norm_eps: c.eps, rope_theta: c.theta, tie_word_embeddings: tied,
      max_position_embeddings: 64, bos_token_id: 1, eos_token_id: 2,
    }));
    const stories = await openSource(stories260KPath());
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(ggufToHFTokenizerJson((await readGGUF(stories)).metadata)));
    await stories.close();
    return { dir, weights: rw };
  }

  it.each([
    ['llama', false, { dim: 24, nHeads: 6, nKvHeads: 2, headDim: 4, ffnDim: 40, vocab: 512, eps: 1e-5, theta: 10000 }],
    ['qwen2', true, { dim: 32, nHeads: 4, nKvHeads: 2, headDim: 8, ffnDim: 48, vocab: 512, eps: 1e-6, theta: 1e6 }],
  ] as const)('a random %s checkpoint (tied %s) matches the float64 reference on both backends', async (arch, tied, c) => {
    const { dir, weights } = await randomCheckpoint(arch, c, 2, tied);
    const ids = [1, 17, 300, 5, 42, 511, 9];
    const want = referenceForward(c, weights, ids).flatMap((r) => Array.from(r));
    for (const backend of [cpu, gpu]) {
      const { model, config } = await loadHF(dir, { backend });
      expect(config.qkvBias).toBe(arch === 'qwen2');
      expect(config.tiedEmbeddings).toBe(tied);
      const logits = noGrad(() => model.forward(tensor(Int32Array.from(ids), [1, ids.length], { dtype: 'i32', backend })));
      const got = await logits.data();
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (1e-3 + Math.abs(want[i]!)));
      expect(worst, `${backend.name}`).toBeLessThan(1e-3);
      logits.dispose();
      model.dispose();
    }
  });
});

it('f16 weights stay close to f32 and an unsupported architecture is named', async () => {
  const a = await loadGGUF(stories260KPath(), { backend: gpu });
  const b = await loadGGUF(stories260KPath(), { backend: gpu, dtype: 'f16' });
  const ids = a.tokenizer.encode('The dog ran', { addBos: true });
  const x = tensor(Int32Array.from(ids), [1, ids.length], { dtype: 'i32', backend: gpu });
  const [la, lb] = [await noGrad(() => a.model.forward(x)).data(), await noGrad(() => b.model.forward(x)).data()];
  let worst = 0;
  for (let i = 0; i < la.length; i++) worst = Math.max(worst, Math.abs(la[i]! - lb[i]!));
  expect(worst).toBeLessThan(0.05);
  const dir = mkdtempSync(join(tmpdir(), 'moegraph-bad-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'gpt_neox' }));
  await writeSafetensors(join(dir, 'model.safetensors'), []);
  await expect(loadHF(dir, { backend: cpu })).rejects.toThrow(/config\.json: unsupported model_type 'gpt_neox'/);
});

/**
 * Loading a pretrained model: GGUF files and Hugging Face safetensors directories, streamed one
 * tensor at a time (read, convert, upload, drop) so a load never holds two copies of the model.
 */
import { f32ToF16Bits, tensor, getBackend, type Backend, type Tensor } from '@moegraph/tensor-webgpu';
import { openSource, readGGUF, readTensor as readGGUFTensor, openHFModel } from '../io/index.js';
import { tokenizerFromGGUF, tokenizerFromHF, type Tokenizer } from '../tokenizer/index.js';
import { configFromGGUF, configFromHF, validateConfig, type LlamaConfig } from './config.js';
import { LlamaModel } from './llama.js';
import { Attention, Block, Linear, SwiGLU } from './modules.js';

export interface LoadOptions {
  backend?: Backend;
  /** Storage type of the frozen linear weights (norms and embeddings stay f32). Default f32. */
  dtype?: 'f32' | 'f16';
}

export interface LoadedModel {
  model: LlamaModel;
  tokenizer: Tokenizer;
  config: LlamaConfig;
}

/** Where each weight lives in a file format; `null` when a format has no such tensor. */
interface WeightReader {
  readonly file: string;
  has(name: string): boolean;
  shape(name: string): number[];
  read(name: string, want: 'f32' | 'f16'): Promise<Float32Array | Uint16Array>;
}

type Role = 'embed' | 'norm' | 'output' | `${number}.${'attnNorm' | 'ffnNorm' | 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down' | 'qBias' | 'kBias' | 'vBias'}`;

const GGUF_NAMES: Record<string, string> = {
  attnNorm: 'attn_norm.weight', ffnNorm: 'ffn_norm.weight', q: 'attn_q.weight', k: 'attn_k.weight', v: 'attn_v.weight',
  o: 'attn_output.weight', gate: 'ffn_gate.weight', up: 'ffn_up.weight', down: 'ffn_down.weight',
  qBias: 'attn_q.bias', kBias: 'attn_k.bias', vBias: 'attn_v.bias',
};
const HF_NAMES: Record<string, string> = {
  attnNorm: 'input_layernorm.weight', ffnNorm: 'post_attention_layernorm.weight', q: 'self_attn.q_proj.weight',
  k: 'self_attn.k_proj.weight', v: 'self_attn.v_proj.weight', o: 'self_attn.o_proj.weight', gate: 'mlp.gate_proj.weight',
  up: 'mlp.up_proj.weight', down: 'mlp.down_proj.weight', qBias: 'self_attn.q_proj.bias', kBias: 'self_attn.k_proj.bias',
  vBias: 'self_attn.v_proj.bias',
};

export function ggufName(role: Role): string {
  if (role === 'embed') return 'token_embd.weight';
  if (role === 'norm') return 'output_norm.weight';
  if (role === 'output') return 'output.weight';
  const [i, r] = role.split('.') as [string, string];
  return `blk.${i}.${GGUF_NAMES[r]}`;
}

export function hfName(role: Role): string {
  if (role === 'embed') return 'model.embed_tokens.weight';
  if (role === 'norm') return 'model.norm.weight';
  if (role === 'output') return 'lm_head.weight';
  const [i, r] = role.split('.') as [string, string];
  return `model.layers.${i}.${HF_NAMES[r]}`;
}

/** [rows, cols] row-major -> [cols, rows]: PyTorch's [out, in] linear weight to our [in, out]. */
function transpose2d<T extends Float32Array | Uint16Array>(a: T, rows: number, cols: number): T {
  const out = new (a.constructor as new (n: number) => T)(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}

async function build(reader: WeightReader, cfg: LlamaConfig, name: (r: Role) => string, opts: LoadOptions): Promise<LlamaModel> {
  validateConfig(reader.file, cfg);
  const backend = opts.backend ?? getBackend();
  const wdt = opts.dtype ?? 'f32';
  const made: Tensor[] = [];
  const expectShape = (role: Role, shape: number[]) => {
    const n = name(role);
    if (!reader.has(n)) throw new Error(`${reader.file}: missing tensor '${n}'`);
    const got = reader.shape(n);
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new Error(`${reader.file}: tensor '${n}' has shape [${got}], expected [${shape}] from the config`);
    }
    return n;
  };
  const vec = async (role: Role, len: number) => {
    const n = expectShape(role, [len]);
    const t = tensor((await reader.read(n, 'f32')) as Float32Array, [len], { backend, name: n });
    made.push(t);
    return t;
  };
  /** A linear weight [out, in] in the file, stored transposed [in, out]. */
  const linear = async (role: Role, out: number, inp: number, bias?: Role) => {
    const n = expectShape(role, [out, inp]);
    const data = transpose2d(await reader.read(n, wdt), out, inp);
    const w = tensor(data, [inp, out], { backend, dtype: wdt, name: n });
    made.push(w);
    return new Linear(n, w, bias ? await vec(bias, out) : null);
  };
  try {
    const { dim, nLayers, nHeads, nKvHeads, headDim, ffnDim, vocabSize } = cfg;
    const en = expectShape('embed', [vocabSize, dim]);
    const embedData = (await reader.read(en, 'f32')) as Float32Array;
    const embed = tensor(embedData, [vocabSize, dim], { backend, name: en });
    made.push(embed);
    const blocks: Block[] = [];
    for (let i = 0; i < nLayers; i++) {
      const r = (s: string) => `${i}.${s}` as Role;
      const bias = (s: string) => (cfg.qkvBias ? r(s) : undefined);
      const attn = new Attention(
        cfg,
        i,
        await linear(r('q'), nHeads * headDim, dim, bias('qBias')),
        await linear(r('k'), nKvHeads * headDim, dim, bias('kBias')),
        await linear(r('v'), nKvHeads * headDim, dim, bias('vBias')),
        await linear(r('o'), dim, nHeads * headDim),
      );
      const ffn = new SwiGLU(await linear(r('gate'), ffnDim, dim), await linear(r('up'), ffnDim, dim), await linear(r('down'), dim, ffnDim));
      blocks.push(new Block(cfg, await vec(r('attnNorm'), dim), attn, await vec(r('ffnNorm'), dim), ffn));
    }
    const norm = await vec('norm', dim);
    let output: Linear;
    if (cfg.tiedEmbeddings) {
      // The head multiplies by the embedding's transpose; keep a [dim, vocab] copy so no per-step transpose.
      const head = tensor(transpose2d(wdt === 'f16' ? toF16(embedData) : embedData, vocabSize, dim), [dim, vocabSize], { backend, dtype: wdt, name: 'output (tied)' });
      made.push(head);
      output = new Linear('output', head);
    } else {
      output = await linear('output', vocabSize, dim);
    }
    return new LlamaModel(cfg, backend, embed, blocks, norm, output, made);
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
}

function toF16(a: Float32Array): Uint16Array {
  const o = new Uint16Array(a.length);
  for (let i = 0; i < a.length; i++) o[i] = f32ToF16Bits(a[i]!);
  return o;
}

/** Load a GGUF file (path or http(s) URL). */
export async function loadGGUF(pathOrUrl: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const src = await openSource(pathOrUrl);
  try {
    const file = await readGGUF(src);
    const byName = new Map(file.tensors.map((t) => [t.name, t]));
    const config = configFromGGUF(src.name, file.metadata, byName.has('output.weight'), byName.get('token_embd.weight')?.shape[0]);
    const reader: WeightReader = {
      file: src.name,
      has: (n) => byName.has(n),
      shape: (n) => byName.get(n)!.shape,
      read: (n, want) => readGGUFTensor(src, byName.get(n)!, want),
    };
    const model = await build(reader, config, ggufName, opts);
    return { model, tokenizer: tokenizerFromGGUF(file.metadata), config };
  } finally {
    await src.close();
  }
}

/** Load a Hugging Face model directory (config.json, safetensors, tokenizer.json) or its base URL. */
export async function loadHF(dirOrUrl: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const hf = await openHFModel(dirOrUrl);
  try {
    const config = configFromHF(`${dirOrUrl}/config.json`, hf.config as Record<string, unknown>);
    const names = new Set(hf.tensorNames);
    if (!names.has('lm_head.weight')) config.tiedEmbeddings = true;
    const reader: WeightReader = {
      file: dirOrUrl,
      has: (n) => names.has(n),
      shape: (n) => hf.info(n).shape,
      read: (n, want) => hf.read(n, want),
    };
    const model = await build(reader, config, hfName, opts);
    const tokenizer = tokenizerFromHF(await hf.readJSON('tokenizer.json'), await hf.readJSON('tokenizer_config.json').catch(() => undefined));
    return { model, tokenizer, config };
  } finally {
    await hf.close();
  }
}

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/**
 * Build a model from host arrays named as in Hugging Face checkpoints (model.embed_tokens.weight,
 * model.layers.0.self_attn.q_proj.weight, ...; PyTorch [out, in] layout), e.g. for tests and
 * for weights produced in memory.
 */
export function modelFromTensors(config: LlamaConfig, tensors: Map<string, HostTensor>, opts: LoadOptions = {}): Promise<LlamaModel> {
  const reader: WeightReader = {
    file: 'tensors',
    has: (n) => tensors.has(n),
    shape: (n) => tensors.get(n)!.shape,
    read: async (n, want) => {
      const d = tensors.get(n)!.data;
      return want === 'f16' ? toF16(d) : d;
    },
  };
  return build(reader, config, hfName, opts);
}

/** Load by file type: a `.gguf` path/URL or a Hugging Face directory/URL. */
export function loadModel(pathOrUrl: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  return /\.gguf(\?.*)?$/i.test(pathOrUrl) ? loadGGUF(pathOrUrl, opts) : loadHF(pathOrUrl, opts);
}

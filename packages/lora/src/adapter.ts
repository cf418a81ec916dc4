/**
 * An adapter attached to a model: its modules, trainable parameters, and saving/loading as
 * safetensors + a JSON config close to PEFT's adapter_config.json.
 */
import { readAll, tensor, type Tensor } from '@moegraph/tensor-webgpu';
import type { LlamaModel } from '@moegraph/llm';
import type { RouteResult } from './moe/router.js';

/** One tensor as saved: PEFT-style name, and whether our [in, out] layout is transposed on disk. */
export interface SavedTensor {
  name: string;
  tensor: Tensor;
  /** Stored transposed (our [in, out] -> PEFT's [out, in] for lora_A/lora_B). */
  transpose: boolean;
}

export interface AdapterModule {
  parameters(): Tensor[];
  savedTensors(): SavedTensor[];
  /** Switch dropout (and any training-only behaviour) on or off. */
  training: boolean;
  /** Put the base module back into the model and free this module's parameters. */
  detach(): void;
  /** Mixture layers: the routes of the forwards since the last clearRoutes(). */
  readonly routes?: RouteResult[];
  clearRoutes?(): void;
}

/** What identifies the base model an adapter was trained on. */
export interface BaseFingerprint {
  arch: string;
  dim: number;
  nLayers: number;
  vocabSize: number;
  ffnDim: number;
}

export function fingerprint(model: LlamaModel): BaseFingerprint {
  const c = model.config;
  return { arch: c.arch, dim: c.dim, nLayers: c.nLayers, vocabSize: c.vocabSize, ffnDim: c.ffnDim };
}

export interface AdapterConfigJSON {
  peft_type: string;
  task_type: 'CAUSAL_LM';
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string[];
  use_dora: boolean;
  bias: 'none';
  base_model_name_or_path: string | null;
  /** Everything else needed to rebuild the adapter exactly (method, seed, router settings, graph). */
  moegraph: Record<string, unknown> & { method: string; seed: number; base: BaseFingerprint; format: 1 };
}

function transpose2d(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}

export class Adapter {
  constructor(
    readonly model: LlamaModel,
    readonly config: AdapterConfigJSON,
    readonly modules: Map<string, AdapterModule>,
  ) {}

  parameters(): Tensor[] {
    return [...this.modules.values()].flatMap((m) => m.parameters());
  }

  /** Trainable parameter count (what the papers report as "trainable params"). */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /** Routes of every mixture layer since the last clearRoutes(), in layer order. */
  routes(): RouteResult[] {
    return [...this.modules.values()].flatMap((m) => m.routes ?? []);
  }

  /** Forget recorded routes (call at the start of each step). */
  clearRoutes(): void {
    for (const m of this.modules.values()) m.clearRoutes?.();
  }

  set training(on: boolean) {
    for (const m of this.modules.values()) m.training = on;
  }

  savedTensors(): SavedTensor[] {
    return [...this.modules.values()].flatMap((m) => m.savedTensors());
  }

  /** Tensors in their on-disk layout (host arrays), read back in one round trip. */
  async exportTensors(): Promise<{ name: string; shape: number[]; data: Float32Array }[]> {
    const list = this.savedTensors();
    const data = await readAll(list.map((s) => s.tensor));
    return list.map((s, i) => {
      const t = s.tensor;
      const d = Float32Array.from(data[i]!);
      if (!s.transpose) return { name: s.name, shape: [...t.shape], data: d };
      const [r, c] = t.shape as [number, number];
      return { name: s.name, shape: [c, r], data: transpose2d(d, r, c) };
    });
  }

  /** Overwrite parameter values from on-disk tensors; shapes and names must match exactly. */
  importTensors(file: string, tensors: Map<string, { shape: number[]; data: Float32Array }>): void {
    const want = this.savedTensors();
    const names = new Set(want.map((w) => w.name));
    for (const n of tensors.keys()) {
      if (!names.has(n)) throw new Error(`${file}: unexpected tensor '${n}' (not part of this adapter)`);
    }
    for (const s of want) {
      const got = tensors.get(s.name);
      if (!got) throw new Error(`${file}: missing tensor '${s.name}'`);
      const shape = s.transpose ? [...s.tensor.shape].reverse() : [...s.tensor.shape];
      if (got.shape.length !== shape.length || got.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`${file}: tensor '${s.name}' has shape [${got.shape}], expected [${shape}] (adapter for a different model or config?)`);
      }
      const data = s.transpose ? transpose2d(got.data, shape[0]!, shape[1]!) : got.data;
      const t = s.tensor;
      const be = t.backend;
      const tmp = tensor(data, t.shape, { backend: be });
      if (!t.isContiguous) throw new Error(`adapter: parameter '${s.name}' is not contiguous`);
      be.accumulate(t.buffer('load').storage, t.offset, tmp.view(), 'copy');
      tmp.dispose();
    }
  }

  /** Remove the adapter from the model (restoring the base layers) and free its parameters. */
  detach(): void {
    for (const m of this.modules.values()) m.detach();
    this.modules.clear();
  }
}

/** Attaching LoRA or DoRA to a loaded model's linear layers by target name. */
import { Generator } from '@moegraph/tensor-webgpu';
import type { LlamaModel } from '@moegraph/llm';
import { Adapter, fingerprint, type AdapterConfigJSON, type AdapterModule, type SavedTensor } from './adapter.js';
import { DoRALinear, LoRALinear } from './lora.js';
import { baseLinear, modulePath, parseTargets, PEFT_NAME, slot, type Target } from './targets.js';

export interface LoRAConfig {
  method?: 'lora' | 'dora';
  r: number;
  alpha: number;
  dropout?: number;
  /** Short names (q k v o gate up down) or PEFT names (q_proj ...). Default q, k, v, o. */
  targets?: readonly string[];
  /** Seeds initialisation and dropout. */
  seed?: number;
  /** DoRA: keep the weight norm's gradient (PEFT detaches it). */
  doraNormGrad?: boolean;
  baseModelName?: string;
}

class LoRAModule implements AdapterModule {
  constructor(
    readonly path: string,
    readonly layer: LoRALinear,
    private readonly restore: () => void,
  ) {}
  detach(): void {
    this.restore();
    for (const p of this.layer.parameters()) {
      p.grad?.dispose();
      p.dispose();
    }
  }
  get training(): boolean {
    return this.layer.training;
  }
  set training(on: boolean) {
    this.layer.training = on;
  }
  parameters() {
    return this.layer.parameters();
  }
  savedTensors(): SavedTensor[] {
    const p = `base_model.model.${this.path}`;
    const out: SavedTensor[] = [
      { name: `${p}.lora_A.weight`, tensor: this.layer.A, transpose: true },
      { name: `${p}.lora_B.weight`, tensor: this.layer.B, transpose: true },
    ];
    if (this.layer instanceof DoRALinear) out.push({ name: `${p}.lora_magnitude_vector`, tensor: this.layer.magnitude, transpose: false });
    return out;
  }
}

export interface PlainLoRAOptions {
  method: 'lora' | 'dora';
  r: number;
  alpha: number;
  dropout: number;
  doraNormGrad: boolean;
}

/** Wrap each targeted linear of every block with LoRA/DoRA, registering the modules. */
export function addLoRAModules(model: LlamaModel, targets: readonly Target[], o: PlainLoRAOptions, g: Generator, modules: Map<string, AdapterModule>): void {
  model.blocks.forEach((block, i) => {
    for (const t of targets) {
      const path = modulePath(i, t);
      const base = baseLinear(block, t, path);
      const opts = { r: o.r, alpha: o.alpha, dropout: o.dropout, generator: g };
      const layer = o.method === 'dora' ? new DoRALinear(path, base, { ...opts, detachNorm: !o.doraNormGrad }) : new LoRALinear(path, base, opts);
      const s = slot(block, t);
      s.set(layer);
      modules.set(path, new LoRAModule(path, layer, () => s.set(base)));
    }
  });
}

/** Wrap the targeted linears of every block with LoRA (or DoRA); base weights stay frozen. */
export function attachLoRA(model: LlamaModel, cfg: LoRAConfig): Adapter {
  const method = cfg.method ?? 'lora';
  if (method !== 'lora' && method !== 'dora') throw new Error(`attachLoRA: unknown method '${String(method)}' (lora or dora)`);
  const targets: Target[] = parseTargets(cfg.targets ?? ['q', 'k', 'v', 'o']);
  const seed = cfg.seed ?? 0;
  const g = new Generator(seed);
  const modules = new Map<string, AdapterModule>();
  addLoRAModules(model, targets, { method, r: cfg.r, alpha: cfg.alpha, dropout: cfg.dropout ?? 0, doraNormGrad: !!cfg.doraNormGrad }, g, modules);
  const config: AdapterConfigJSON = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: cfg.r,
    lora_alpha: cfg.alpha,
    lora_dropout: cfg.dropout ?? 0,
    target_modules: targets.map((t) => PEFT_NAME[t]),
    use_dora: method === 'dora',
    bias: 'none',
    base_model_name_or_path: cfg.baseModelName ?? null,
    moegraph: { format: 1, method, seed, base: fingerprint(model), doraNormGrad: !!cfg.doraNormGrad },
  };
  return new Adapter(model, config, modules);
}

/**
 * Attaching a mixture of LoRA experts (SPEC section 2): MixLoRA and MING-MoE replace each block's
 * FFN with fused experts; LoRAMoE and MoLA plug an expert bank and a router onto single linears.
 */
import { Generator } from '@moegraph/tensor-webgpu';
import { SwiGLU, type LlamaModel } from '@moegraph/llm';
import { Adapter, fingerprint, type AdapterConfigJSON, type AdapterModule, type SavedTensor } from '../adapter.js';
import { addLoRAModules } from '../attach.js';
import { baseLinear, modulePath, parseTargets, PEFT_NAME, slot, type Target } from '../targets.js';
import type { MoELayer } from './layer.js';
import { MixLoRAFFN } from './mixlora.js';
import { PluggedMoELinear } from './plugged.js';
import { linearRouter, type RouteResult, type RouterContext, type RouterFactory } from './router.js';

export type MoEMethod = 'mixlora' | 'mingmoe' | 'loramoe' | 'mola';

export interface MoEConfig {
  method: MoEMethod;
  /** Experts per layer: one number, or one per layer (MoLA layer-wise, e.g. [2, 4, 6, 8]). */
  numExperts: number | readonly number[];
  /** Experts per token (default 2; LoRAMoE is dense and ignores it). */
  topK?: number;
  r: number;
  alpha: number;
  dropout?: number;
  /** Linears that carry experts. Defaults: gate/up/down (MixLoRA, MING-MoE, LoRAMoE), all seven (MoLA). */
  targets?: readonly string[];
  /** Plain LoRA on these attention linears (default q, k, v, o for MixLoRA/MING-MoE, none otherwise). */
  attnLoRA?: readonly string[];
  /** Router for each mixture layer (default: the linear softmax router). */
  router?: RouterFactory;
  seed?: number;
  baseModelName?: string;
}

/**
 * Router types that loadAdapter can rebuild by name; other packages register theirs. Each saved
 * router's describe() output (with its `type`) is handed back to rebuild that same router.
 */
export const routerTypes: Record<string, (saved: Record<string, unknown>) => RouterFactory> = {
  linear: () => linearRouter,
};

class MoEModule implements AdapterModule {
  constructor(
    readonly layer: MoELayer & { parameters(): ReturnType<AdapterModule['parameters']>; savedTensors(): SavedTensor[] },
    private readonly restore: () => void,
  ) {}
  get training() {
    return this.layer.training;
  }
  set training(on: boolean) {
    this.layer.training = on;
  }
  parameters() {
    return this.layer.parameters();
  }
  savedTensors() {
    return this.layer.savedTensors();
  }
  get routes(): RouteResult[] {
    return this.layer.routes;
  }
  clearRoutes(): void {
    this.layer.clearRoutes();
  }
  detach(): void {
    this.restore();
    for (const p of this.layer.parameters()) {
      p.grad?.dispose();
      p.dispose();
    }
  }
}

const DEFAULT_TARGETS: Record<MoEMethod, readonly Target[]> = {
  mixlora: ['gate', 'up', 'down'],
  mingmoe: ['gate', 'up', 'down'],
  loramoe: ['gate', 'up', 'down'],
  mola: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'],
};

export function attachMoE(model: LlamaModel, cfg: MoEConfig): Adapter {
  const method = cfg.method;
  if (!(method in DEFAULT_TARGETS)) throw new Error(`attachMoE: unknown method '${String(method)}' (mixlora, mingmoe, loramoe, mola)`);
  const L = model.blocks.length;
  const perLayer = typeof cfg.numExperts === 'number' ? new Array<number>(L).fill(cfg.numExperts) : [...cfg.numExperts];
  if (perLayer.length !== L) throw new Error(`attachMoE: numExperts has ${perLayer.length} entries for ${L} layers`);
  const seed = cfg.seed ?? 0;
  const g = new Generator(seed);
  const targets = parseTargets(cfg.targets ?? DEFAULT_TARGETS[method]);
  const fused = method === 'mixlora' || method === 'mingmoe';
  const attn = parseTargets(cfg.attnLoRA ?? (fused ? ['q', 'k', 'v', 'o'] : []));
  const dropout = cfg.dropout ?? 0;
  const router = cfg.router ?? linearRouter;
  const modules = new Map<string, AdapterModule>();
  const routers: Record<string, Record<string, unknown>> = {};
  const makeRouter = (c: RouterContext) => {
    const r = router(c);
    routers[c.path] = r.describe();
    return r;
  };
  addLoRAModules(model, attn, { method: 'lora', r: cfg.r, alpha: cfg.alpha, dropout, doraNormGrad: false }, g, modules);
  model.blocks.forEach((block, i) => {
    const N = perLayer[i]!;
    const topK = method === 'loramoe' ? N : Math.min(cfg.topK ?? 2, N);
    const ctx = (path: string, inFeatures: number) => ({ layer: i, path, inFeatures, numExperts: N, topK, backend: model.backend, generator: g });
    if (fused) {
      const path = `model.layers.${i}.mlp`;
      const base = block.ffn;
      if (!(base instanceof SwiGLU)) throw new Error(`attachMoE: ${path} is already adapted (${base.constructor.name})`);
      const ffnTargets = targets.filter((t): t is 'gate' | 'up' | 'down' => t === 'gate' || t === 'up' || t === 'down');
      if (ffnTargets.length !== targets.length) throw new Error(`attachMoE: ${method} experts live on gate/up/down only, got ${targets.join(', ')}`);
      const layer = new MixLoRAFFN(path, base, makeRouter(ctx(path, model.config.dim)), { numExperts: N, r: cfg.r, alpha: cfg.alpha, dropout, targets: ffnTargets, generator: g });
      block.ffn = layer;
      modules.set(path, new MoEModule(layer, () => (block.ffn = base)));
    } else {
      for (const t of targets) {
        const path = modulePath(i, t);
        const base = baseLinear(block, t, path);
        const layer = new PluggedMoELinear(path, base, makeRouter(ctx(path, base.inFeatures)), { numExperts: N, r: cfg.r, alpha: cfg.alpha, dropout, generator: g });
        const s = slot(block, t);
        s.set(layer);
        modules.set(path, new MoEModule(layer, () => s.set(base)));
      }
    }
  });
  const config: AdapterConfigJSON = {
    peft_type: 'MOE_LORA',
    task_type: 'CAUSAL_LM',
    r: cfg.r,
    lora_alpha: cfg.alpha,
    lora_dropout: dropout,
    target_modules: [...attn, ...targets].map((t) => PEFT_NAME[t]),
    use_dora: false,
    bias: 'none',
    base_model_name_or_path: cfg.baseModelName ?? null,
    moegraph: {
      format: 1, method, seed, base: fingerprint(model),
      numExperts: perLayer, topK: cfg.topK ?? 2, targets, attnLoRA: attn,
      routers,
    },
  };
  return new Adapter(model, config, modules);
}

/** Rebuild attachMoE's config from a saved adapter_config.json (each router from its saved description). */
export function moeConfigFromJSON(c: AdapterConfigJSON): MoEConfig {
  const m = c.moegraph as AdapterConfigJSON['moegraph'] & {
    numExperts: number[]; topK: number; targets: Target[]; attnLoRA: Target[]; routers: Record<string, { type?: string } & Record<string, unknown>>;
  };
  const router: RouterFactory = (ctx) => {
    const saved = m.routers?.[ctx.path];
    if (!saved) throw new Error(`adapter config: no saved router for ${ctx.path}`);
    const type = String(saved.type);
    const make = routerTypes[type];
    if (!make) throw new Error(`adapter config: unknown router type '${type}' at ${ctx.path} (registered: ${Object.keys(routerTypes).join(', ')}; import the package that provides it)`);
    return make(saved)(ctx);
  };
  return {
    method: m.method as MoEMethod, numExperts: m.numExperts, topK: m.topK, r: c.r, alpha: c.lora_alpha, dropout: c.lora_dropout,
    targets: m.targets, attnLoRA: m.attnLoRA, router, seed: m.seed, baseModelName: c.base_model_name_or_path ?? undefined,
  };
}

/**
 * attachGraphMoE: a LoRA-MoE base (attachMoE; MixLoRA by default) plus, in every block, the
 * recurrent routing wrapper and its low-rank GRU (SPEC section 4). One Adapter holds both, so
 * parameters(), routes(), saving, loading and detaching cover the whole method.
 */
import { Generator, hash32, type Tensor } from '@moegraph/tensor-webgpu';
import type { LlamaModel } from '@moegraph/llm';
import {
  Adapter,
  attachMoE,
  attachers,
  moeConfigFromJSON,
  routerTypes,
  type AdapterConfigJSON,
  type AdapterModule,
  type MoEConfig,
  type MoELayer,
  type Router,
  type SavedTensor,
} from '@moegraph/lora';
import { gruHiddenSize, LowRankGRU, type CandidateActivation, type CandidateInput, type WgInit } from './gru.js';
import { mixtureLayers, RecurrentFFN } from './recurrent.js';

export interface GraphMoEConfig {
  /** The LoRA-MoE base (attachMoE's config). Defaults: the paper's settings, MixLoRA, 8 experts, top-2, r 16, alpha 32, dropout 0.05. */
  base?: Partial<MoEConfig>;
  /** Rounds T (default 3); T = 1 is exactly the base MoE. */
  rounds?: number;
  /** d_bar = int(hiddenScale * d) (default 0.1), at least 1. */
  hiddenScale?: number;
  /** Explicit GRU hidden size d_bar (overrides hiddenScale). */
  hiddenSize?: number;
  /** Candidate activation: 'tanh' (default) or 'sigmoid' (the paper's typesetting of Eq. 6). */
  candidateActivation?: CandidateActivation;
  /** Candidate input: 'y' (default, Eq. 6) or 'x' (Algorithm 1, line 31). */
  candidateInput?: CandidateInput;
  /** Initial GRU state (only 'zeros'). */
  h0?: 'zeros';
  /** One router for all rounds (default true); false gives rounds 2..T their own routers. */
  sharedRouter?: boolean;
  /** Unshared routers start as a 'copy' of the round-1 router (default) or as 'fresh' draws. */
  unsharedRouterInit?: 'copy' | 'fresh';
  /** W_g initialisation: 'zeros' (default; a fresh adapter equals the base MoE) or 'xavier'. */
  wgInit?: WgInit;
  /** Seed of the base MoE (unless base.seed is given) and of the GRU initialisation (default 0). */
  seed?: number;
}

/** The paper's base settings (SPEC section 4): MixLoRA, 8 experts, top-2, r 16, alpha 32, dropout 0.05. */
export const GRAPHMOE_BASE_DEFAULTS = { method: 'mixlora', numExperts: 8, topK: 2, r: 16, alpha: 32, dropout: 0.05 } as const satisfies Partial<MoEConfig>;

/** The recurrent settings saved in adapter_config.json (moegraph.graphmoe). */
export interface GraphMoESaved {
  rounds: number;
  hiddenScale: number;
  hiddenSize: number;
  candidateActivation: CandidateActivation;
  candidateInput: CandidateInput;
  h0: 'zeros';
  sharedRouter: boolean;
  unsharedRouterInit: 'copy' | 'fresh';
  wgInit: WgInit;
  seed: number;
  gruSeed: number;
}

/** One block's recurrent wrapper as an adapter module: the GRU (and unshared routers). */
export class GraphMoEModule implements AdapterModule {
  training = true;
  constructor(
    readonly path: string,
    readonly ffn: RecurrentFFN,
    private readonly restore: () => void,
  ) {}
  parameters(): Tensor[] {
    return this.ffn.parameters();
  }
  savedTensors(): SavedTensor[] {
    const out = this.ffn.gru.savedTensors(`base_model.model.${this.path}.gru`);
    (this.ffn.roundRouters ?? []).forEach((rs, j) => {
      const m = this.ffn.mixtures[j]!;
      rs.forEach((r, t) => out.push(...r.savedTensors(`base_model.model.${m.path}.router_round${t + 2}`)));
    });
    return out;
  }
  detach(): void {
    this.restore();
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.dispose();
    }
  }
}

function copyInto(dst: Tensor, src: Tensor): void {
  if (dst.shape.join() !== src.shape.join()) throw new Error(`graphmoe: cannot copy router parameter [${src.shape}] into [${dst.shape}]`);
  dst.backend.accumulate(dst.buffer('copy').storage, dst.offset, src.view(), 'copy');
}

/** Routers for rounds 2..T of one mixture layer, rebuilt from the round-1 router's description. */
function roundRoutersFor(m: MoELayer, layer: number, inFeatures: number, T: number, init: 'copy' | 'fresh', g: Generator): Router[] {
  const own = m.router;
  const desc = own.describe();
  const type = String(desc.type);
  const make = routerTypes[type];
  if (!make) throw new Error(`graphmoe ${m.path}: cannot build per-round copies of router type '${type}' (registered: ${Object.keys(routerTypes).join(', ')})`);
  const wb = own.parameters()[0]?.backend;
  if (!wb) throw new Error(`graphmoe ${m.path}: router has no parameters to copy`);
  const out: Router[] = [];
  for (let t = 2; t <= T; t++) {
    const r = make(desc)({ layer, path: `${m.path}.router_round${t}`, inFeatures, numExperts: own.numExperts, topK: own.topK, backend: wb, generator: g });
    if (init === 'copy') {
      const [dst, src] = [r.parameters(), own.parameters()];
      if (dst.length !== src.length) throw new Error(`graphmoe ${m.path}: round router has ${dst.length} parameters, the base router ${src.length}`);
      dst.forEach((p, i) => copyInto(p, src[i]!));
    }
    out.push(r);
  }
  return out;
}

export function attachGraphMoE(model: LlamaModel, cfg: GraphMoEConfig = {}): Adapter {
  const seed = cfg.seed ?? 0;
  const moe: MoEConfig = { ...GRAPHMOE_BASE_DEFAULTS, seed, ...cfg.base } as MoEConfig;
  const rounds = cfg.rounds ?? 3;
  if (!(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`attachGraphMoE: rounds ${rounds} must be an integer >= 1`);
  const d = model.config.dim;
  const hiddenScale = cfg.hiddenScale ?? 0.1;
  const hiddenSize = cfg.hiddenSize ?? gruHiddenSize(d, hiddenScale);
  const h0 = cfg.h0 ?? 'zeros';
  if (h0 !== 'zeros') throw new Error(`attachGraphMoE: h0 '${String(h0)}' (only 'zeros')`);
  const sharedRouter = cfg.sharedRouter ?? true;
  const unsharedRouterInit = cfg.unsharedRouterInit ?? 'copy';
  const candidateActivation = cfg.candidateActivation ?? 'tanh';
  const candidateInput = cfg.candidateInput ?? 'y';
  const wgInit = cfg.wgInit ?? 'zeros';
  // The GRU's own stream, so the base MoE's initialisation is that of attachMoE with the same seed.
  const gruSeed = hash32((seed ^ 0x47525531) >>> 0);
  const g = new Generator(gruSeed);
  // Per-round routers draw from a stream of their own, so the GRUs do not depend on sharedRouter.
  const gr = new Generator(hash32((gruSeed ^ 0x524f5554) >>> 0));

  const base = attachMoE(model, moe);
  const modules = new Map<string, AdapterModule>(base.modules);
  try {
    model.blocks.forEach((block, i) => {
      const path = `model.layers.${i}.mlp`;
      const inner = block.ffn;
      const mixtures = mixtureLayers(inner);
      if (!mixtures.length) throw new Error(`attachGraphMoE: ${path} has no mixture layer (base method '${moe.method}' put no experts on the FFN)`);
      const gru = new LowRankGRU({ dim: d, hiddenSize, candidateActivation, candidateInput, wgInit, backend: model.backend, generator: g, name: `${path}.gru` });
      const roundRouters = sharedRouter
        ? undefined
        : mixtures.map((m) => roundRoutersFor(m, i, (m as { inFeatures?: number }).inFeatures ?? d, rounds, unsharedRouterInit, gr));
      const ffn = new RecurrentFFN(path, inner, gru, { rounds, roundRouters });
      block.ffn = ffn;
      modules.set(`${path}.recurrent`, new GraphMoEModule(path, ffn, () => {
        if (block.ffn === ffn) block.ffn = inner;
      }));
    });
  } catch (e) {
    new Adapter(model, base.config, modules).detach();
    throw e;
  }

  const saved: GraphMoESaved = {
    rounds, hiddenScale, hiddenSize, candidateActivation, candidateInput, h0, sharedRouter, unsharedRouterInit, wgInit, seed, gruSeed,
  };
  const bm = base.config.moegraph;
  const config: AdapterConfigJSON = {
    ...base.config,
    peft_type: 'GRAPHMOE',
    moegraph: {
      ...bm,
      method: 'graphmoe',
      seed,
      baseMethod: moe.method,
      baseSeed: bm.seed,
      baseMoE: {
        method: moe.method, numExperts: bm.numExperts, topK: bm.topK, r: moe.r, alpha: moe.alpha, dropout: base.config.lora_dropout,
        targets: bm.targets, attnLoRA: bm.attnLoRA, seed: bm.seed,
      },
      graphmoe: saved,
    },
  };
  return new Adapter(model, config, modules);
}

/** Rebuild attachGraphMoE's config from a saved adapter_config.json. */
export function graphMoEConfigFromJSON(c: AdapterConfigJSON): GraphMoEConfig {
  const m = c.moegraph as AdapterConfigJSON['moegraph'] & { baseMethod?: string; baseSeed?: number; graphmoe?: GraphMoESaved };
  if (!m.graphmoe || !m.baseMethod) throw new Error('adapter config: not a GraphMoE adapter (moegraph.graphmoe / baseMethod missing)');
  const base = moeConfigFromJSON({ ...c, moegraph: { ...m, method: m.baseMethod, seed: m.baseSeed ?? m.seed } });
  const gm = m.graphmoe;
  return {
    base,
    rounds: gm.rounds,
    hiddenScale: gm.hiddenScale,
    hiddenSize: gm.hiddenSize,
    candidateActivation: gm.candidateActivation,
    candidateInput: gm.candidateInput,
    h0: gm.h0,
    sharedRouter: gm.sharedRouter,
    unsharedRouterInit: gm.unsharedRouterInit,
    wgInit: gm.wgInit,
    seed: gm.seed,
  };
}

/** Register 'graphmoe' in @moegraph/lora's attachers so loadAdapter rebuilds it (done on import). */
export function registerGraphMoE(): void {
  attachers.graphmoe = (model, c) => attachGraphMoE(model, graphMoEConfigFromJSON(c));
}

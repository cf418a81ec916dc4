/**
 * Attaching one of the eight methods to a loaded model with the SPEC defaults, and the auxiliary
 * loss each method adds to the language-model loss.
 *
 * | method   | adapter                                             | aux loss (default)                          |
 * |----------|-----------------------------------------------------|---------------------------------------------|
 * | lora     | LoRA on q,k,v,o,gate,up,down                        | none                                        |
 * | dora     | DoRA on q,k,v,o,gate,up,down                        | none                                        |
 * | mixlora  | attachMoE mixlora (fused experts + q,k,v,o LoRA)    | Mixtral load balance, coef 0.001            |
 * | mingmoe  | attachMoE mingmoe (MixLoRA-style, top-2)            | none                                        |
 * | loramoe  | attachMoE loramoe (dense, plugged on gate,up,down)  | none                                        |
 * | mola     | attachMoE mola (plugged on all 7 linears, top-2)    | none (optional Mixtral: balanceCoef)        |
 * | gmoe     | MixLoRA experts + GCN graph router (paper defaults) | 0.005 L_Poisson + 8 L_Normal (learnable lambda/sigma per layer) |
 * | graphmoe | attachGraphMoE (MixLoRA base, 3 rounds)             | Switch load balance over all rounds and layers, coef 0.01 |
 *
 * `cfg.options` keys (all optional; unknown keys are rejected so typos do not pass silently):
 *
 * - `targets: string[]`: linears that carry LoRA (lora/dora) or experts (MoE methods); short names
 *   q k v o gate up down or PEFT names.
 * - `attnLoRA: string[]`: plain LoRA on these attention linears for MoE methods (attachMoE default:
 *   q,k,v,o for mixlora/mingmoe/gmoe, none for loramoe/mola).
 * - `doraNormGrad: boolean`: DoRA keeps the weight norm's gradient (default false, as PEFT).
 * - `numExpertsPerLayer: number[]`: MoLA layer-wise expert counts (one per layer, e.g. [2,4,6,8]).
 * - `balanceCoef: number`: load-balance coefficient (mixlora 0.001, graphmoe 0.01, mola 0 = off,
 *   also accepted by mingmoe/loramoe/gmoe where it adds a balance term; 0 disables).
 * - `balanceKind: 'mixtral' | 'switch'`: load-balance form (default mixtral; graphmoe switch).
 * - gmoe: `poissonCoef` (0.005), `normalCoef` (8), `poissonForm` ('kl' paper | 'abs-log' reference),
 *   `lambdaInit` (1.5), `lambdaClamp` ([lo, hi] or null; default null = paper, reference [1, 2]),
 *   `sigmaInit` (N/2), `normalWindow` ('batch' paper | 'running' reference | 'ema'), `normalDecay`
 *   (0.99, ema), `normalNormalization` ('per-layer' paper | 'global' reference),
 *   `graph` (GraphRouterOptions of @moegraph/graph-router: hidden, layers, edges, twins, lastActivation,
 *   inputGain, conv, adjacency, evalGraph, ...), `beta` (edge density shortcut, 0.1),
 *   `referenceRouter: true` (the reference code's router settings), `router: 'graph' | 'linear'`
 *   (ablation -Graph).
 * - graphmoe: `baseMethod` ('mixlora' | 'loramoe' | 'mola' | 'mingmoe'), `rounds` (3), `hiddenScale` (0.1),
 *   `hiddenSize`, `candidateActivation` ('tanh' | 'sigmoid'), `candidateInput` ('y' | 'x'),
 *   `sharedRouter` (true), `unsharedRouterInit` ('copy' | 'fresh'), `wgInit` ('zeros' | 'xavier').
 */
import { tensor, type Tensor } from '@moegraph/tensor-webgpu';
import type { LlamaModel } from '@moegraph/llm';
import { attachLoRA, attachMoE, type Adapter, type MoEConfig, type RouteResult, type RouterFactory, ALL_TARGETS } from '@moegraph/lora';
import {
  loadBalanceLossFromRoutes, meanOfLosses, NormalBalance, normalBalanceLossOverLayers, PoissonDistinction,
  type AccumulationWindow,
} from '@moegraph/losses';
import { graphRouter, REFERENCE_GRAPH_ROUTER, type GraphRouterOptions } from '@moegraph/graph-router';
import { attachGraphMoE, type GraphMoEConfig } from '@moegraph/recurrent-router';
import { add, mul } from '@moegraph/tensor-webgpu';
import type { MethodName, RunConfig } from './types.js';

/** Serializable state of a method's loss modules (for checkpoints). */
export interface MethodLossState {
  /** One entry per NormalBalance layer (gmoe), in layer order. */
  normal: { window: AccumulationWindow; steps: number; counts: number[] | null }[];
}

export interface AttachedMethod {
  method: MethodName;
  adapter: Adapter;
  /**
   * The method's auxiliary loss for the routes of one forward (already multiplied by its
   * coefficients), or null when the method has none. `mask`: [T] 0/1 token mask (padding = 0).
   */
  auxLoss(routes: readonly RouteResult[], mask?: Tensor): Tensor | null;
  /** Trainable parameters of the loss modules (gmoe: lambda and sigma per layer). */
  extraParams: Tensor[];
  /** Loss modules' non-parameter state (NormalBalance windows). */
  state(): Promise<MethodLossState>;
  loadState(s: MethodLossState): void;
  /** The resolved settings (coefficients, router options), for logs and results. */
  settings: Record<string, unknown>;
  /** Detach the adapter and free the loss modules. */
  dispose(): void;
}

/** Option keys attachMethod understands (anything else in cfg.options is an error). */
export const METHOD_OPTION_KEYS = [
  'targets', 'attnLoRA', 'doraNormGrad', 'numExpertsPerLayer', 'balanceCoef', 'balanceKind',
  'poissonCoef', 'normalCoef', 'poissonForm', 'lambdaInit', 'lambdaClamp', 'sigmaInit', 'normalWindow', 'normalDecay',
  'normalNormalization', 'graph', 'beta', 'referenceRouter', 'router',
  'baseMethod', 'rounds', 'hiddenScale', 'hiddenSize', 'candidateActivation', 'candidateInput', 'sharedRouter',
  'unsharedRouterInit', 'wgInit',
] as const;

/** Option keys the trainer itself reads from cfg.options (not method settings). */
export const TRAINER_OPTION_KEYS = ['evalBatchSize', 'betas', 'eps', 'logEvery', 'progress'] as const;

/** Default load-balance coefficient per method (0 = none). */
export const DEFAULT_BALANCE_COEF: Record<MethodName, number> = {
  lora: 0, dora: 0, mixlora: 0.001, mingmoe: 0, loramoe: 0, mola: 0, gmoe: 0, graphmoe: 0.01,
};

class Options {
  constructor(private readonly o: Record<string, unknown>, private readonly method: string) {}
  private bad(key: string, want: string): never {
    throw new Error(`options.${key} (${this.method}): expected ${want}, got ${JSON.stringify(this.o[key])}`);
  }
  has(key: string): boolean {
    return this.o[key] !== undefined;
  }
  num(key: string, dflt: number): number {
    const v = this.o[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.bad(key, 'a finite number');
    return v;
  }
  optNum(key: string): number | undefined {
    return this.has(key) ? this.num(key, 0) : undefined;
  }
  bool(key: string, dflt: boolean): boolean {
    const v = this.o[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') this.bad(key, 'true or false');
    return v;
  }
  oneOf<T extends string>(key: string, allowed: readonly T[], dflt: T): T {
    const v = this.o[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) this.bad(key, `one of ${allowed.join(', ')}`);
    return v as T;
  }
  strings(key: string): string[] | undefined {
    const v = this.o[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) this.bad(key, 'a list of strings');
    return v as string[];
  }
  numbers(key: string): number[] | undefined {
    const v = this.o[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'number')) this.bad(key, 'a list of numbers');
    return v as number[];
  }
  object(key: string): Record<string, unknown> | undefined {
    const v = this.o[key];
    if (v === undefined) return undefined;
    if (!v || typeof v !== 'object' || Array.isArray(v)) this.bad(key, 'an object');
    return v as Record<string, unknown>;
  }
}

/** Reject option keys neither the method nor the trainer knows. */
export function checkOptionKeys(options: Record<string, unknown> | undefined): void {
  if (!options) return;
  const known = new Set<string>([...METHOD_OPTION_KEYS, ...TRAINER_OPTION_KEYS]);
  for (const k of Object.keys(options)) {
    if (!known.has(k)) throw new Error(`options: unknown key '${k}' (known: ${[...known].join(', ')})`);
  }
}

const noState = async (): Promise<MethodLossState> => ({ normal: [] });

function balanceAux(coef: number, kind: 'mixtral' | 'switch') {
  return (routes: readonly RouteResult[], mask?: Tensor): Tensor | null => {
    if (coef === 0 || routes.length === 0) return null;
    // Dense routing (LoRAMoE) has no top-K choice: Mixtral-style needs indices, so fall back to Switch.
    const k = kind === 'mixtral' && routes.some((r) => !r.indices) ? 'switch' : kind;
    return loadBalanceLossFromRoutes(routes, { coef, kind: k, mask });
  };
}

/** Attach cfg.method to `model` (seeded by cfg.seed) and build its auxiliary loss. */
export function attachMethod(model: LlamaModel, cfg: RunConfig): AttachedMethod {
  const method = cfg.method;
  const raw = cfg.options ?? {};
  checkOptionKeys(raw);
  const o = new Options(raw, method);
  const seed = cfg.seed;
  const common = { r: cfg.r, alpha: cfg.alpha, dropout: cfg.dropout, seed, baseModelName: cfg.model };
  const balanceKind = o.oneOf('balanceKind', ['mixtral', 'switch'] as const, method === 'graphmoe' ? 'switch' : 'mixtral');
  const balanceCoef = o.num('balanceCoef', DEFAULT_BALANCE_COEF[method]);
  const settings: Record<string, unknown> = { balanceCoef, balanceKind };

  const plain = (adapter: Adapter): AttachedMethod => ({
    method, adapter, extraParams: [], settings,
    auxLoss: balanceAux(balanceCoef, balanceKind),
    state: noState,
    loadState: () => {},
    dispose: () => adapter.detach(),
  });

  switch (method) {
    case 'lora':
    case 'dora': {
      const targets = o.strings('targets') ?? [...ALL_TARGETS];
      settings.targets = targets;
      return plain(attachLoRA(model, { ...common, method, targets, doraNormGrad: o.bool('doraNormGrad', false) }));
    }
    case 'mixlora':
    case 'mingmoe':
    case 'loramoe':
    case 'mola': {
      const perLayer = o.numbers('numExpertsPerLayer');
      const moe: MoEConfig = {
        ...common, method, numExperts: perLayer ?? cfg.numExperts, topK: cfg.topK,
        targets: o.strings('targets'), attnLoRA: o.strings('attnLoRA'),
      };
      settings.numExperts = moe.numExperts;
      return plain(attachMoE(model, moe));
    }
    case 'gmoe':
      return attachGMoE(model, cfg, o, settings, balanceCoef, balanceKind);
    case 'graphmoe': {
      const gm: GraphMoEConfig = {
        seed,
        base: {
          method: o.oneOf('baseMethod', ['mixlora', 'loramoe', 'mola', 'mingmoe'] as const, 'mixlora'),
          numExperts: o.numbers('numExpertsPerLayer') ?? cfg.numExperts, topK: cfg.topK, r: cfg.r, alpha: cfg.alpha, dropout: cfg.dropout,
          seed, baseModelName: cfg.model,
          ...(o.has('targets') ? { targets: o.strings('targets') } : {}),
          ...(o.has('attnLoRA') ? { attnLoRA: o.strings('attnLoRA') } : {}),
        },
        rounds: o.num('rounds', 3),
        hiddenScale: o.optNum('hiddenScale'),
        hiddenSize: o.optNum('hiddenSize'),
        candidateActivation: o.oneOf('candidateActivation', ['tanh', 'sigmoid'] as const, 'tanh'),
        candidateInput: o.oneOf('candidateInput', ['y', 'x'] as const, 'y'),
        sharedRouter: o.bool('sharedRouter', true),
        unsharedRouterInit: o.oneOf('unsharedRouterInit', ['copy', 'fresh'] as const, 'copy'),
        wgInit: o.oneOf('wgInit', ['zeros', 'xavier'] as const, 'zeros'),
      };
      Object.assign(settings, { rounds: gm.rounds, baseMethod: gm.base!.method });
      return plain(attachGraphMoE(model, gm));
    }
    default:
      throw new Error(`unknown method '${String(method)}' (expected lora, dora, mixlora, loramoe, mola, mingmoe, gmoe or graphmoe)`);
  }
}

function attachGMoE(
  model: LlamaModel, cfg: RunConfig, o: Options, settings: Record<string, unknown>, balanceCoef: number, balanceKind: 'mixtral' | 'switch',
): AttachedMethod {
  const N = cfg.numExperts;
  const useGraph = o.oneOf('router', ['graph', 'linear'] as const, 'graph') === 'graph';
  const graphOpts: GraphRouterOptions = {
    ...(o.bool('referenceRouter', false) ? REFERENCE_GRAPH_ROUTER : {}),
    ...(o.has('beta') ? { edges: { rule: 'density' as const, beta: o.num('beta', 0.1) } } : {}),
    ...((o.object('graph') ?? {}) as GraphRouterOptions),
  };
  const router: RouterFactory | undefined = useGraph ? graphRouter(graphOpts) : undefined;
  const adapter = attachMoE(model, {
    method: 'mixlora', numExperts: o.numbers('numExpertsPerLayer') ?? N, topK: cfg.topK, r: cfg.r, alpha: cfg.alpha, dropout: cfg.dropout,
    seed: cfg.seed, baseModelName: cfg.model, targets: o.strings('targets'), attnLoRA: o.strings('attnLoRA'), router,
  });
  const backend = model.backend;
  const L = model.blocks.length;
  const poissonCoef = o.num('poissonCoef', 0.005);
  const normalCoef = o.num('normalCoef', 8);
  const clampRaw = o.numbers('lambdaClamp');
  const clamp = clampRaw ? ([clampRaw[0]!, clampRaw[1]!] as const) : null;
  const poissonForm = o.oneOf('poissonForm', ['kl', 'abs-log'] as const, 'kl');
  const lambdaInit = o.num('lambdaInit', 1.5);
  const window = o.oneOf('normalWindow', ['batch', 'running', 'ema'] as const, 'batch');
  const normalization = o.oneOf('normalNormalization', ['per-layer', 'global'] as const, 'per-layer');
  const perLayerN = o.numbers('numExpertsPerLayer') ?? new Array<number>(L).fill(N);
  const poisson = perLayerN.map((_, i) => new PoissonDistinction({ init: lambdaInit, clamp, form: poissonForm, backend, name: `model.layers.${i}.mlp.poisson.lambda` }));
  const normal = perLayerN.map((n, i) => new NormalBalance(n, {
    sigmaInit: o.num('sigmaInit', n / 2), window, decay: o.num('normalDecay', 0.99), backend, name: `model.layers.${i}.mlp.normal.sigma`,
  }));
  Object.assign(settings, { router: useGraph ? { type: 'graph', ...graphOpts } : { type: 'linear' }, poissonCoef, normalCoef, poissonForm, lambdaInit, lambdaClamp: clamp, window, normalization });
  const balance = balanceAux(balanceCoef, balanceKind);
  const extraParams = [...(poissonCoef !== 0 ? poisson.flatMap((p) => p.parameters()) : []), ...(normalCoef !== 0 ? normal.flatMap((n) => n.parameters()) : [])];

  const auxLoss = (routes: readonly RouteResult[], mask?: Tensor): Tensor | null => {
    if (routes.length === 0) return null;
    if (routes.length !== L) throw new Error(`gmoe: expected ${L} routes (one per layer), got ${routes.length}`);
    const terms: Tensor[] = [];
    if (poissonCoef !== 0) terms.push(mul(meanOfLosses(routes.map((r, i) => poisson[i]!.loss(r.probs, mask))), poissonCoef));
    if (normalCoef !== 0) {
      const ln = normalization === 'global'
        ? normalBalanceLossOverLayers(normal, routes, { normalization: 'global', mask })
        : meanOfLosses(routes.map((r, i) => normal[i]!.loss(r, mask)));
      terms.push(mul(ln, normalCoef));
    }
    const b = balance(routes, mask);
    if (b) terms.push(b);
    if (!terms.length) return null;
    return terms.reduce((a, t) => add(a, t));
  };

  return {
    method: 'gmoe', adapter, extraParams, settings, auxLoss,
    async state() {
      const out: MethodLossState = { normal: [] };
      for (const n of normal) {
        const s = n.state();
        const counts = s.counts ? Array.from(await s.counts.data()) : null;
        s.counts?.dispose();
        out.normal.push({ window: s.window, steps: s.steps, counts });
      }
      return out;
    },
    loadState(s) {
      if (s.normal.length !== normal.length) throw new Error(`gmoe: loss state has ${s.normal.length} Normal balance layers, the model ${normal.length}`);
      s.normal.forEach((st, i) => normal[i]!.loadState({ window: st.window, steps: st.steps, counts: st.counts }));
    },
    dispose() {
      adapter.detach();
      for (const p of poisson) p.dispose();
      for (const n of normal) n.dispose();
    },
  };
}

/** A [T] f32 0/1 token mask from a host array (helper for aux losses). */
export function tokenMaskTensor(mask: ArrayLike<number>, backend: LlamaModel['backend']): Tensor {
  return tensor(Float32Array.from(mask as ArrayLike<number>), [mask.length], { backend });
}

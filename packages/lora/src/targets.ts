/** Naming the linear layers adapters attach to, in our short form and Hugging Face/PEFT's. */
import { Linear, type Block, type LinearLike } from '@moegraph/llm';

export type Target = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down';
export const ALL_TARGETS: readonly Target[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];
export const ATTN_TARGETS: readonly Target[] = ['q', 'k', 'v', 'o'];
export const FFN_TARGETS: readonly Target[] = ['gate', 'up', 'down'];

/** PEFT's module names (target_modules) for each target. */
export const PEFT_NAME: Record<Target, string> = {
  q: 'q_proj', k: 'k_proj', v: 'v_proj', o: 'o_proj', gate: 'gate_proj', up: 'up_proj', down: 'down_proj',
};

export function parseTargets(list: readonly string[]): Target[] {
  const byPeft = new Map(Object.entries(PEFT_NAME).map(([k, v]) => [v, k as Target]));
  return list.map((t) => {
    if ((ALL_TARGETS as readonly string[]).includes(t)) return t as Target;
    const m = byPeft.get(t);
    if (!m) throw new Error(`adapter config: unknown target module '${t}' (use ${ALL_TARGETS.join(', ')} or ${Object.values(PEFT_NAME).join(', ')})`);
    return m;
  });
}

/** The module path of a target in layer i, as PEFT names it inside a Llama model. */
export function modulePath(layer: number, t: Target): string {
  const group = ATTN_TARGETS.includes(t) ? 'self_attn' : 'mlp';
  return `model.layers.${layer}.${group}.${PEFT_NAME[t]}`;
}

interface Slots {
  get(): LinearLike;
  set(m: LinearLike): void;
}

/** Getter/setter for a target's linear in a block (the FFN must still be the SwiGLU it was loaded with). */
export function slot(block: Block, t: Target): Slots {
  if (ATTN_TARGETS.includes(t)) {
    const a = block.attn as unknown as Record<Target, LinearLike>;
    return { get: () => a[t], set: (m) => (a[t] = m) };
  }
  const ffn = block.ffn as unknown as Record<string, LinearLike | undefined>;
  if (!ffn[t]) throw new Error(`adapter: layer FFN has no '${t}' linear (was it replaced by a mixture of experts?)`);
  return { get: () => ffn[t]!, set: (m) => (ffn[t] = m) };
}

export function baseLinear(block: Block, t: Target, where: string): Linear {
  const m = slot(block, t).get();
  if (!(m instanceof Linear)) throw new Error(`adapter: ${where} already has an adapter attached (${m.constructor.name})`);
  return m;
}

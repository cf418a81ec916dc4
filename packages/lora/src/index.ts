/**
 * @moegraph/lora: LoRA, DoRA and mixture-of-LoRA-experts adapters for @moegraph/llm models.
 */
export { LoRALinear, DoRALinear, type LoRAOptions } from './lora.js';
export { Adapter, fingerprint, type AdapterModule, type AdapterConfigJSON, type SavedTensor, type BaseFingerprint } from './adapter.js';
export { attachLoRA, type LoRAConfig } from './attach.js';
export { saveAdapter, loadAdapter, attachers } from './io.js';
export { ALL_TARGETS, ATTN_TARGETS, FFN_TARGETS, PEFT_NAME, modulePath, parseTargets, type Target } from './targets.js';
export { kaimingUniform, normalInit, zerosParam } from './init.js';
export { attachMoE, moeConfigFromJSON, routerTypes, type MoEConfig, type MoEMethod } from './moe/attach.js';
export { LinearRouter, linearRouter, selectTopK, type Router, type RouterFactory, type RouterContext, type RouteResult } from './moe/router.js';
export { MoELayer, repeatRows, combinePairs, combinePairsReference, overTokens } from './moe/layer.js';
export { MixLoRAFFN, type MixLoRAOptions } from './moe/mixlora.js';
export { PluggedMoELinear, type PluggedOptions } from './moe/plugged.js';
export { ExpertBank } from './moe/experts.js';

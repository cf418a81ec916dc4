/**
 * @moegraph/llm: load pretrained Llama-family models (GGUF, Hugging Face safetensors) and their
 * tokenizers, and run the transformer on @moegraph/tensor-webgpu.
 */
export * from './io/index.js';
export * from './tokenizer/index.js';
export { configFromGGUF, configFromHF, type LlamaConfig } from './model/config.js';
export { Linear, SwiGLU, Attention, Block, KVCache, type Module, type LinearLike } from './model/modules.js';
export { LlamaModel, type ForwardOptions } from './model/llama.js';
export { loadModel, loadGGUF, loadHF, modelFromTensors, ggufName, hfName, type LoadOptions, type LoadedModel, type HostTensor } from './model/load.js';
export { randomLlama, randomLlamaTensors, LLAMA_512X8, type RandomLlamaOptions } from './model/random.js';

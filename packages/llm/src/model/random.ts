/**
 * A randomly initialised Llama of any shape, built in memory: for throughput benchmarks (speed does
 * not depend on weight values) and tests that need a model without a file.
 */
import { Generator } from '@moegraph/tensor-webgpu';
import type { LlamaConfig } from './config.js';
import type { LlamaModel } from './llama.js';
import { hfName, modelFromTensors, type HostTensor, type LoadOptions } from './load.js';

/** The dim-512, 8-layer Llama shape of the benchmarks (`llama-512x8`): vocab 4096, FFN 1408, 8 heads. */
export const LLAMA_512X8: LlamaConfig = {
  arch: 'llama', vocabSize: 4096, dim: 512, nLayers: 8, nHeads: 8, nKvHeads: 8, headDim: 64, ffnDim: 1408, normEps: 1e-5,
  ropeTheta: 10000, ropeLayout: 'half', tiedEmbeddings: false, qkvBias: false, maxSeqLen: 1024, bos: 1, eos: 2,
};

export interface RandomLlamaOptions extends LoadOptions {
  /** Generator seed (default 0). */
  seed?: number;
  /** Standard deviation of the linear and embedding weights (default 0.02); norms are 1 + normStd * N(0, 1). */
  std?: number;
  /** Default 0 (norm weights exactly 1). */
  normStd?: number;
}

/** Host tensors (HF names) of a random Llama: normal weights, drawn in a fixed order from `seed`. */
export function randomLlamaTensors(cfg: LlamaConfig, o: RandomLlamaOptions = {}): Map<string, HostTensor> {
  const g = new Generator(o.seed ?? 0);
  const std = o.std ?? 0.02;
  const normStd = o.normStd ?? 0;
  const m = new Map<string, HostTensor>();
  const put = (name: string, shape: number[], s: number, mean = 0) =>
    m.set(name, { shape, data: Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => mean + s * g.normal()) });
  const { dim, ffnDim, vocabSize, nHeads, nKvHeads, headDim } = cfg;
  put(hfName('embed'), [vocabSize, dim], std);
  put(hfName('norm'), [dim], normStd, 1);
  if (!cfg.tiedEmbeddings) put(hfName('output'), [vocabSize, dim], std);
  for (let i = 0; i < cfg.nLayers; i++) {
    const r = (s: string) => hfName(`${i}.${s}` as never);
    put(r('attnNorm'), [dim], normStd, 1);
    put(r('ffnNorm'), [dim], normStd, 1);
    put(r('q'), [nHeads * headDim, dim], std);
    put(r('k'), [nKvHeads * headDim, dim], std);
    put(r('v'), [nKvHeads * headDim, dim], std);
    put(r('o'), [dim, nHeads * headDim], std);
    put(r('gate'), [ffnDim, dim], std);
    put(r('up'), [ffnDim, dim], std);
    put(r('down'), [dim, ffnDim], std);
  }
  return m;
}

/** A random Llama of shape `cfg` on `o.backend`. */
export function randomLlama(cfg: LlamaConfig, o: RandomLlamaOptions = {}): Promise<LlamaModel> {
  return modelFromTensors(cfg, randomLlamaTensors(cfg, o), o);
}

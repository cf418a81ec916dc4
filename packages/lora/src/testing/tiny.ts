/** A tiny random Llama built in memory, for gradient checks and fast adapter tests. */
import { Generator, type Backend } from '@moegraph/tensor-webgpu';
import { hfName, modelFromTensors, type HostTensor, type LlamaConfig, type LlamaModel } from '@moegraph/llm';

export function tinyConfig(over: Partial<LlamaConfig> = {}): LlamaConfig {
  return {
    arch: 'llama', vocabSize: 16, dim: 8, nLayers: 1, nHeads: 2, nKvHeads: 1, headDim: 4, ffnDim: 12, normEps: 1e-5,
    ropeTheta: 10000, ropeLayout: 'half', tiedEmbeddings: false, qkvBias: false, maxSeqLen: 64, bos: 1, eos: 2, ...over,
  };
}

export function tinyModel(backend: Backend, cfg: LlamaConfig = tinyConfig(), seed = 3): Promise<LlamaModel> {
  const g = new Generator(seed);
  const m = new Map<string, HostTensor>();
  const put = (name: string, shape: number[], scale: number, offset = 0) =>
    m.set(name, { shape, data: Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => offset + g.normal() * scale) });
  const { dim, ffnDim, vocabSize, nHeads, nKvHeads, headDim } = cfg;
  put(hfName('embed'), [vocabSize, dim], 1);
  put(hfName('norm'), [dim], 0.1, 1);
  put(hfName('output'), [vocabSize, dim], 0.3);
  for (let i = 0; i < cfg.nLayers; i++) {
    const r = (s: string) => hfName(`${i}.${s}` as never);
    put(r('attnNorm'), [dim], 0.1, 1);
    put(r('ffnNorm'), [dim], 0.1, 1);
    put(r('q'), [nHeads * headDim, dim], 0.3);
    put(r('k'), [nKvHeads * headDim, dim], 0.3);
    put(r('v'), [nKvHeads * headDim, dim], 0.3);
    put(r('o'), [dim, nHeads * headDim], 0.3);
    put(r('gate'), [ffnDim, dim], 0.3);
    put(r('up'), [ffnDim, dim], 0.3);
    put(r('down'), [dim, ffnDim], 0.3);
  }
  return modelFromTensors(cfg, m, { backend });
}

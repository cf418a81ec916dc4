/** Builders for tests: RunResult objects with chosen accuracies (no trainer involved). */
import type { MethodName, RunConfig, RunResult, TaskName } from './contract.js';

export function fakeConfig(partial: Partial<RunConfig> = {}): RunConfig {
  return {
    model: '/models/stories260K.gguf', method: 'gmoe', seed: 0, backend: 'cpu', epochs: 1, batchSize: 4, gradAccum: 1, lr: 1e-3,
    weightDecay: 0, schedule: 'constant', warmupSteps: 0, cutoff: 128, lossOn: 'answer', r: 4, alpha: 8, dropout: 0, numExperts: 4,
    topK: 2, nanPolicy: 'stop', task: 'boolq',
    ...partial,
  };
}

export function fakeResult(method: MethodName, task: TaskName, seed: number, accuracy: number, extra: Partial<RunResult> = {}): RunResult {
  const n = 4;
  const share = Array.from({ length: n }, (_, i) => (method === 'gmoe' ? 0.25 + (i - 1.5) * 0.01 : 0.25 + (i - 1.5) * 0.05));
  const m = share.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(share.reduce((a, b) => a + (b - m) ** 2, 0) / n);
  return {
    config: fakeConfig({ method, task, seed }),
    accuracy,
    evalExamples: 100,
    trainExamples: 64,
    trainableParams: method === 'gmoe' ? 123456 : 100000,
    trainSeconds: 10,
    evalSeconds: 2,
    trainSamplesPerSec: method === 'gmoe' ? 6.4 : 8,
    evalSamplesPerSec: 50,
    steps: 16,
    lossCurve: Array.from({ length: 16 }, (_, i) => ({ step: i + 1, loss: 3 * Math.exp(-i / (8 + seed)) + (method === 'gmoe' ? 0.2 : 0.3) })),
    expertLoad: [
      { layer: 'layers.0.ffn', share, std },
      { layer: 'layers.1.ffn', share, std },
    ],
    routerEntropy: method === 'lora' ? null : 1.2,
    backend: 'cpu',
    finishedAt: '2025-01-01T00:00:00.000Z',
    ...extra,
  };
}

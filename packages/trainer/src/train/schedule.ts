/** Learning-rate schedules with linear warmup. */
import type { RunConfig } from '../types.js';

/**
 * The learning rate of optimizer step `step` (0-based) out of `total`.
 * Warmup: lr * (step + 1) / warmupSteps for the first warmupSteps steps (the first step is not 0).
 * Then, with p = (step - warmup) / max(1, total - warmup) in [0, 1):
 * constant: lr; linear: lr * (1 - p); cosine: lr * 0.5 * (1 + cos(pi p)).
 */
export function learningRate(cfg: Pick<RunConfig, 'lr' | 'schedule' | 'warmupSteps'>, step: number, total: number): number {
  const w = Math.max(0, Math.floor(cfg.warmupSteps));
  if (step < w) return (cfg.lr * (step + 1)) / w;
  const p = Math.min(1, Math.max(0, (step - w) / Math.max(1, total - w)));
  switch (cfg.schedule) {
    case 'constant':
      return cfg.lr;
    case 'linear':
      return cfg.lr * (1 - p);
    case 'cosine':
      return cfg.lr * 0.5 * (1 + Math.cos(Math.PI * p));
    default:
      throw new Error(`unknown schedule '${String(cfg.schedule)}' (constant, linear or cosine)`);
  }
}

/** In-place optimizer updates on f32 storages (AdamW, SGD with momentum), optional gradScale[0]. */
import type { KernelDef } from '../pipelines.js';
import { MAIN_1D, PRELUDE, bind } from './common.js';

/** Params: 0 n, f32: 2 lr, 3 beta1, 4 beta2, 5 eps, 6 weightDecay, 7 bc1, 8 bc2. */
export function adamwKernel(scaled: boolean): KernelDef {
  return {
    key: `adamw:${scaled ? 's' : '-'}`,
    code: () => `${PRELUDE}${bind(1, 'Pm', 'f32', true)}${bind(2, 'G', 'f32')}${bind(3, 'M', 'f32', true)}${bind(4, 'V', 'f32', true)}${scaled ? bind(5, 'S', 'f32') : ''}${MAIN_1D}
  if (gi >= pu(0u)) { return; }
  let lr = pf(2u); let b1 = pf(3u); let b2 = pf(4u); let eps = pf(5u); let wd = pf(6u);
  let g = G[gi]${scaled ? ' * S[0]' : ''};
  let m = b1 * M[gi] + (1.0 - b1) * g;
  let v = b2 * V[gi] + (1.0 - b2) * g * g;
  M[gi] = m;
  V[gi] = v;
  let mhat = m / pf(7u);
  let vhat = v / pf(8u);
  Pm[gi] = Pm[gi] * (1.0 - lr * wd) - lr * mhat / (sqrt(vhat) + eps);
}`,
  };
}

/** Params: 0 n, 1 firstStep, f32: 2 lr, 3 momentum, 4 weightDecay. */
export function sgdKernel(withBuf: boolean, scaled: boolean): KernelDef {
  const sb = scaled ? (withBuf ? 4 : 3) : -1;
  return {
    key: `sgd:${withBuf ? 'b' : '-'}:${scaled ? 's' : '-'}`,
    code: () => `${PRELUDE}${bind(1, 'Pm', 'f32', true)}${bind(2, 'G', 'f32')}${withBuf ? bind(3, 'B', 'f32', true) : ''}${scaled ? bind(sb, 'S', 'f32') : ''}${MAIN_1D}
  if (gi >= pu(0u)) { return; }
  let p = Pm[gi];
  let g = G[gi]${scaled ? ' * S[0]' : ''} + pf(4u) * p;
  ${
    withBuf
      ? `var b = g;
  if (pu(1u) == 0u) { b = pf(3u) * B[gi] + g; }
  B[gi] = b;
  Pm[gi] = p - pf(2u) * b;`
      : `Pm[gi] = p - pf(2u) * g;`
  }
}`,
  };
}

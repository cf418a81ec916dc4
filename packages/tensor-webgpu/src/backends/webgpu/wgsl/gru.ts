/**
 * Fused GRU cell kernels (backend.ts: gruReset, gruUpdate and their gradients), one thread per element
 * in grid-stride loops. The gradients recompute the gates from the pre-activations instead of reading
 * saved outputs: an exp is cheaper than a stored tensor per gate per round.
 * Params: 0 n (elements), 1 cols (gruUpdate: the bias repeats every `cols` elements).
 */
import type { GruActivation } from '../../../backend.js';
import type { KernelDef } from '../pipelines.js';
import { MAIN_1D, PRELUDE, bind } from './common.js';
import { UNARY_F32 } from './elementwise.js';

// The same sigmoid and tanh expressions as the unary kernels, so fused and unfused paths agree.
const ACT = `
fn act_sigmoid(x: f32) -> f32 { return ${UNARY_F32.sigmoid}; }
fn act_tanh(x: f32) -> f32 { return ${UNARY_F32.tanh}; }
fn sigm(x: f32) -> f32 { return act_sigmoid(x); }
`;

export function gruResetKernel(): KernelDef {
  return {
    key: 'gruReset',
    code: () => `${PRELUDE}${ACT}${bind(1, 'PR', 'f32')}${bind(2, 'H', 'f32')}${bind(3, 'O', 'f32', true)}${MAIN_1D}
  O[gi] = sigm(PR[gi]) * H[gi];
}`,
  };
}

export function gruResetBackwardKernel(): KernelDef {
  return {
    key: 'gruResetBackward',
    code: () => `${PRELUDE}${ACT}${bind(1, 'PR', 'f32')}${bind(2, 'H', 'f32')}${bind(3, 'G', 'f32')}${bind(4, 'DPR', 'f32', true)}${bind(5, 'DH', 'f32', true)}${MAIN_1D}
  let r = sigm(PR[gi]);
  let g = G[gi];
  DPR[gi] = g * H[gi] * r * (1.0 - r);
  DH[gi] = g * r;
}`,
  };
}

const UPDATE_INS = `${bind(1, 'PZ', 'f32')}${bind(2, 'PO', 'f32')}${bind(3, 'B', 'f32')}${bind(4, 'H', 'f32')}`;

function gates(act: GruActivation): string {
  return `
  let z = sigm(PZ[gi]);
  let c = act_${act}(PO[gi] + B[gi % pu(1u)]);
  let h = H[gi];`;
}

export function gruUpdateKernel(act: GruActivation): KernelDef {
  return {
    key: `gruUpdate:${act}`,
    code: () => `${PRELUDE}${ACT}${UPDATE_INS}${bind(5, 'O', 'f32', true)}${MAIN_1D}${gates(act)}
  O[gi] = h + z * (c - h);
}`,
  };
}

export function gruUpdateBackwardKernel(act: GruActivation): KernelDef {
  // Both activations' derivatives are functions of their outputs: 1 - c^2 and c (1 - c).
  const dc = act === 'tanh' ? '1.0 - c * c' : 'c * (1.0 - c)';
  return {
    key: `gruUpdateBackward:${act}`,
    code: () => `${PRELUDE}${ACT}${UPDATE_INS}${bind(5, 'G', 'f32')}${bind(6, 'DPZ', 'f32', true)}${bind(7, 'DPO', 'f32', true)}${bind(8, 'DH', 'f32', true)}${MAIN_1D}${gates(act)}
  let g = G[gi];
  DPZ[gi] = g * (c - h) * z * (1.0 - z);
  DPO[gi] = g * z * (${dc});
  DH[gi] = g * (1.0 - z);
}`,
  };
}

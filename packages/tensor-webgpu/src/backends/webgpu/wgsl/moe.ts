/**
 * Mixture-of-experts kernels: per-row expert matmul out[i, :] = x[i, :] @ w[idx[i]] and its weight
 * gradient. Rows pick their own expert, so no host readback of the routing is needed.
 * - 'gmm:vn' (w rows contiguous, vec4 over n): a thread computes one row x 8 columns (2 vec4).
 * - 'gmm:vk' (w columns contiguous, e.g. a transposed weight, vec4 over k): a thread computes one
 *   row x 8 columns, each a vec4 dot product per 4 reduction steps.
 * - 'gmm:s' any strides (i32), one row x 4 columns with scalar loads; f16 through the loader.
 * - ':4' (n <= 4, e.g. a LoRA rank-4 projection): the vec4 variants with 4 columns per thread,
 *   since 8 would compute every column twice.
 * Out-of-range expert indices give zero rows.
 * - 'gmmGradW': one thread per (expert, k-chunk, n-chunk) sums outer(x[i, k-chunk], g[i, n-chunk])
 *   over that expert's CSR segment of rows (built by the csr* kernels of indexing.ts) in increasing
 *   i: deterministic, no float atomics. Chunks are 4 x 4 when k and n are multiples of 4.
 */
import type { DType } from '../../../dtype.js';
import type { KernelDef } from '../pipelines.js';
import { PRELUDE, bind, loader } from './common.js';

/** Threads per workgroup: small, so modest row counts still spread over many workgroups. */
export const GMM_WG = 64;
/** Output columns per thread of each variant. */
export const GMM_TN = { vn: 8, vk: 8, vn4: 4, vk4: 4, s: 4 } as const;
export type GmmVariant = keyof typeof GMM_TN;

/** Grid-stride entry like common.ts main1D, with a GMM_WG-thread workgroup. */
const MAIN = /* wgsl */ `
@compute @workgroup_size(${GMM_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let total = pu(0u);
  let step = nwg.x * nwg.y * ${GMM_WG}u;
  for (var gi = (wid.y * nwg.x + wid.x) * ${GMM_WG}u + li; gi < total; gi += step) { body(gi); }
}
fn body(gi: u32) {`;

function vecW(dt: DType): string {
  if (dt === 'f16') {
    return `@group(0) @binding(2) var<storage, read> W: array<vec2<u32>>;
fn lW(i: u32) -> vec4<f32> { let v = W[i]; return vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)); }\n`;
  }
  return `@group(0) @binding(2) var<storage, read> W: array<vec4<f32>>;\nfn lW(i: u32) -> vec4<f32> { return W[i]; }\n`;
}

/** Shared head: params 0 total threads, 1 chunks per row, 2 k (k/4 for vk), 3 n (n/4 for vn), 4 e, 5 w offset, 6..8 w strides [e, k, n]. */
const HEAD = /* wgsl */ `
  let nc = pu(1u);
  let i = gi / nc;
  let ch = gi % nc;
  let K = pu(2u); let N = pu(3u);
  let ex = I[i];
  let ok = ex >= 0 && u32(ex) < pu(4u);`;

export function gatherMatmulKernel(variant: GmmVariant, wdt: DType): KernelDef {
  const key = `gmm:${variant}:${wdt}`;
  if (variant === 'vn' || variant === 'vn4') {
    // offsets and strides in vec4 units; N = n / 4
    const wide = variant === 'vn';
    return {
      key,
      code: () => `${PRELUDE}${bind(1, 'X', 'f32')}${vecW(wdt)}${bind(3, 'I', 'i32')}
@group(0) @binding(4) var<storage, read_write> Y: array<vec4<f32>>;
${MAIN}${HEAD}
  let c0 = ch * ${wide ? 2 : 1}u;
  let two = ${wide ? 'c0 + 1u < N' : 'false'};
  let c1 = select(c0, c0 + 1u, two);
  var s0 = vec4<f32>(0.0); var s1 = vec4<f32>(0.0);
  if (ok) {
    let sK = pu(7u);
    var wb = pu(5u) + u32(ex) * pu(6u);
    let xb = i * K;
    for (var r = 0u; r < K; r++) {
      let xv = X[xb + r];
      s0 += xv * lW(wb + c0);
      ${wide ? 's1 += xv * lW(wb + c1);' : ''}
      wb += sK;
    }
  }
  Y[i * N + c0] = s0;
  if (two) { Y[i * N + c1] = s1; }
}`,
    };
  }
  if (variant === 'vk' || variant === 'vk4') {
    // offsets and strides in vec4 units; K = k / 4; x read as vec4
    const T = GMM_TN[variant];
    const dots = (h: number) => [0, 1, 2, 3].map((t) => `dot(xv, lW(w[${4 * h + t}] + r))`).join(', ');
    return {
      key,
      code: () => `${PRELUDE}@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
${vecW(wdt)}${bind(3, 'I', 'i32')}${bind(4, 'Y', 'f32', true)}
${MAIN}${HEAD}
  let j0 = ch * ${T}u;
  var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0);
  if (ok) {
    let sN = pu(8u);
    let wb = pu(5u) + u32(ex) * pu(6u);
    var w: array<u32, ${T}>;
    for (var t = 0u; t < ${T}u; t++) { w[t] = wb + min(j0 + t, N - 1u) * sN; }
    let xb = i * K;
    for (var r = 0u; r < K; r++) {
      let xv = X[xb + r];
      a0 += vec4<f32>(${dots(0)});
      ${T === 8 ? `a1 += vec4<f32>(${dots(1)});` : ''}
    }
  }
  let o = i * N + j0;
  for (var t = 0u; t < 4u; t++) {
    if (j0 + t < N) { Y[o + t] = a0[t]; }
    ${T === 8 ? 'if (j0 + t + 4u < N) { Y[o + t + 4u] = a1[t]; }' : ''}
  }
}`,
    };
  }
  // scalar: element offsets and i32 strides
  return {
    key,
    code: () => `${PRELUDE}${bind(1, 'X', 'f32')}${bind(2, 'W', wdt)}${bind(3, 'I', 'i32')}${bind(4, 'Y', 'f32', true)}${loader('W', wdt)}
${MAIN}${HEAD}
  let j0 = ch * 4u;
  var acc = vec4<f32>(0.0);
  if (ok) {
    let sK = pi(7u); let sN = pi(8u);
    var wb = pi(5u) + ex * pi(6u);
    let d1 = i32(min(j0 + 1u, N - 1u) - j0) * sN;
    let d2 = i32(min(j0 + 2u, N - 1u) - j0) * sN;
    let d3 = i32(min(j0 + 3u, N - 1u) - j0) * sN;
    wb += i32(j0) * sN;
    let xb = i * K;
    for (var r = 0u; r < K; r++) {
      let xv = X[xb + r];
      acc += xv * vec4<f32>(f32(ld_W(wb)), f32(ld_W(wb + d1)), f32(ld_W(wb + d2)), f32(ld_W(wb + d3)));
      wb += sK;
    }
  }
  let o = i * N + j0;
  Y[o] = acc.x;
  if (j0 + 1u < N) { Y[o + 1u] = acc.y; }
  if (j0 + 2u < N) { Y[o + 2u] = acc.z; }
  if (j0 + 3u < N) { Y[o + 3u] = acc.w; }
}`,
  };
}

/**
 * Params: 0 total = e * k * chunks, 1 k, 2 chunks per row of g (n / 4 when vec4, else n).
 * 'v4' (n % 4 == 0): g and out read/written as vec4; 's': one column per thread;
 * 't4' (k % 4 == 0 too): a 4 x 4 tile per thread (x read as vec4, total = e * k/4 * n/4, param 1 = k/4).
 */
export function gatherMatmulGradWKernel(variant: 'v4' | 's' | 't4'): KernelDef {
  const t = variant === 's' ? 'f32' : 'vec4<f32>';
  const csr = `${bind(3, 'S', 'u32')}${bind(4, 'L', 'u32')}
@group(0) @binding(5) var<storage, read_write> Y: array<${t}>;
${MAIN}
  let k = pu(1u);
  let nc = pu(2u);
  let c = gi % nc;
  let q = gi / nc;
  let r = q % k;
  let j = q / k;
  let end = S[j + 1u];`;
  if (variant === 't4') {
    return {
      key: 'gmmGradW:t4',
      code: () => `${PRELUDE}@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> G: array<vec4<f32>>;
${csr}
  var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
  for (var s = S[j]; s < end; s++) {
    let i = L[s];
    let xv = X[i * k + r];
    let gv = G[i * nc + c];
    a0 += xv.x * gv; a1 += xv.y * gv; a2 += xv.z * gv; a3 += xv.w * gv;
  }
  let o = (j * k * 4u + r * 4u) * nc + c;
  Y[o] = a0; Y[o + nc] = a1; Y[o + 2u * nc] = a2; Y[o + 3u * nc] = a3;
}`,
    };
  }
  return {
    key: `gmmGradW:${variant}`,
    code: () => `${PRELUDE}${bind(1, 'X', 'f32')}
@group(0) @binding(2) var<storage, read> G: array<${t}>;
${csr}
  var acc = ${t}(0.0);
  for (var s = S[j]; s < end; s++) {
    let i = L[s];
    acc += X[i * k + r] * G[i * nc + c];
  }
  Y[gi] = acc;
}`,
  };
}

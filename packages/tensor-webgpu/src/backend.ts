/**
 * The contract every backend implements: a small set of kernels over storages and strided views.
 * The op layer (ops/*.ts) builds every user-facing op and its gradient from these, so a new
 * backend only has to provide this file's interface.
 *
 * Conventions
 * - Every kernel that returns a Storage returns a fresh, contiguous (row-major) storage that the
 *   caller owns; the caller later hands it to `release` exactly once.
 * - Kernels marked "strided" accept any View (arbitrary strides, stride 0 for broadcasting,
 *   an element offset). All other kernels take contiguous storages plus explicit sizes.
 * - Floats are computed in f32 on webgpu and in the cpu backend's precision (f32 or f64).
 *   `f16` is a storage type: only `copy` (cast) and `matmul` must accept it; the op layer casts
 *   f16 to f32 before any other kernel.
 * - Integer storages (`i32`) hold indices and targets. Out-of-range indices give zeros on webgpu
 *   (a kernel cannot throw); the cpu backend, the oracle, throws an error naming the index.
 */
import type { DType, TypedArray } from './dtype.js';
import type { Shape } from './shape.js';
import type { BackendCapture } from './capture/state.js';

export interface Storage {
  readonly backend: Backend;
  /** Number of elements. */
  readonly size: number;
  readonly dtype: DType;
}

/** A strided window onto a storage. Element (i0, i1, ...) lives at offset + sum(ik * strides[k]). */
export interface View {
  readonly storage: Storage;
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
}

/**
 * Elementwise unary ops. On i32 inputs only `neg`, `abs`, `sign` and `square` are defined
 * (output i32); all others take and return f32.
 * gelu is the exact form 0.5 x (1 + erf(x / sqrt 2)), with erf by Abramowitz-Stegun 7.1.26
 * (|error| < 1.5e-7) on every backend so the backends agree.
 */
export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'abs' | 'sign' | 'square' | 'recip'
  | 'relu' | 'silu' | 'sigmoid' | 'tanh' | 'gelu' | 'sin' | 'cos';

/**
 * Elementwise binary ops. a and b views have the same shape (the op layer broadcasts with
 * stride-0 views) and the same dtype.
 * - add sub mul div pow max min: output dtype = input dtype (i32 div truncates toward zero; pow is f32 only).
 * - eq ne lt le gt ge: output f32, 1 where true else 0.
 * - Gradient helpers (f32 only), with a = forward input x or forward output y, b = upstream gradient g:
 *   relu_grad(x, g) = x > 0 ? g : 0
 *   silu_grad(x, g) = g * s * (1 + x * (1 - s)), s = sigmoid(x)
 *   gelu_grad(x, g) = g * (0.5 * (1 + erf(x / sqrt2)) + x * exp(-x*x/2) / sqrt(2 pi))
 *   sigmoid_grad(y, g) = g * y * (1 - y)
 *   tanh_grad(y, g) = g * (1 - y * y)
 */
export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge'
  | 'relu_grad' | 'silu_grad' | 'gelu_grad' | 'sigmoid_grad' | 'tanh_grad';

/** argmax/argmin return i32 and reduce exactly one trailing dim; ties resolve to the lowest index. */
export type ReduceOp = 'sum' | 'max' | 'min' | 'argmax' | 'argmin';

/** Candidate activation of the fused GRU cell. */
export type GruActivation = 'tanh' | 'sigmoid';

export interface RopeParams {
  /** x is contiguous [n, t, h, d]: n sequences, t positions, h heads, d head size (even). */
  n: number;
  t: number;
  h: number;
  d: number;
  /** Position of row t is startPos + t. */
  startPos: number;
  /** Frequency base: pair j rotates by angle pos * theta^(-2j/d). */
  theta: number;
  /** 'interleaved' pairs (2j, 2j+1) (ggml "normal", Meta Llama); 'half' pairs (j, j + d/2) (Hugging Face, NeoX). */
  layout: 'interleaved' | 'half';
  /** Rotate by the negative angle (the gradient of the forward rotation). */
  inverse: boolean;
}

/**
 * AdamW as in PyTorch: p <- p * (1 - lr * weightDecay) - lr * mhat / (sqrt(vhat) + eps),
 * m <- beta1 m + (1 - beta1) g', v <- beta2 v + (1 - beta2) g'^2, mhat = m / bc1, vhat = v / bc2,
 * g' = g * gradScale[0] when a gradScale storage is given (gradient clipping without a readback).
 */
export interface AdamWParams {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1 - beta1^step and 1 - beta2^step, computed on the host. */
  bc1: number;
  bc2: number;
}

/** SGD as in PyTorch: g' = g*scale + weightDecay*p; buf <- momentum*buf + g' (buf = g' on the first step); p <- p - lr*buf. */
export interface SgdParams {
  lr: number;
  momentum: number;
  weightDecay: number;
  /** True on the first step: the momentum buffer is set to g' rather than blended. */
  firstStep: boolean;
}

export interface BackendStats {
  /** Storages handed out and not yet released. */
  liveStorages: number;
  /** Bytes held by live storages. */
  bytesInUse: number;
  /** Bytes held in the pool for reuse (free, not live). */
  pooledBytes: number;
  /** Compiled pipelines in the cache (0 on cpu). */
  pipelines: number;
  /** Kernel launches since the backend was created. */
  dispatches: number;
  /** Queue submissions since the backend was created (0 on cpu). */
  submits: number;
}

export interface Backend {
  readonly name: 'cpu' | 'webgpu';

  // ---- storage ----
  /** A new storage holding `data` converted to `dtype` (a Uint16Array given as f16 is taken as raw half bits). */
  upload(data: TypedArray | ArrayLike<number>, dtype: DType): Storage;
  /** A new storage of `size` elements, every one equal to `value`. */
  fill(size: number, dtype: DType, value: number): Storage;
  /**
   * Read views back as contiguous arrays, all in one round trip. f32 gives Float32Array (Float64Array
   * on a cpu backend in f64 precision), i32 gives Int32Array, f16 gives Float32Array.
   */
  read(views: readonly View[]): Promise<TypedArray[]>;
  /** Give a storage back (exactly once). Its memory may be reused only after work using it is submitted. */
  release(s: Storage): void;
  /** Submit encoded work now (no-op on cpu). */
  flush(): void;
  /** Resolve when all submitted work has finished. Rejects if the device was lost or a kernel failed. */
  sync(): Promise<void>;
  stats(): BackendStats;
  /** Free every pooled resource and the device; the backend is unusable afterwards. */
  destroy(): void;
  /** Start recording a step for replay (capture/step.ts); backends without it run captured steps eagerly. */
  capture?(): BackendCapture;

  // ---- strided kernels ----
  /** Contiguous copy of a view, cast to `dtype` (float to i32 truncates toward zero). */
  copy(x: View, dtype: DType): Storage;
  unary(op: UnaryOp, x: View): Storage;
  binary(op: BinaryOp, a: View, b: View): Storage;
  /** out = cond != 0 ? a : b; cond f32 or i32; a, b, cond views of one shape; output dtype of a. */
  where(cond: View, a: View, b: View): Storage;
  /** Reduce the trailing `reduceDims` dims of x.shape; output shape is x.shape without them. */
  reduce(op: ReduceOp, x: View, reduceDims: number): Storage;
  /**
   * Batched matmul: a [B, M, K] x b [B, K, N] -> contiguous [B, M, N], any strides (stride 0 on B
   * broadcasts, swapped strides transpose). a or b may be f16 (output f32, f32 accumulation).
   */
  matmul(a: View, b: View): Storage;
  /**
   * The fused LoRA apply: x [M, K] @ w [K, N] + s * (u [M, r] @ b [r, N]) -> contiguous f32 [M, N], each
   * output written once. Rank-2 strided views; w f32 or f16, the others f32.
   */
  matmulAddLowRank(x: View, w: View, u: View, b: View, s: number): Storage;
  /** dst[dstOffset + i] = src[i] ('copy') or += src[i] ('add'), i over src in row-major order; dst and src share a dtype (f32 or i32). */
  accumulate(dst: Storage, dstOffset: number, src: View, mode: 'copy' | 'add'): void;

  // ---- row kernels on contiguous storages ----
  /** Softmax (or log-softmax) over each row of x [rows, cols]. */
  softmax(x: Storage, rows: number, cols: number, log: boolean): Storage;
  /** Given y = softmax(x) (or log-softmax) and dL/dy, returns dL/dx. */
  softmaxBackward(y: Storage, g: Storage, rows: number, cols: number, log: boolean): Storage;
  /** Per-row loss [rows]: logsumexp(x_r) - x_r[target_r]; 0 where target_r == ignoreIndex. target i32. */
  crossEntropy(logits: Storage, target: Storage, rows: number, cols: number, ignoreIndex: number): Storage;
  /** [rows, cols]: (softmax(x_r) - onehot(target_r)) * gRow[r]; zero rows where target_r == ignoreIndex. */
  crossEntropyBackward(logits: Storage, target: Storage, gRow: Storage, rows: number, cols: number, ignoreIndex: number): Storage;
  /** y = x * rsqrt(mean(x^2) + eps) * w over rows of x [rows, cols]; w [cols]. */
  rmsnorm(x: Storage, w: Storage, rows: number, cols: number, eps: number): Storage;
  /** Gradients of rmsnorm: dx [rows, cols] and dw [cols] (summed over rows). */
  rmsnormBackward(x: Storage, w: Storage, g: Storage, rows: number, cols: number, eps: number): { dx: Storage; dw: Storage };
  /**
   * GCN propagation over node features shared by every token (the graph router's first layer):
   * out[t, i] = sum_k silu(base[i, k] + coef[i] q[t, k]) proj[k]; q [t, w], base [m, w], coef [m],
   * proj [w] -> [t, m]. The per-token node states [t, m, w] are never stored.
   */
  gcnShared(q: Storage, base: Storage, coef: Storage, proj: Storage, t: number, m: number, w: number): Storage;
  /** Gradients of gcnShared given g [t, m]: dq [t, w], dbase [m, w], dproj [w], and dcoefCols [m, w] whose row sums are dcoef. */
  gcnSharedBackward(
    q: Storage, base: Storage, coef: Storage, proj: Storage, g: Storage, t: number, m: number, w: number,
  ): { dq: Storage; dbase: Storage; dcoefCols: Storage; dproj: Storage };
  /** Rotary position embedding of x [n, t, h, d]. */
  rope(x: Storage, p: RopeParams): Storage;
  /** out[i, :] = x[idx[i], :]; x [rows, cols], idx i32 [n] -> [n, cols]. Out-of-range indices give zero rows. */
  gatherRows(x: Storage, idx: Storage, rows: number, cols: number, n: number): Storage;
  /** out[r, :] = sum over i with idx[i] == r of src[i, :]; src [n, cols] -> [rows, cols]. Deterministic order (increasing i). */
  scatterAddRows(src: Storage, idx: Storage, n: number, cols: number, rows: number): Storage;
  /** out[r, j] = x[r, idx[r, j]]; x [rows, cols], idx i32 [rows, k] -> [rows, k]. Out-of-range gives 0. */
  gatherCols(x: Storage, idx: Storage, rows: number, cols: number, k: number): Storage;
  /** out[r, c] = sum over j with idx[r, j] == c of g[r, j]; g [rows, k] -> [rows, cols]. */
  scatterAddCols(g: Storage, idx: Storage, rows: number, k: number, cols: number): Storage;
  /**
   * Per-row expert matmul (mixture of experts): out[i, :] = x[i, :] @ w[idx[i]], x contiguous f32
   * [m, k], w a strided view [e, k, n] (f32 or f16; any strides, so a transposed per-expert view
   * works without a copy), idx i32 [m] in [0, e) -> contiguous f32 [m, n].
   */
  gatherMatmul(x: Storage, w: View, idx: Storage, m: number, k: number, n: number, e: number): Storage;
  /**
   * Weight gradient of gatherMatmul: out[j] = sum over i with idx[i] == j of outer(x[i, :], g[i, :]),
   * rows added in increasing i (deterministic); x [m, k], g [m, n] -> contiguous f32 [e, k, n].
   * Experts that receive no rows get zeros.
   */
  gatherMatmulGradW(x: Storage, g: Storage, idx: Storage, m: number, k: number, n: number, e: number): Storage;
  /**
   * Mixture-of-experts combine: y[t, :] = sum_j w[t, j] v[t*k + j, :]; v [t*k, d], w [t, k] -> [t, d].
   * Each output row is written once, instead of a [t, k, d] product and a sum over k.
   */
  combineRows(v: Storage, w: Storage, t: number, k: number, d: number): Storage;
  /** Gradients of combineRows given g [t, d]: dv[t*k + j, :] = w[t, j] g[t, :] and dw[t, j] = dot(v[t*k + j, :], g[t, :]). */
  combineRowsBackward(v: Storage, w: Storage, g: Storage, t: number, k: number, d: number): { dv: Storage; dw: Storage };
  /**
   * The first k entries of each row of x [rows, cols] sorted (descending or ascending), stable (equal
   * values keep increasing column order): values f32 [rows, k] and indices i32 [rows, k].
   */
  sortRows(x: Storage, rows: number, cols: number, k: number, descending: boolean): { values: Storage; indices: Storage };
  /**
   * Dropout mask of `size` f32 values: element i is 0 when dropped and 1/(1-p) when kept.
   * Kept iff (hash32(i ^ hash32(seed)) >>> 8) >= threshold, threshold = floor(p * 2^24), with
   * hash32 from random.ts (identical bits on every backend).
   */
  dropoutMask(size: number, p: number, seed: number): Storage;

  // ---- fused GRU cell (ops/gru.ts): elementwise parts on contiguous f32 storages of n = rows * cols ----
  /** rh = sigmoid(pr) * h: the reset gate applied to the state. */
  gruReset(pr: Storage, h: Storage, n: number): Storage;
  /** Given g = dL/drh: dL/dpr and dL/dh. */
  gruResetBackward(pr: Storage, h: Storage, g: Storage, n: number): { dpr: Storage; dh: Storage };
  /** h' = (1 - z) * h + z * act(po + b), z = sigmoid(pz); pz, po, h [rows, cols], b [cols]. */
  gruUpdate(pz: Storage, po: Storage, b: Storage, h: Storage, rows: number, cols: number, act: GruActivation): Storage;
  /** Given g = dL/dh': dL/dpz, dL/dpo (also dL/db before summing over rows) and dL/dh. */
  gruUpdateBackward(
    pz: Storage, po: Storage, b: Storage, h: Storage, g: Storage, rows: number, cols: number, act: GruActivation,
  ): { dpz: Storage; dpo: Storage; dh: Storage };

  // ---- optimizer updates, in place on f32 storages of equal size ----
  adamw(p: Storage, g: Storage, m: Storage, v: Storage, h: AdamWParams, gradScale: Storage | null): void;
  sgd(p: Storage, g: Storage, buf: Storage | null, h: SgdParams, gradScale: Storage | null): void;
}

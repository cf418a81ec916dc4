/**
 * @moegraph/tensor-webgpu: tensors with reverse-mode autograd on WebGPU and on the cpu.
 *
 *   import { init, randn, AdamW } from '@moegraph/tensor-webgpu';
 *   await init();                      // webgpu when an adapter exists, else cpu
 *   const w = randn([4, 1], { requiresGrad: true });
 */
export type { Backend, BackendStats, Storage, View, UnaryOp, BinaryOp, ReduceOp, RopeParams, AdamWParams, SgdParams } from './backend.js';
export type { DType, TypedArray } from './dtype.js';
export { f16BitsToF32, f32ToF16Bits } from './dtype.js';
export type { Shape } from './shape.js';
export { numel, broadcastShapes } from './shape.js';
export { Tensor, type TensorLike, type Node } from './tensor.js';
export { getBackend, setBackend, noGrad, isGradEnabled } from './engine.js';
export { scope, keep } from './scope.js';
export { Generator, hash32 } from './random.js';
export { init, type InitOptions } from './init.js';
export { stats, flush, type Stats } from './stats.js';
export { createCpuBackend } from './backends/cpu/index.js';
export { cpuThreadStats } from './backends/cpu/wasm/pool.js';
export { createWebGPUBackend, webgpuAvailable } from './backends/webgpu/index.js';
export * from './ops/index.js';
export { Optimizer, type OptimizerOptions } from './optim/optimizer.js';
export { AdamW, type AdamWOptions, type AdamWState } from './optim/adamw.js';
export { SGD, type SGDOptions } from './optim/sgd.js';
export { toBackend, readAll, assign } from './transfer.js';
export { captureStep, CapturedStep, type CaptureOptions } from './capture/step.js';

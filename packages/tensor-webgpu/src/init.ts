/** Choosing a backend: explicitly, or 'auto' (WebGPU when an adapter exists, else cpu). */
import type { Backend } from './backend.js';
import { createCpuBackend } from './backends/cpu/index.js';
import { createWebGPUBackend, webgpuAvailable } from './backends/webgpu/index.js';
import { engine, setBackend } from './engine.js';

engine.fallback = () => createCpuBackend();

export interface InitOptions {
  /** 'auto' (default): webgpu when an adapter is found, else cpu. */
  backend?: 'auto' | 'webgpu' | 'cpu';
  /** cpu backend precision; 'f64' is the gradient-check oracle. */
  precision?: 'f32' | 'f64';
  /** Passed to the WebGPU backend. */
  device?: GPUDevice;
}

/** Create a backend and make it the default for new tensors. */
export async function init(opts: InitOptions = {}): Promise<Backend> {
  const want = opts.backend ?? (typeof process !== 'undefined' && process.env?.MOEGRAPH_BACKEND as InitOptions['backend']) ?? 'auto';
  let b: Backend;
  if (want === 'cpu') b = createCpuBackend({ precision: opts.precision });
  else if (want === 'webgpu') b = await createWebGPUBackend({ device: opts.device });
  else if (want === 'auto') b = (await webgpuAvailable()) ? await createWebGPUBackend({ device: opts.device }) : createCpuBackend({ precision: opts.precision });
  else throw new Error(`init: unknown backend '${String(want)}' (expected auto, webgpu or cpu)`);
  setBackend(b);
  return b;
}

/** WebGPU backend entry points. */
import type { Backend } from '../../backend.js';
import { acquireDevice, webgpuAvailable } from './device.js';
import { WebGPUBackend } from './backend.js';
import type { MatmulTuning } from './launch/narrow.js';

export type { MatmulTuning };
export type { AdapterSummary } from './device.js';

export { webgpuAvailable, WebGPUBackend };

export interface WebGPUBackendOptions {
  /** Use this device instead of requesting one (the backend does not destroy it). */
  device?: GPUDevice;
  powerPreference?: GPUPowerPreference;
  /** Dispatches encoded before an automatic submit (default 128). */
  maxDispatchesPerSubmit?: number;
  /** Matmul kernel choice (default: by shape); fixing one is for benchmarks and tests. */
  matmul?: MatmulTuning;
}

export async function createWebGPUBackend(opts: WebGPUBackendOptions = {}): Promise<Backend> {
  const got = await acquireDevice(opts);
  return new WebGPUBackend(got.device, got.keep, !opts.device, got.hasF16, {
    maxDispatchesPerSubmit: opts.maxDispatchesPerSubmit,
    matmul: opts.matmul,
    adapter: got.info,
  });
}

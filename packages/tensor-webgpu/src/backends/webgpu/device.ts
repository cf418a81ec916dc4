/**
 * Getting a GPUDevice on every runtime: an explicit device, navigator.gpu (browsers, Deno),
 * bun-webgpu on Bun, the `webgpu` npm package (Dawn) on Node.
 */

export interface AcquiredDevice {
  device: GPUDevice;
  /** Objects that must stay referenced as long as the device lives (Dawn's create() result). */
  keep: unknown[];
  hasF16: boolean;
  /** What the adapter says of itself (empty strings where the binding does not tell). */
  info: AdapterSummary;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  description: string;
  /** A CPU implementation (lavapipe, SwiftShader): kernels tuned for GPUs lose there. */
  software: boolean;
}

/** The adapter's GPUAdapterInfo as an AdapterSummary (`adapter.info`, or a device's `adapterInfo`). */
export function summarize(info: Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean } | undefined): AdapterSummary {
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const description = info?.description || info?.device || '';
  const software = info?.isFallbackAdapter === true || /software|llvmpipe|lavapipe|swiftshader/i.test(`${architecture} ${info?.device ?? ''} ${description}`);
  return { vendor, architecture, description, software };
}

const NO_ADAPTER = 'webgpu: no GPU adapter found (on Debian install Mesa lavapipe: scripts/setup-vulkan.sh)';

type AnyRec = Record<string, unknown>;

/** Keep a reference for the life of the process as well: Dawn crashes if create()'s result is collected. */
const forever: unknown[] = [];

let found: Promise<{ gpu: GPU; keep: unknown[] } | null> | null = null;

/** The GPU entry point of this runtime (one per process, shared by every backend). */
function findGPU(): Promise<{ gpu: GPU; keep: unknown[] } | null> {
  if (!found) {
    found = findGPUOnce();
    found.catch(() => {
      found = null;
    });
  }
  return found;
}

async function findGPUOnce(): Promise<{ gpu: GPU; keep: unknown[] } | null> {
  const g = globalThis as unknown as AnyRec;
  const nav = g.navigator as { gpu?: GPU } | undefined;
  if (nav?.gpu) return { gpu: nav.gpu, keep: [] };
  if (typeof g.Bun !== 'undefined') {
    try {
      const mod = (await import(/* @vite-ignore */ 'bun-webgpu' as string)) as AnyRec;
      if (typeof mod.setupGlobals === 'function') await (mod.setupGlobals as () => unknown)();
      const nav2 = (globalThis as unknown as AnyRec).navigator as { gpu?: GPU } | undefined;
      if (nav2?.gpu) return { gpu: nav2.gpu, keep: [mod] };
      if (typeof mod.createGPUInstance === 'function') {
        const gpu = (mod.createGPUInstance as () => GPU)();
        forever.push(gpu);
        return { gpu, keep: [mod, gpu] };
      }
    } catch {
      // bun-webgpu not installed: fall through to the Dawn package.
    }
  }
  const proc = g.process as { versions?: { node?: string } } | undefined;
  if (proc?.versions?.node) {
    let mod: AnyRec;
    try {
      mod = (await import(/* @vite-ignore */ 'webgpu' as string)) as AnyRec;
    } catch (e) {
      throw new Error(`webgpu: the npm package 'webgpu' (Dawn for Node) could not be loaded: ${(e as Error).message}`);
    }
    const globals = mod.globals as AnyRec | undefined;
    if (globals) {
      for (const [k, v] of Object.entries(globals)) {
        if (!(k in g)) g[k] = v;
      }
    }
    const create = mod.create as (flags: string[]) => GPU;
    const gpu = create([]);
    forever.push(gpu);
    return { gpu, keep: [gpu, mod] };
  }
  return null;
}

export async function acquireDevice(opts: {
  device?: GPUDevice;
  powerPreference?: GPUPowerPreference;
}): Promise<AcquiredDevice> {
  if (opts.device) {
    const info = (opts.device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    return { device: opts.device, keep: [], hasF16: opts.device.features.has('shader-f16'), info: summarize(info) };
  }
  const got = await findGPU();
  if (!got) throw new Error(NO_ADAPTER);
  const adapter = await got.gpu.requestAdapter(
    opts.powerPreference ? { powerPreference: opts.powerPreference } : undefined,
  );
  if (!adapter) throw new Error(NO_ADAPTER);
  // Ask for every limit the adapter reports: the defaults allow only 8 storage buffers and 128 MiB
  // per binding, and bun-webgpu rejects a partial list (it fills the rest with zeros).
  const requiredLimits: Record<string, number> = {};
  for (const k in adapter.limits) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  const requiredFeatures: GPUFeatureName[] = [];
  const hasF16 = adapter.features.has('shader-f16');
  if (hasF16) requiredFeatures.push('shader-f16');
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (e) {
    // Some bindings (bun-webgpu) reject limits they report themselves: fall back to the defaults.
    try {
      device = await adapter.requestDevice({ requiredFeatures });
    } catch {
      throw new Error(`webgpu: requestDevice failed: ${(e as Error).message}`);
    }
  }
  if (!device) throw new Error('webgpu: requestDevice returned no device');
  return { device, keep: [...got.keep, adapter], hasF16, info: summarize((adapter as { info?: GPUAdapterInfo }).info) };
}

/** True when a GPU adapter can be obtained on this runtime (never throws). */
export async function webgpuAvailable(): Promise<boolean> {
  try {
    const got = await findGPU();
    if (!got) return false;
    const adapter = await got.gpu.requestAdapter();
    return !!adapter;
  } catch {
    return false;
  }
}

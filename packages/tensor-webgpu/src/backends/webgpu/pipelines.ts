/**
 * Compute pipeline cache. Pipelines are created synchronously (createComputePipelineAsync does not
 * keep Node's event loop alive); compile/validation errors are captured with an error scope and
 * surface, naming the kernel, from the next flush/sync/read.
 */

export interface KernelDef {
  /** Cache key: kernel name plus its specialisation. */
  key: string;
  /** Builds the WGSL source (called once per key). */
  code: () => string;
}

export interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Binding signature ('u' then 'r'/'w' per storage binding): bind groups are shared per signature. */
  sig: string;
}

const BINDING_RE = /@binding\((\d+)\)\s*var<\s*(uniform|storage\s*,\s*read_write|storage\s*,\s*read|storage)\s*>/g;

/**
 * Storage buffers a kernel may bind: WebGPU's default maxStorageBuffersPerShaderStage. Our device asks for
 * the adapter's limits (lavapipe allows more), but a browser adapter may grant only the default, so every
 * kernel keeps to it and signature() refuses one that does not.
 */
export const MAX_STORAGE_BUFFERS = 8;

/** Binding signature of a kernel: binding 0 is the uniform parameter block (group 1), 1.. storages (group 0). */
export function signature(code: string): string {
  const kinds: string[] = [];
  for (const m of code.matchAll(BINDING_RE)) {
    const i = Number(m[1]);
    kinds[i] = m[2]!.startsWith('uniform') ? 'u' : m[2]!.includes('read_write') ? 'w' : 'r';
  }
  if (kinds[0] !== 'u') throw new Error('binding 0 must be the uniform parameter block');
  for (let i = 0; i < kinds.length; i++) if (!kinds[i]) throw new Error(`binding ${i} missing`);
  if (kinds.length - 1 > MAX_STORAGE_BUFFERS) {
    throw new Error(`binds ${kinds.length - 1} storage buffers, more than the ${MAX_STORAGE_BUFFERS} WebGPU guarantees per shader stage`);
  }
  return kinds.join('');
}

export class PipelineCache {
  private cache = new Map<string, CachedPipeline>();
  private layouts = new Map<string, { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout }>();
  /**
   * Group 1 of every pipeline: the parameter block, bound per arena slot at a fixed offset. A dynamic
   * offset instead made lavapipe copy the descriptor set on every bind (an mmap + munmap with a TLB
   * shootdown per dispatch, strace: one munmap per dispatch); this layout measured 10-14 us less per dispatch.
   */
  readonly paramLayout: GPUBindGroupLayout;
  private checks: Promise<void>[] = [];
  /** First compile error seen (kept so every later call reports it). */
  error: Error | null = null;

  constructor(private device: GPUDevice) {
    this.paramLayout = device.createBindGroupLayout({
      entries: [{ binding: 0, visibility: 4 /* GPUShaderStage.COMPUTE */, buffer: { type: 'uniform', minBindingSize: 256 } }],
      label: 'params',
    });
  }

  get size(): number {
    return this.cache.size;
  }

  /** Binding signature of every kernel created so far, by key. */
  signatures(): Map<string, string> {
    return new Map([...this.cache].map(([key, c]) => [key, c.sig]));
  }

  private layoutFor(sig: string): { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout } {
    let l = this.layouts.get(sig);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [...sig.slice(1)].map((c, i) => ({
        binding: i + 1,
        visibility: 4 /* GPUShaderStage.COMPUTE */,
        buffer: { type: c === 'w' ? 'storage' : 'read-only-storage' },
      }));
      const bgl = this.device.createBindGroupLayout({ entries, label: `sig-${sig}` });
      l = { bgl, pl: this.device.createPipelineLayout({ bindGroupLayouts: [bgl, this.paramLayout] }) };
      this.layouts.set(sig, l);
    }
    return l;
  }

  get(k: KernelDef): CachedPipeline {
    const hit = this.cache.get(k.key);
    if (hit) return hit;
    let code: string;
    let sig: string;
    try {
      code = k.code();
      sig = signature(code);
    } catch (e) {
      throw new Error(`webgpu: kernel '${k.key}': building its WGSL failed: ${(e as Error).message}`);
    }
    const device = this.device;
    const { bgl, pl } = this.layoutFor(sig);
    device.pushErrorScope('validation');
    device.pushErrorScope('internal');
    let pipeline: GPUComputePipeline;
    try {
      const module = device.createShaderModule({ code, label: k.key });
      pipeline = device.createComputePipeline({
        label: k.key,
        layout: pl,
        compute: { module, entryPoint: 'main' },
      });
    } catch (e) {
      void device.popErrorScope();
      void device.popErrorScope();
      throw new Error(`webgpu: kernel '${k.key}' failed to compile: ${(e as Error).message}`);
    }
    const internal = device.popErrorScope();
    const validation = device.popErrorScope();
    const check = Promise.all([internal, validation]).then(
      ([a, b]) => {
        const err = b ?? a;
        if (err && !this.error) {
          this.error = new Error(`webgpu: kernel '${k.key}' failed to compile: ${err.message}`);
        }
      },
      (e: unknown) => {
        if (!this.error) this.error = new Error(`webgpu: kernel '${k.key}': ${(e as Error).message}`);
      },
    );
    this.checks.push(check);
    const entry = { pipeline, layout: bgl, sig };
    this.cache.set(k.key, entry);
    return entry;
  }

  /** Wait for outstanding compile checks; the caller keeps the event loop alive. */
  async settle(): Promise<void> {
    while (this.checks.length > 0) {
      const c = this.checks;
      this.checks = [];
      await Promise.all(c);
    }
  }

  get pendingChecks(): number {
    return this.checks.length;
  }

  clear(): void {
    this.cache.clear();
  }
}

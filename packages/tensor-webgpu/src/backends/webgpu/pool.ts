/**
 * Size-bucketed GPUBuffer pool. Sizes round up to powers of two up to 1 MiB and to quarter steps
 * of a power of two above. Released buffers wait in `pending` until the flush that last used them
 * has been submitted (queue.writeBuffer lands before encoded-but-unsubmitted work), then become
 * free for reuse.
 */

export const STORAGE_USAGE = GPUBufferUsageFlags();

function GPUBufferUsageFlags(): number {
  // GPUBufferUsage may not exist as a global until the Dawn globals are installed; use the values.
  const STORAGE = 0x80;
  const COPY_SRC = 0x04;
  const COPY_DST = 0x08;
  return STORAGE | COPY_SRC | COPY_DST;
}

export function bucketSize(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 4) * 4);
  const MiB = 1 << 20;
  if (b <= MiB) {
    let p = 256;
    while (p < b) p *= 2;
    return p;
  }
  let p = MiB;
  while (p * 2 < b) p *= 2;
  // p < b <= 2p: quarter steps of p
  const q = p / 4;
  return Math.ceil(b / q) * q;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private pending: GPUBuffer[] = [];
  pooledBytes = 0;
  /** Free-pool cap: buffers beyond it are destroyed instead of pooled. */
  maxPooledBytes: number;

  /** Called before a pooled buffer is destroyed (the backend drops cached bind groups). */
  onDestroy: (buf: GPUBuffer) => void = () => {};

  constructor(
    private device: GPUDevice,
    maxPooledBytes = 1 << 30,
  ) {
    this.maxPooledBytes = maxPooledBytes;
  }

  acquire(bytes: number): GPUBuffer {
    let size = bucketSize(bytes);
    const max = this.device.limits.maxBufferSize;
    if (size > max) size = Math.ceil(bytes / 4) * 4; // too big to round up: exact size (still pooled by it)
    const list = this.free.get(size);
    if (list && list.length > 0) {
      this.pooledBytes -= size;
      return list.pop()!;
    }
    return this.device.createBuffer({ size, usage: STORAGE_USAGE });
  }

  /** Take a free buffer out of the pool for good (a capture holds it); false when it is not free. */
  claim(buf: GPUBuffer): boolean {
    const list = this.free.get(buf.size);
    const i = list ? list.indexOf(buf) : -1;
    if (i < 0) return false;
    list!.splice(i, 1);
    this.pooledBytes -= buf.size;
    return true;
  }

  /** The buffer's last use has been submitted already: free it now. */
  releaseNow(buf: GPUBuffer): void {
    this.toFree(buf);
  }

  /** The buffer is used by encoded, not yet submitted work. */
  releaseAfterSubmit(buf: GPUBuffer): void {
    this.pending.push(buf);
    this.pooledBytes += buf.size;
  }

  /** Called right after a submit: pending buffers become reusable. */
  onSubmitted(): void {
    const p = this.pending;
    this.pending = [];
    for (const b of p) {
      this.pooledBytes -= b.size;
      this.toFree(b);
    }
  }

  private toFree(buf: GPUBuffer): void {
    if (this.pooledBytes + buf.size > this.maxPooledBytes) {
      this.onDestroy(buf);
      buf.destroy();
      return;
    }
    let list = this.free.get(buf.size);
    if (!list) this.free.set(buf.size, (list = []));
    list.push(buf);
    this.pooledBytes += buf.size;
  }

  /** Destroy every free buffer (pending ones too: only call when nothing will be submitted). */
  destroyAll(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    for (const b of this.pending) b.destroy();
    this.free.clear();
    this.pending = [];
    this.pooledBytes = 0;
  }
}

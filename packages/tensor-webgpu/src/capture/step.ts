/**
 * captureStep: record a training step's device work once and replay it, skipping the op layer
 * (autograd, tensor objects, validation, bind-group lookups) on every later run, like CUDA graphs.
 *
 *   const step = captureStep(() => { opt.zeroGrad(); const loss = f(x); loss.backward(); opt.step(); return loss; });
 *   for (...) { assign(x, batch); const loss = step.run(); }   // loss: the same tensor every run
 *   step.dispose();
 *
 * The first run() executes the function eagerly while the backend records; constructs a replay
 * would get wrong (host readbacks, host random draws, host uploads, first-step-only gradient
 * creation) make it throw. Backends that cannot record (cpu) run the function each time instead.
 */
import type { Backend } from '../backend.js';
import { getBackend } from '../engine.js';
import { collect, keep, scope } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { capture, type BackendCapture, type CaptureSession } from './state.js';

export interface CaptureOptions {
  /** The backend the step runs on (default: the current default backend). */
  backend?: Backend;
  /**
   * Record host uploads inside the step (tensor() of host data) and replay them with their
   * captured contents. Only for data that is the same every step; off by default.
   */
  allowUploads?: boolean;
}

export class CapturedStep<T> {
  private rec: BackendCapture | null = null;
  private out: T | undefined;
  private owned: Tensor[] = [];
  /** Set once the first run succeeded: a refused or failed first run is retried (and refused) again. */
  private recorded = false;
  private disposed = false;

  constructor(
    private readonly fn: () => T,
    readonly backend: Backend,
    private readonly opts: CaptureOptions,
  ) {}

  /** True once a recording exists and run() replays it (false before the first run and on cpu). */
  get replaying(): boolean {
    return this.rec !== null;
  }

  /**
   * Run the step. Returns the function's result; under replay these are the same tensors every
   * time, overwritten by each run, owned by the step (do not dispose them) and not differentiable.
   */
  run(): T {
    if (this.disposed) throw new Error('captureStep: run() after dispose()');
    if (this.rec) {
      this.rec.replay();
      return this.out as T;
    }
    if (!this.recorded) return this.record();
    this.release();
    return this.adopt(scope(this.fn));
  }

  /** Free the outputs and every buffer the recording holds. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.release();
    this.rec?.dispose();
    this.rec = null;
  }

  private record(): T {
    if (capture.session) throw new Error('captureStep: run() of a step inside another step being captured');
    const rec = this.backend.capture?.() ?? null;
    const session: CaptureSession = { backend: rec, allowUploads: !!this.opts.allowUploads, failure: null };
    capture.session = session;
    let out: T;
    try {
      out = scope(() => {
        const r = this.fn();
        if (r && typeof (r as { then?: unknown }).then === 'function') {
          throw new Error('captureStep: the step function returned a Promise; a captured step must be synchronous ' +
            '(an await inside it waits for data the replay could not provide)');
        }
        return r;
      });
      this.backend.flush();
    } catch (e) {
      rec?.dispose();
      throw e;
    } finally {
      capture.session = null;
    }
    this.adopt(out);
    if (session.failure) {
      this.release();
      rec?.dispose();
      throw session.failure;
    }
    rec?.end();
    this.rec = rec;
    this.recorded = true;
    return out;
  }

  /** Take the result's tensors out of every scope and off the graph: they belong to the step now. */
  private adopt(out: T): T {
    const ts = new Set<Tensor>();
    collect(out, ts);
    for (const t of ts) {
      t._node = null;
      keep(t);
    }
    this.owned = [...ts];
    this.out = out;
    return out;
  }

  private release(): void {
    for (const t of this.owned) t.dispose();
    this.owned = [];
    this.out = undefined;
  }
}

/** Record `fn` (one training step) on its first run() and replay it on later runs; see the file comment. */
export function captureStep<T>(fn: () => T, opts: CaptureOptions = {}): CapturedStep<T> {
  return new CapturedStep(fn, opts.backend ?? getBackend(), opts);
}

/** Launches of the fused optimizer updates (wgsl/optim.ts), in place on the parameter and its state. */
import type { AdamWParams, SgdParams, Storage } from '../../../backend.js';
import { grid1D, type Bindable, type WebGPURuntime } from '../runtime.js';
import { adamwKernel, sgdKernel } from '../wgsl/optim.js';

export function adamw(
  rt: WebGPURuntime, p: Storage, g: Storage, m: Storage, v: Storage, h: AdamWParams, gradScale: Storage | null,
): void {
  const sp = rt.st(p, 'adamw');
  const sg = rt.st(g, 'adamw');
  const sm = rt.st(m, 'adamw');
  const sv = rt.st(v, 'adamw');
  const ss = gradScale ? rt.st(gradScale, 'adamw gradScale') : null;
  const n = sp.size;
  for (const [s, name] of [[sg, 'g'], [sm, 'm'], [sv, 'v']] as const) rt.checkSize(s, n, 'adamw', name);
  if (n === 0) return;
  const bufs: Bindable[] = [sp, sg, sm, sv];
  if (ss) bufs.push(ss);
  rt.dispatch(adamwKernel(!!ss), bufs, (w) => {
    w.u(0, n);
    w.f(2, h.lr);
    w.f(3, h.beta1);
    w.f(4, h.beta2);
    w.f(5, h.eps);
    w.f(6, h.weightDecay);
    w.f(7, h.bc1);
    w.f(8, h.bc2);
  }, grid1D(n));
}

export function sgd(rt: WebGPURuntime, p: Storage, g: Storage, buf: Storage | null, h: SgdParams, gradScale: Storage | null): void {
  const sp = rt.st(p, 'sgd');
  const sg = rt.st(g, 'sgd');
  const sb = buf ? rt.st(buf, 'sgd buf') : null;
  const ss = gradScale ? rt.st(gradScale, 'sgd gradScale') : null;
  const n = sp.size;
  rt.checkSize(sg, n, 'sgd', 'g');
  if (sb) rt.checkSize(sb, n, 'sgd', 'buf');
  if (n === 0) return;
  const bufs: Bindable[] = [sp, sg];
  if (sb) bufs.push(sb);
  if (ss) bufs.push(ss);
  rt.dispatch(sgdKernel(!!sb, !!ss), bufs, (w) => {
    w.u(0, n);
    w.u(1, h.firstStep ? 1 : 0);
    w.f(2, h.lr);
    w.f(3, h.momentum);
    w.f(4, h.weightDecay);
  }, grid1D(n));
}

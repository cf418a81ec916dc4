import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, scope, tensor } from '@moegraph/tensor-webgpu';
import { causalLMLoss } from './lm.js';
import { destroyTargets, dispose, expectClose, fixtures, makeTargets, read, type Json, type Target } from './test-helpers.js';

let targets: Target[];
beforeAll(async () => {
  targets = await makeTargets();
});
afterAll(() => destroyTargets(targets));

describe('causalLMLoss matches PyTorch', () => {
  for (const c of fixtures.lm as Json[]) {
    for (const name of ['cpu-f64', 'cpu', 'webgpu']) {
      it(`${c.name} [${name}]`, async () => {
        const tg = targets.find((t) => t.name === name)!;
        const backend = tg.backend;
        const r = scope(() => {
          const logits = tensor(c.logits, [c.b, c.t, c.v], { backend, requiresGrad: true });
          const ids = tensor(Int32Array.from(c.ids), [c.b, c.t], { backend });
          const loss = causalLMLoss(logits, ids, {
            answerMask: c.opts.answerMask ? tensor(Int32Array.from(c.answer_mask), [c.b, c.t], { backend }) : undefined,
            attentionMask: c.opts.attentionMask ? tensor(c.attention_mask, [c.b, c.t], { backend }) : undefined,
            padId: c.opts.padId,
          });
          loss.backward();
          return { loss, g: logits.grad };
        });
        expectClose(await read(r.loss), [c.loss], tg.rtol, 'loss');
        expectClose(await read(r.g, c.logits.length), c.grad_logits, tg.rtol, 'dL/dlogits');
        dispose([r.loss, r.g]);
      });
    }
  }
});

describe('causalLMLoss edge cases', () => {
  const f64 = createCpuBackend({ precision: 'f64' });
  it('is 0 (with a zero gradient) when nothing is counted, and checks shapes', () => {
    scope(() => {
      const logits = tensor([1, 2, 3, 4, 5, 6], [1, 2, 3], { backend: f64, requiresGrad: true });
      const ids = tensor(Int32Array.from([1, 2]), [1, 2], { backend: f64 });
      const none = causalLMLoss(logits, ids, { answerMask: tensor(Int32Array.from([1, 0]), [1, 2], { backend: f64 }) });
      expect(Array.from(none.dataSync())).toEqual([0]);
      expect(() => causalLMLoss(logits, tensor(Int32Array.from([1, 2, 0]), [1, 3], { backend: f64 }))).toThrow(/ids/);
      expect(() => causalLMLoss(logits, tensor([1, 2], [1, 2], { backend: f64 }))).toThrow(/i32/);
    });
  });
});

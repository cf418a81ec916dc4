/**
 * Reverse-mode autograd: one iterative topological sort per backward, then each node's rule in
 * reverse order. Gradients for leaves accumulate in place across backward calls.
 */
import { noGrad, untrack } from './engine.js';
import { fmtShape, shapesEqual } from './shape.js';
import type { Node, Tensor } from './tensor.js';
import * as ops from './ops/index.js';
import { scope } from './scope.js';
import { capture, captureFail } from './capture/state.js';

function topoSort(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>([root]);
  // Iterative DFS: deep graphs (long sequences of ops) must not overflow the JS stack.
  const stack: [Tensor, number][] = [[root, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t._node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const c = inputs[i]!;
      if (c.requiresGrad && !seen.has(c)) {
        seen.add(c);
        stack.push([c, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order;
}

/** Add g into leaf.grad (in place when it exists), keeping the result out of any scope. */
function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (!shapesEqual(leaf.shape, g.shape)) {
    throw new Error(`backward: gradient ${fmtShape(g.shape)} does not match leaf ${fmtShape(leaf.shape)}`);
  }
  if (leaf.grad && !leaf.grad.isDisposed) {
    const dst = leaf.grad;
    if (!dst.isContiguous) throw new Error('backward: leaf .grad must be contiguous');
    leaf.backend.accumulate(dst.buffer('backward').storage, dst.offset, g.view('backward'), 'add');
    return;
  }
  if (capture.session) {
    captureFail(`backward created the .grad of leaf${leaf.name ? ` '${leaf.name}'` : ''} ${fmtShape(leaf.shape)}: later eager steps would add into it, ` +
      'a replay would overwrite it. Create the optimizer (it allocates every gradient) or run one step before capturing');
  }
  // A private contiguous copy: the same gradient tensor may flow to several leaves.
  const own = ops.contiguous(g, true);
  untrack(own);
  leaf.grad = own;
}

function consumed(op: string): Node {
  return {
    op,
    inputs: [],
    backward: () => {
      throw new Error(`backward: the graph through '${op}' was already used by an earlier backward(); run the forward pass again`);
    },
  };
}

export function backward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad) throw new Error('backward: tensor does not require grad (no trainable input reaches it)');
  if (!grad && root.size !== 1) {
    throw new Error(`backward: output ${fmtShape(root.shape)} is not a scalar; pass a gradient tensor`);
  }
  if (grad && !shapesEqual(grad.shape, root.shape)) {
    throw new Error(`backward: gradient ${fmtShape(grad.shape)} does not match output ${fmtShape(root.shape)}`);
  }
  noGrad(() => {
    const order = topoSort(root);
    const grads = new Map<Tensor, Tensor>();
    // A rule may hand the same tensor to several inputs (add passes g through): count holders
    // so an intermediate gradient is freed exactly when its last holder has consumed it.
    const holders = new Map<Tensor, number>();
    const hold = (g: Tensor) => holders.set(g, (holders.get(g) ?? 0) + 1);
    const release = (g: Tensor) => {
      const n = (holders.get(g) ?? 1) - 1;
      if (n > 0) holders.set(g, n);
      else {
        holders.delete(g);
        if (g !== grad) g.dispose();
      }
    };
    grads.set(root, grad ?? ops.onesLike(root));
    hold(grads.get(root)!);
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i]!;
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t._node;
      if (!node) {
        accumulateLeaf(t, g);
      } else {
        const inGrads = scope(() => node.backward(g));
        t._node = consumed(node.op);
        node.inputs.forEach((inp, k) => {
          const gi = inGrads[k];
          if (!gi) return;
          hold(gi);
          if (!inp.requiresGrad) return release(gi);
          const prev = grads.get(inp);
          if (!prev) return void grads.set(inp, gi);
          const sum = ops.add(prev, gi);
          hold(sum);
          grads.set(inp, sum);
          release(prev);
          release(gi);
        });
      }
      release(g);
    }
  });
}

/** Elementwise ops, each forward next to its gradient rule. */
import type { BinaryOp, UnaryOp } from '../backend.js';
import { broadcastShapes, type Shape } from '../shape.js';
import { Tensor, type TensorLike } from '../tensor.js';
import { backendOf, expandView, operandView, output, record, requireDType, sumToShape, type GradFn } from './core.js';
import { sum } from './reduce.js';

const reduceTo = (g: Tensor, shape: Shape) => sumToShape(g, shape, sum);
const shapeOf = (x: TensorLike): Shape => (x instanceof Tensor ? x.shape : []);

function dtypeOf(op: string, a: TensorLike, b: TensorLike) {
  const ta = a instanceof Tensor ? a : null;
  const tb = b instanceof Tensor ? b : null;
  if (!ta && !tb) throw new Error(`${op}: at least one operand must be a tensor`);
  if (ta && tb && ta.dtype !== tb.dtype) {
    throw new Error(`${op}: dtype mismatch ${ta.dtype} vs ${tb.dtype}; cast one operand first`);
  }
  const d = (ta ?? tb)!.dtype;
  if (d === 'f16') throw new Error(`${op}: f16 is a storage type; cast to f32 first (tensor.cast('f32'))`);
  return d;
}

/** Run a binary kernel with broadcasting; `grad` maps dL/dout to unreduced dL/da, dL/db. */
function binary(
  op: BinaryOp,
  a: TensorLike,
  b: TensorLike,
  grad?: (g: Tensor, out: Tensor) => [Tensor | null, Tensor | null],
): Tensor {
  const dtype = dtypeOf(op, a, b);
  const be = backendOf(op, a, b);
  const shape = broadcastShapes(op, shapeOf(a), shapeOf(b));
  const va = expandView(op, operandView(op, a, be, dtype), shape);
  const vb = expandView(op, operandView(op, b, be, dtype), shape);
  const inputs = [a, b].filter((x): x is Tensor => x instanceof Tensor);
  const out = output(op, be.binary(op, va, vb), shape, []);
  if (!grad) return out;
  const rule: GradFn = (g) => {
    const [ga, gb] = grad(g, out);
    const res: (Tensor | null)[] = [];
    // A broadcast operand's gradient is a reduction: skip it where nothing consumes it (add hands
    // g to both sides, e.g. a frozen activation broadcast against a trained one).
    if (a instanceof Tensor) res.push(ga && a.requiresGrad ? reduceTo(ga, a.shape) : null);
    if (b instanceof Tensor) res.push(gb && b.requiresGrad ? reduceTo(gb, b.shape) : null);
    return res;
  };
  return record(out, op, inputs, rule);
}


const needs = (x: TensorLike) => x instanceof Tensor && x.requiresGrad;

export const add = (a: TensorLike, b: TensorLike): Tensor => binary('add', a, b, (g) => [g, g]);
export const sub = (a: TensorLike, b: TensorLike): Tensor => binary('sub', a, b, (g) => [g, needs(b) ? neg(g) : null]);
export const mul = (a: TensorLike, b: TensorLike): Tensor =>
  binary('mul', a, b, (g) => [needs(a) ? mul(g, b) : null, needs(b) ? mul(g, a) : null]);
export const div = (a: TensorLike, b: TensorLike): Tensor =>
  binary('div', a, b, (g, out) => [needs(a) ? div(g, b) : null, needs(b) ? neg(div(mul(g, out), b)) : null]);
export const pow = (a: TensorLike, b: TensorLike): Tensor =>
  binary('pow', a, b, (g, out) => [
    needs(a) ? mul(g, mul(b, pow(a, typeof b === 'number' ? b - 1 : sub(b, 1)))) : null,
    needs(b) ? mul(g, mul(out, log(a as Tensor))) : null,
  ]);
/** Ties send the gradient to the first operand. */
export const maximum = (a: TensorLike, b: TensorLike): Tensor =>
  binary('max', a, b, (g) => [needs(a) ? mul(g, ge(a, b)) : null, needs(b) ? mul(g, lt(a, b)) : null]);
export const minimum = (a: TensorLike, b: TensorLike): Tensor =>
  binary('min', a, b, (g) => [needs(a) ? mul(g, le(a, b)) : null, needs(b) ? mul(g, gt(a, b)) : null]);

export const eq = (a: TensorLike, b: TensorLike): Tensor => binary('eq', a, b);
export const ne = (a: TensorLike, b: TensorLike): Tensor => binary('ne', a, b);
export const lt = (a: TensorLike, b: TensorLike): Tensor => binary('lt', a, b);
export const le = (a: TensorLike, b: TensorLike): Tensor => binary('le', a, b);
export const gt = (a: TensorLike, b: TensorLike): Tensor => binary('gt', a, b);
export const ge = (a: TensorLike, b: TensorLike): Tensor => binary('ge', a, b);

function unary(op: UnaryOp, x: Tensor, grad?: (g: Tensor, out: Tensor) => Tensor): Tensor {
  if (!['neg', 'abs', 'sign', 'square'].includes(op)) requireDType(op, x, ['f32']);
  else requireDType(op, x, ['f32', 'i32']);
  const out = output(op, x.backend.unary(op, x.view(op)), x.shape, []);
  return grad ? record(out, op, [x], (g) => [grad(g, out)]) : out;
}

/** A fused gradient kernel (relu_grad etc.) applied to (x or y, g). */
const gradKernel = (op: BinaryOp, xy: Tensor, g: Tensor) => binary(op, xy, g);

export const neg = (x: Tensor): Tensor => unary('neg', x, (g) => neg(g));
export const exp = (x: Tensor): Tensor => unary('exp', x, (g, y) => mul(g, y));
export const log = (x: Tensor): Tensor => unary('log', x, (g) => div(g, x));
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x, (g, y) => div(mul(g, 0.5), y));
export const rsqrt = (x: Tensor): Tensor => unary('rsqrt', x, (g, y) => mul(g, mul(pow(y, 3), -0.5)));
export const abs = (x: Tensor): Tensor => unary('abs', x, (g) => mul(g, sign(x)));
export const sign = (x: Tensor): Tensor => unary('sign', x);
export const square = (x: Tensor): Tensor => unary('square', x, (g) => mul(g, mul(x, 2)));
export const reciprocal = (x: Tensor): Tensor => unary('recip', x, (g, y) => neg(mul(g, square(y))));
export const sin = (x: Tensor): Tensor => unary('sin', x, (g) => mul(g, cos(x)));
export const cos = (x: Tensor): Tensor => unary('cos', x, (g) => neg(mul(g, sin(x))));
export const relu = (x: Tensor): Tensor => unary('relu', x, (g) => gradKernel('relu_grad', x, g));
export const silu = (x: Tensor): Tensor => unary('silu', x, (g) => gradKernel('silu_grad', x, g));
export const gelu = (x: Tensor): Tensor => unary('gelu', x, (g) => gradKernel('gelu_grad', x, g));
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x, (g, y) => gradKernel('sigmoid_grad', y, g));
export const tanh = (x: Tensor): Tensor => unary('tanh', x, (g, y) => gradKernel('tanh_grad', y, g));

/** out = cond ? a : b (cond nonzero), broadcasting all three. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const op = 'where';
  const dtype = dtypeOf(op, a, b);
  const be = backendOf(op, cond, a, b);
  const shape = broadcastShapes(op, broadcastShapes(op, cond.shape, shapeOf(a)), shapeOf(b));
  const s = be.where(
    expandView(op, cond.view(op), shape),
    expandView(op, operandView(op, a, be, dtype), shape),
    expandView(op, operandView(op, b, be, dtype), shape),
  );
  const out = output(op, s, shape, []);
  const inputs = [a, b].filter((x): x is Tensor => x instanceof Tensor);
  return record(out, op, inputs, (g) => {
    const res: (Tensor | null)[] = [];
    if (a instanceof Tensor) res.push(needs(a) ? reduceTo(where(cond, g, 0), a.shape) : null);
    if (b instanceof Tensor) res.push(needs(b) ? reduceTo(where(cond, 0, g), b.shape) : null);
    return res;
  });
}

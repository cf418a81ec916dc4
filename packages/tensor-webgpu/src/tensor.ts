/**
 * Tensor: a strided view onto a reference-counted backend storage, plus the autograd node that
 * produced it. All math lives in ops/*.ts; the methods here are thin delegations.
 */
import type { Backend, Storage, View } from './backend.js';
import type { DType, TypedArray } from './dtype.js';
import { engine, track, untrack } from './engine.js';
import { contiguousStrides, fmtShape, isContiguous, numel, type Shape } from './shape.js';
import * as ops from './ops/index.js';
import { backward as runBackward } from './autograd.js';
import { assign } from './transfer.js';
import { capture, captureFail } from './capture/state.js';

/** A storage shared by every view of it; released when the last view is disposed. */
export class Buffer {
  refs = 0;
  constructor(public storage: Storage) {}
  retain(): void {
    this.refs++;
  }
  drop(): void {
    if (--this.refs === 0) this.storage.backend.release(this.storage);
  }
}

/** How a tensor was produced: its inputs and the rule that maps dL/dout to dL/dinputs. */
export interface Node {
  op: string;
  inputs: Tensor[];
  /** Gradients for each input (null where an input needs none); already shaped like the input. */
  backward: (g: Tensor) => (Tensor | null)[];
}

export type Scalar = number;
export type TensorLike = Tensor | Scalar;

let nextId = 1;

export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  requiresGrad = false;
  grad: Tensor | null = null;
  /** Optional label used in error messages and checkpoints. */
  name: string | undefined;
  /** @internal */ _node: Node | null = null;
  /** @internal */ _buf: Buffer | null;

  /** @internal Use the factories (tensor, zeros, randn...) instead. */
  constructor(buf: Buffer, shape: Shape, dtype: DType, strides?: readonly number[], offset = 0) {
    this._buf = buf;
    buf.retain();
    this.shape = [...shape];
    this.strides = strides ? [...strides] : contiguousStrides(shape);
    this.offset = offset;
    this.dtype = dtype;
    track(this);
  }

  /** A new tensor owning a fresh storage (contiguous). */
  static fromStorage(s: Storage, shape: Shape, dtype: DType = s.dtype): Tensor {
    return new Tensor(new Buffer(s), shape, dtype);
  }

  get backend(): Backend {
    return this.buffer('backend').storage.backend;
  }
  get rank(): number {
    return this.shape.length;
  }
  get size(): number {
    return numel(this.shape);
  }
  get isDisposed(): boolean {
    return this._buf === null;
  }
  get isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  /** @internal The live buffer, or an error naming the op that touched a disposed tensor. */
  buffer(op: string): Buffer {
    if (!this._buf) throw new Error(`${op}: tensor${this.name ? ` '${this.name}'` : ''} ${fmtShape(this.shape)} was disposed`);
    return this._buf;
  }

  /** @internal The strided view handed to backend kernels. */
  view(op = 'view'): View {
    return { storage: this.buffer(op).storage, shape: this.shape, strides: this.strides, offset: this.offset };
  }

  /** @internal A tensor sharing this storage with other shape/strides/offset (a zero-copy view). */
  viewAs(shape: Shape, strides: readonly number[], offset = this.offset): Tensor {
    return new Tensor(this.buffer('view'), shape, this.dtype, strides, offset);
  }

  /** @internal Point this tensor at a contiguous region of another buffer (optimizers flatten parameters). */
  _rebind(buf: Buffer, offset: number): void {
    const old = this.buffer('rebind');
    buf.retain();
    this._buf = buf;
    old.drop();
    (this as { strides: readonly number[] }).strides = contiguousStrides(this.shape);
    (this as { offset: number }).offset = offset;
  }

  /** Free this tensor's reference to its storage now (idempotent). */
  dispose(): void {
    if (!this._buf) return;
    this._buf.drop();
    this._buf = null;
    this._node = null;
    engine.liveTensors--;
    untrack(this);
  }

  /** Read the values (row-major) back to the host. */
  async data(): Promise<TypedArray> {
    if (capture.session) captureFail(`tensor.data() of ${fmtShape(this.shape)} inside the captured step: a replay cannot hand data to the host mid-step; read outputs after run()`);
    const [d] = await this.backend.read([this.view('data')]);
    return d!;
  }
  /** Synchronous read, cpu backend only. */
  dataSync(): TypedArray {
    const b = this.backend as Backend & { readSync?: (v: View) => TypedArray };
    if (!b.readSync) throw new Error(`dataSync: not available on the ${b.name} backend; use await tensor.data()`);
    return b.readSync(this.view('dataSync'));
  }
  async toArray(): Promise<number[]> {
    return Array.from(await this.data());
  }
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item: tensor has ${this.size} elements ${fmtShape(this.shape)}, expected 1`);
    return (await this.data())[0]!;
  }

  /** Backpropagate from this tensor (a scalar unless `grad` is given); accumulates into leaves' .grad. */
  backward(grad?: Tensor): void {
    runBackward(this, grad);
  }
  /** Overwrite the values in place from host data (see transfer.ts assign). */
  assign(data: TypedArray | ArrayLike<number>): this {
    assign(this, data);
    return this;
  }
  /** The same values, cut from the graph. */
  detach(): Tensor {
    return this.viewAs(this.shape, this.strides);
  }
  /** Mark as a trainable leaf. */
  requireGrad(on = true): this {
    if (on && this.dtype === 'i32') throw new Error('requireGrad: integer tensors cannot require gradients');
    this.requiresGrad = on;
    return this;
  }
  toString(): string {
    return `Tensor(${fmtShape(this.shape)}, ${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''}${this._node ? `, op=${this._node.op}` : ''})`;
  }

  // ---- delegations (see ops/ for semantics and gradients) ----
  add(o: TensorLike): Tensor { return ops.add(this, o); }
  sub(o: TensorLike): Tensor { return ops.sub(this, o); }
  mul(o: TensorLike): Tensor { return ops.mul(this, o); }
  div(o: TensorLike): Tensor { return ops.div(this, o); }
  pow(o: TensorLike): Tensor { return ops.pow(this, o); }
  maximum(o: TensorLike): Tensor { return ops.maximum(this, o); }
  minimum(o: TensorLike): Tensor { return ops.minimum(this, o); }
  eq(o: TensorLike): Tensor { return ops.eq(this, o); }
  ne(o: TensorLike): Tensor { return ops.ne(this, o); }
  lt(o: TensorLike): Tensor { return ops.lt(this, o); }
  le(o: TensorLike): Tensor { return ops.le(this, o); }
  gt(o: TensorLike): Tensor { return ops.gt(this, o); }
  ge(o: TensorLike): Tensor { return ops.ge(this, o); }
  neg(): Tensor { return ops.neg(this); }
  exp(): Tensor { return ops.exp(this); }
  log(): Tensor { return ops.log(this); }
  sqrt(): Tensor { return ops.sqrt(this); }
  rsqrt(): Tensor { return ops.rsqrt(this); }
  abs(): Tensor { return ops.abs(this); }
  square(): Tensor { return ops.square(this); }
  relu(): Tensor { return ops.relu(this); }
  silu(): Tensor { return ops.silu(this); }
  sigmoid(): Tensor { return ops.sigmoid(this); }
  tanh(): Tensor { return ops.tanh(this); }
  gelu(): Tensor { return ops.gelu(this); }
  sum(axes?: number | number[], keepDims = false): Tensor { return ops.sum(this, axes, keepDims); }
  mean(axes?: number | number[], keepDims = false): Tensor { return ops.mean(this, axes, keepDims); }
  max(axes?: number | number[], keepDims = false): Tensor { return ops.max(this, axes, keepDims); }
  min(axes?: number | number[], keepDims = false): Tensor { return ops.min(this, axes, keepDims); }
  argmax(axis = -1, keepDims = false): Tensor { return ops.argmax(this, axis, keepDims); }
  argmin(axis = -1, keepDims = false): Tensor { return ops.argmin(this, axis, keepDims); }
  matmul(o: Tensor): Tensor { return ops.matmul(this, o); }
  softmax(axis = -1): Tensor { return ops.softmax(this, axis); }
  logSoftmax(axis = -1): Tensor { return ops.logSoftmax(this, axis); }
  reshape(shape: readonly number[]): Tensor { return ops.reshape(this, shape); }
  transpose(a = -2, b = -1): Tensor { return ops.transpose(this, a, b); }
  permute(order: readonly number[]): Tensor { return ops.permute(this, order); }
  expand(shape: readonly number[]): Tensor { return ops.expand(this, shape); }
  unsqueeze(axis: number): Tensor { return ops.unsqueeze(this, axis); }
  squeeze(axis?: number): Tensor { return ops.squeeze(this, axis); }
  flatten(start = 0, end = -1): Tensor { return ops.flatten(this, start, end); }
  narrow(axis: number, start: number, length: number): Tensor { return ops.narrow(this, axis, start, length); }
  slice(starts: readonly number[], ends: readonly number[]): Tensor { return ops.slice(this, starts, ends); }
  contiguous(): Tensor { return ops.contiguous(this); }
  cast(dtype: DType): Tensor { return ops.cast(this, dtype); }
  get T(): Tensor { return ops.transpose(this, -2, -1); }
}

/**
 * The Tensor: a typed array (float32, float64 or int32), a shape, strides and
 * an offset. Views (reshape of contiguous data, transpose, permute, slice,
 * index, expand) share storage and cost no copy.
 */
import { DTypeError, ShapeError, fmtShape } from './errors.js';
import {
  allocStorage,
  markKept,
  setStorageCollector,
  markKeptForStep,
  Storage,
  storageForArray,
  wrapStorage,
  type AnyArray,
  type DType,
  type FloatArray,
} from './pool.js';

export type { DType, AnyArray, FloatArray } from './pool.js';

/** A node of the autograd graph: how to send the output's gradient to the inputs. */
export interface GradNode {
  readonly op: string;
  /** inputs that take part in differentiation (null where an input needs no gradient) */
  readonly inputs: readonly (Tensor | null)[];
  /** gradients of the inputs, given the output's gradient (null where not needed) */
  readonly backward: (gradOut: Tensor) => readonly (Tensor | null)[];
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** An axis in [0, ndim), counting from the end when negative; `op` names the caller in the error. */
export function normAxis(op: string, axis: number, ndim: number): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (!Number.isInteger(a) || a < 0 || a >= ndim) throw new ShapeError(`${op}: axis ${axis} is out of range for a tensor of rank ${ndim}`);
  return a;
}

function checkShape(shape: readonly number[], where: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`${where}: invalid shape ${fmtShape(shape)} (dimensions must be non-negative integers)`);
  }
}

export class Tensor {
  readonly storage: Storage;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  /** gradients flow to this tensor */
  requiresGrad = false;
  /** accumulated gradient (leaves with requiresGrad, and tensors with retainGrad) */
  grad: Tensor | null = null;
  /** the op that produced this tensor, when recorded */
  node: GradNode | null = null;
  /** keep .grad on a non-leaf during backward() */
  retainsGrad = false;
  /** optional label (parameters carry their names) */
  name?: string;

  constructor(storage: Storage, dtype: DType, shape: readonly number[], strides?: readonly number[], offset = 0) {
    this.storage = storage;
    this.dtype = dtype;
    this.shape = shape;
    this.strides = strides ?? contiguousStrides(shape);
    this.offset = offset;
  }

  /** The backing array. For a non-contiguous view, index with strides and offset. */
  get data(): AnyArray {
    return this.storage.data;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get size(): number {
    return shapeSize(this.shape);
  }
  get isLeaf(): boolean {
    return this.node === null;
  }

  isContiguous(): boolean {
    let s = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      const d = this.shape[i]!;
      if (d !== 1 && this.strides[i] !== s) return false;
      s *= d;
    }
    return true;
  }

  /** The elements in row-major order as a fresh typed array. */
  toTypedArray(): AnyArray {
    const n = this.size;
    const src = this.data;
    if (this.isContiguous()) return src.slice(this.offset, this.offset + n);
    const out = newArray(this.dtype, n);
    let i = 0;
    forEachOffset(this.shape, this.strides, this.offset, (o) => {
      out[i++] = src[o]!;
    });
    return out;
  }

  /** Float elements in row-major order (float32/float64 as JS numbers). */
  toArray(): number[] {
    return Array.from(this.toTypedArray());
  }

  /** Nested JS arrays matching the shape. */
  toNested(): unknown {
    const flat = this.toArray();
    if (this.shape.length === 0) return flat[0];
    let pos = 0;
    const build = (dim: number): unknown[] => {
      const out: unknown[] = [];
      for (let i = 0; i < this.shape[dim]!; i++) out.push(dim === this.shape.length - 1 ? flat[pos++] : build(dim + 1));
      return out;
    };
    return build(0);
  }

  /** The single element of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new ShapeError(`item: tensor of shape ${fmtShape(this.shape)} has ${this.size} elements, not 1`);
    return this.data[this.offset]!;
  }

  /** Element at a multi-index. */
  get(...index: number[]): number {
    if (index.length !== this.shape.length) throw new ShapeError(`get: ${index.length} indices for shape ${fmtShape(this.shape)}`);
    let o = this.offset;
    for (let i = 0; i < index.length; i++) {
      let k = index[i]!;
      const d = this.shape[i]!;
      if (k < 0) k += d;
      if (!(k >= 0 && k < d)) throw new ShapeError(`get: index ${index[i]} out of range for dimension ${i} of ${fmtShape(this.shape)}`);
      o += k * this.strides[i]!;
    }
    return this.data[o]!;
  }

  /** A tensor sharing this one's storage but cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.storage, this.dtype, this.shape, this.strides, this.offset);
  }

  /** Mark as a differentiable leaf (parameters, inputs under study). Returns this. */
  requireGrad(flag = true): this {
    if (flag && this.dtype === 'int32') throw new DTypeError('requireGrad: int32 tensors cannot take gradients');
    this.requiresGrad = flag;
    return this;
  }

  /** Keep .grad for this intermediate tensor when backward() runs. Returns this. */
  retainGrad(): this {
    this.retainsGrad = true;
    return this;
  }

  toString(): string {
    return `Tensor(${this.dtype}, ${fmtShape(this.shape)}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

export function newArray(dtype: DType, n: number): AnyArray {
  return dtype === 'float32' ? new Float32Array(n) : dtype === 'float64' ? new Float64Array(n) : new Int32Array(n);
}

/** Call fn with the storage offset of every element, in row-major order. */
export function forEachOffset(shape: readonly number[], strides: readonly number[], offset: number, fn: (o: number) => void): void {
  const nd = shape.length;
  if (nd === 0) {
    fn(offset);
    return;
  }
  if (shapeSize(shape) === 0) return;
  const idx = new Array<number>(nd).fill(0);
  let o = offset;
  const last = nd - 1;
  const n = shape[last]!;
  const s = strides[last]!;
  for (;;) {
    for (let j = 0; j < n; j++) fn(o + j * s);
    let d = last - 1;
    for (; d >= 0; d--) {
      idx[d]!++;
      o += strides[d]!;
      if (idx[d]! < shape[d]!) break;
      o -= strides[d]! * shape[d]!;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

// ---------------------------------------------------------------------------
// creation

/** A new tensor with uninitialised (pool-reused) or zeroed elements. */
export function empty(shape: readonly number[], dtype: DType = 'float32', zero = false): Tensor {
  checkShape(shape, 'empty');
  return new Tensor(allocStorage(dtype, shapeSize(shape), zero), dtype, [...shape]);
}

export function zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return empty(shape, dtype, true);
}

export function full(shape: readonly number[], value: number, dtype: DType = 'float32'): Tensor {
  const t = empty(shape, dtype);
  t.data.fill(value);
  return t;
}

export function ones(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return full(shape, 1, dtype);
}

export function scalar(value: number, dtype: DType = 'float32'): Tensor {
  return full([], value, dtype);
}

type Nested = number | readonly Nested[];

function inferShape(v: Nested): number[] {
  const shape: number[] = [];
  let cur: Nested = v;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = (cur as readonly Nested[])[0] as Nested;
  }
  return shape;
}

/**
 * A tensor from data: a typed array (shared, not copied) or nested JS arrays.
 * With a flat array, `shape` gives the shape.
 */
export function tensor(values: Nested | AnyArray, shape?: readonly number[], dtype?: DType): Tensor {
  if (ArrayBuffer.isView(values)) {
    const arr = values as AnyArray;
    const dt: DType = arr instanceof Float32Array ? 'float32' : arr instanceof Float64Array ? 'float64' : 'int32';
    if (!(arr instanceof Float32Array || arr instanceof Float64Array || arr instanceof Int32Array)) {
      throw new DTypeError('tensor: only Float32Array, Float64Array and Int32Array are supported');
    }
    if (dtype !== undefined && dtype !== dt) throw new DTypeError(`tensor: a ${arr.constructor.name} cannot be a ${dtype} tensor; convert it first`);
    const shp = shape ?? [arr.length];
    checkShape(shp, 'tensor');
    if (shapeSize(shp) !== arr.length) throw new ShapeError(`tensor: shape ${fmtShape(shp)} needs ${shapeSize(shp)} elements, got ${arr.length}`);
    return new Tensor(storageForArray(arr), dt, [...shp]);
  }
  const inferred = inferShape(values as Nested);
  const flat: number[] = Array.isArray(values) ? (values as unknown[]).flat(Infinity as 1) as number[] : [values as number];
  const shp = shape ?? inferred;
  if (shapeSize(shp) !== flat.length) throw new ShapeError(`tensor: shape ${fmtShape(shp)} needs ${shapeSize(shp)} elements, got ${flat.length}`);
  const dt = dtype ?? 'float32';
  const arr = newArray(dt, flat.length);
  for (let i = 0; i < flat.length; i++) arr[i] = flat[i]!;
  return new Tensor(wrapStorage(arr), dt, [...shp]);
}

/** int32 tensor of token ids, e.g. ids([[1,2,3]]). */
export function ids(values: Nested | Int32Array, shape?: readonly number[]): Tensor {
  return tensor(values, shape, 'int32');
}

export function arange(n: number, dtype: DType = 'float32'): Tensor {
  const t = empty([n], dtype);
  const d = t.data;
  for (let i = 0; i < n; i++) d[i] = i;
  return t;
}

/** Keep a tensor's buffer alive past the end of the enclosing noGrad()/scope() block. */
export function keep<T extends Tensor>(t: T): T {
  markKept(t.storage);
  return t;
}

/** keep(), except that the enclosing stepScope (if any) recycles the buffer when its step ends. */
export function keepForStep<T extends Tensor>(t: T): T {
  markKeptForStep(t.storage);
  return t;
}

setStorageCollector(function collect(value: unknown, into: Set<Storage>): void {
  if (value instanceof Tensor) {
    into.add(value.storage);
    if (value.grad !== null) into.add(value.grad.storage);
  } else if (Array.isArray(value)) {
    for (const v of value) collect(v, into);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, into);
  } else if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, into);
  }
});

export function isFloat(t: Tensor): boolean {
  return t.dtype !== 'int32';
}

export function floatData(t: Tensor, op: string): FloatArray {
  if (t.dtype === 'int32') throw new DTypeError(`${op}: expected a float tensor, got int32 of shape ${fmtShape(t.shape)}`);
  return t.data as FloatArray;
}

/**
 * Shape ops. Views (reshape where strides allow, transpose, permute, slice,
 * select, unsqueeze, squeeze, expand) share storage; concat, indexSelect and
 * contiguous copy. All are differentiable.
 */
import { ShapeError, DTypeError, fmtShape } from '../errors.js';
import { record } from '../autograd.js';
import { Tensor, empty, zeros, shapeSize, normAxis } from '../tensor.js';
import { contiguousCopy, sumTo, addInto } from './basic.js';

function view(t: Tensor, shape: readonly number[], strides: readonly number[], offset: number): Tensor {
  return new Tensor(t.storage, t.dtype, shape, strides, offset);
}

/** A contiguous tensor with t's elements (t itself when already contiguous). */
export function contiguous(t: Tensor): Tensor {
  if (t.isContiguous()) return t;
  const out = contiguousCopy(t);
  return record(out, 'contiguous', [t], (g) => [g]);
}

/** Reshape; -1 infers one dimension. A view when t is contiguous, otherwise a copy. */
export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  const n = t.size;
  const s = [...shape];
  const infer = s.indexOf(-1);
  if (infer >= 0) {
    const rest = shapeSize(s.filter((_, i) => i !== infer));
    if (rest === 0 || n % rest !== 0) throw new ShapeError(`reshape: cannot reshape ${fmtShape(t.shape)} (${n} elements) into ${fmtShape(shape)}`);
    s[infer] = n / rest;
  }
  if (shapeSize(s) !== n || s.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(`reshape: cannot reshape ${fmtShape(t.shape)} (${n} elements) into ${fmtShape(shape)}`);
  }
  const inShape = t.shape;
  const strides = t.isContiguous() ? undefined : viewStrides(t.shape, t.strides, s);
  if (strides === null) {
    const src = contiguous(t);
    return record(new Tensor(src.storage, src.dtype, s, undefined, src.offset), 'reshape', [src], (g) => [reshape(g, inShape)]);
  }
  return record(new Tensor(t.storage, t.dtype, s, strides, t.offset), 'reshape', [t], (g) => [reshape(g, inShape)]);
}

/**
 * Strides that show a strided tensor in a new shape without moving data, or
 * null when there are none. The old dimensions are cut into runs that are
 * contiguous with each other (a size-1 dimension joins any run); each run
 * must be exactly covered by consecutive new dimensions, which then step
 * through it with the run's innermost stride.
 */
function viewStrides(oldShape: readonly number[], oldStrides: readonly number[], shape: readonly number[]): number[] | null {
  const out = new Array<number>(shape.length).fill(1);
  let d = shape.length - 1;
  let runEnd = oldShape.length - 1; // innermost old dimension of the current run
  let runSize = 1;
  for (let i = oldShape.length - 1; i >= 0; i--) {
    runSize *= oldShape[i]!;
    const runEnds = i === 0 || (oldShape[i - 1]! !== 1 && oldStrides[i - 1]! !== runSize * oldStrides[runEnd]!);
    if (!runEnds) continue;
    let covered = 1;
    while (d >= 0 && (covered < runSize || shape[d] === 1)) {
      out[d] = covered * oldStrides[runEnd]!;
      covered *= shape[d]!;
      d--;
    }
    if (covered !== runSize) return null;
    runEnd = i - 1;
    runSize = 1;
  }
  return d === -1 ? out : null;
}

export function flatten(t: Tensor, startAxis = 0, endAxis = -1): Tensor {
  if (t.ndim === 0) return reshape(t, [1]);
  const s = normAxis('flatten', startAxis, t.ndim);
  const e = normAxis('flatten', endAxis, t.ndim);
  const shape = [...t.shape.slice(0, s), shapeSize(t.shape.slice(s, e + 1)), ...t.shape.slice(e + 1)];
  return reshape(t, shape);
}

/** Reorder dimensions (a view). */
export function permute(t: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== t.ndim || [...perm].map((p) => normAxis('permute', p, t.ndim)).sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new ShapeError(`permute: ${fmtShape(perm)} is not a permutation of the ${t.ndim} dimensions of ${fmtShape(t.shape)}`);
  }
  const p = perm.map((x) => normAxis('permute', x, t.ndim));
  const out = view(t, p.map((i) => t.shape[i]!), p.map((i) => t.strides[i]!), t.offset);
  const inv = new Array<number>(p.length);
  p.forEach((x, i) => (inv[x] = i));
  return record(out, 'permute', [t], (g) => [permute(g, inv)]);
}

/** Swap two dimensions (a view); defaults to the last two. */
export function transpose(t: Tensor, a = -2, b = -1): Tensor {
  const x = normAxis('transpose', a, t.ndim);
  const y = normAxis('transpose', b, t.ndim);
  const perm = [...Array(t.ndim).keys()];
  perm[x] = y;
  perm[y] = x;
  return permute(t, perm);
}

/** Elements start ≤ i < end along an axis (a view); negative bounds count from the end. */
export function slice(t: Tensor, axis: number, start: number, end?: number): Tensor {
  const ax = normAxis('slice', axis, t.ndim);
  const d = t.shape[ax]!;
  let s = start < 0 ? start + d : start;
  let e = end === undefined ? d : end < 0 ? end + d : end;
  s = Math.max(0, Math.min(d, s));
  e = Math.max(s, Math.min(d, e));
  const shape = [...t.shape];
  shape[ax] = e - s;
  const out = view(t, shape, t.strides, t.offset + s * t.strides[ax]!);
  const inShape = t.shape;
  return record(out, 'slice', [t], (g) => {
    const gi = zeros(inShape, g.dtype);
    const region = new Tensor(gi.storage, gi.dtype, shape, gi.strides, s * gi.strides[ax]!);
    addStrided(region, g);
    return [gi];
  });
}

/** The i-th entry along an axis, dropping that axis (a view). */
export function select(t: Tensor, axis: number, index: number): Tensor {
  const ax = normAxis('select', axis, t.ndim);
  const d = t.shape[ax]!;
  const i = index < 0 ? index + d : index;
  if (!(i >= 0 && i < d)) throw new ShapeError(`select: index ${index} is out of range for axis ${axis} of ${fmtShape(t.shape)}`);
  const sliced = slice(t, ax, i, i + 1);
  return squeeze(sliced, ax);
}

/** Insert a dimension of size 1 (a view). */
export function unsqueeze(t: Tensor, axis: number): Tensor {
  const ax = normAxis('unsqueeze', axis, t.ndim + 1);
  const shape = [...t.shape];
  const strides = [...t.strides];
  shape.splice(ax, 0, 1);
  strides.splice(ax, 0, ax < t.ndim ? t.strides[ax]! * t.shape[ax]! : 1);
  const out = view(t, shape, strides, t.offset);
  const inShape = t.shape;
  return record(out, 'unsqueeze', [t], (g) => [reshape(g, inShape)]);
}

/** Remove a dimension of size 1 (a view). */
export function squeeze(t: Tensor, axis: number): Tensor {
  const ax = normAxis('squeeze', axis, t.ndim);
  if (t.shape[ax] !== 1) throw new ShapeError(`squeeze: axis ${axis} of ${fmtShape(t.shape)} has size ${t.shape[ax]}, not 1`);
  const shape = t.shape.filter((_, i) => i !== ax);
  const strides = t.strides.filter((_, i) => i !== ax);
  const out = view(t, shape, strides, t.offset);
  const inShape = t.shape;
  return record(out, 'squeeze', [t], (g) => [reshape(g, inShape)]);
}

/** Broadcast to a larger shape without copying (stride 0 on the new dimensions). */
export function expand(t: Tensor, shape: readonly number[]): Tensor {
  if (shape.length < t.ndim) throw new ShapeError(`expand: cannot expand ${fmtShape(t.shape)} to fewer dimensions ${fmtShape(shape)}`);
  const off = shape.length - t.ndim;
  const strides = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < shape.length; i++) {
    if (i < off) continue;
    const d = t.shape[i - off]!;
    if (d === shape[i]) strides[i] = t.strides[i - off]!;
    else if (d !== 1) throw new ShapeError(`expand: cannot expand ${fmtShape(t.shape)} to ${fmtShape(shape)} (dimension ${i}: ${d} vs ${shape[i]})`);
  }
  const out = view(t, [...shape], strides, t.offset);
  const inShape = t.shape;
  return record(out, 'expand', [t], (g) => [sumTo(g, inShape)]);
}

/** dst += src elementwise, dst a (possibly strided) view of an owned zeroed buffer. */
function addStrided(dst: Tensor, src: Tensor): void {
  if (dst.isContiguous()) addInto(dst, src);
  else walkPair(dst, src, (d, i, v) => (d[i] = d[i]! + v));
}

/**
 * Visit the elements of dst (a strided view) and src (any layout, same shape)
 * in row-major order, calling f(dst.data, dstIndex, srcValue).
 */
function walkPair(dst: Tensor, src: Tensor, f: (d: Tensor['data'], i: number, v: number) => void): void {
  const d = dst.data;
  const s = src.data;
  const nd = dst.ndim;
  if (dst.size === 0) return;
  const idx = new Array<number>(nd).fill(0);
  let pd = dst.offset;
  let ps = src.offset;
  for (;;) {
    f(d, pd, s[ps]!);
    let k = nd - 1;
    for (; k >= 0; k--) {
      idx[k]!++;
      pd += dst.strides[k]!;
      ps += src.strides[k]!;
      if (idx[k]! < dst.shape[k]!) break;
      pd -= dst.strides[k]! * dst.shape[k]!;
      ps -= src.strides[k]! * src.shape[k]!;
      idx[k] = 0;
    }
    if (k < 0) return;
  }
}

/** Join tensors along an existing axis. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError('concat: no tensors given');
  const first = tensors[0]!;
  const ax = normAxis('concat', axis, first.ndim);
  let total = 0;
  for (const t of tensors) {
    if (t.dtype !== first.dtype) throw new DTypeError(`concat: mixed dtypes ${first.dtype} and ${t.dtype}`);
    if (t.ndim !== first.ndim || t.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new ShapeError(`concat: shapes ${fmtShape(first.shape)} and ${fmtShape(t.shape)} differ outside axis ${axis}`);
    }
    total += t.shape[ax]!;
  }
  const shape = [...first.shape];
  shape[ax] = total;
  const out = empty(shape, first.dtype);
  const outer = shapeSize(shape.slice(0, ax));
  const inner = shapeSize(shape.slice(ax + 1));
  const od = out.data;
  let pos = 0;
  for (const t of tensors) {
    const c = t.isContiguous() ? t : contiguousCopy(t);
    const n = t.shape[ax]! * inner;
    const src = c.data;
    for (let o = 0; o < outer; o++) {
      od.set(src.subarray(c.offset + o * n, c.offset + (o + 1) * n), o * total * inner + pos * inner);
    }
    pos += t.shape[ax]!;
  }
  const sizes = tensors.map((t) => t.shape[ax]!);
  return record(out, 'concat', tensors, (g) => {
    let p = 0;
    return sizes.map((n, i) => {
      const part = tensors[i]!.requiresGrad ? slice(g, ax, p, p + n) : null;
      p += n;
      return part;
    });
  });
}

/** Join tensors along a new axis. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError('stack: no tensors given');
  const ax = normAxis('stack', axis, tensors[0]!.ndim + 1);
  return concat(tensors.map((t) => unsqueeze(t, ax)), ax);
}

/** Gather entries along an axis by int32 indices: out.shape = t.shape with shape[axis] = indices.size. */
export function indexSelect(t: Tensor, axis: number, indices: Tensor | readonly number[]): Tensor {
  const ax = normAxis('indexSelect', axis, t.ndim);
  const idx = Array.isArray(indices) ? Int32Array.from(indices as number[]) : (indices as Tensor);
  if (!(idx instanceof Int32Array) && idx.dtype !== 'int32') throw new DTypeError(`indexSelect: indices must be int32, got ${idx.dtype}`);
  const list = idx instanceof Int32Array ? idx : (idx.toTypedArray() as Int32Array);
  const d = t.shape[ax]!;
  for (const i of list) if (!(i >= 0 && i < d)) throw new ShapeError(`indexSelect: index ${i} is out of range for axis ${axis} of ${fmtShape(t.shape)}`);
  const c = t.isContiguous() ? t : contiguousCopy(t);
  const outer = shapeSize(t.shape.slice(0, ax));
  const inner = shapeSize(t.shape.slice(ax + 1));
  const shape = [...t.shape];
  shape[ax] = list.length;
  const out = empty(shape, t.dtype);
  const src = c.data;
  const od = out.data;
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < list.length; k++) {
      const from = c.offset + (o * d + list[k]!) * inner;
      od.set(src.subarray(from, from + inner), (o * list.length + k) * inner);
    }
  }
  const inShape = t.shape;
  return record(out, 'indexSelect', [t], (g) => {
    const gi = zeros(inShape, g.dtype);
    const gc = g.isContiguous() ? g : contiguousCopy(g);
    const gd = gc.data;
    const id = gi.data;
    for (let o = 0; o < outer; o++) {
      for (let k = 0; k < list.length; k++) {
        const to = (o * d + list[k]!) * inner;
        const from = gc.offset + (o * list.length + k) * inner;
        for (let j = 0; j < inner; j++) id[to + j]! += gd[from + j]!;
      }
    }
    return [gi];
  });
}

/**
 * `base` with the entries start ≤ i < end along `axis` replaced by `value`
 * (broadcast to that region). Differentiable in both: the region's gradient
 * goes to value, the rest to base. Patching one head, neuron or position is
 * this op.
 */
export function sliceAssign(base: Tensor, axis: number, start: number, end: number, value: Tensor | number): Tensor {
  const ax = normAxis('sliceAssign', axis, base.ndim);
  const region = slice(base.detach(), ax, start, end);
  const out = contiguousCopy(base);
  // the region's start, in the contiguous copy's own strides
  const d = base.shape[ax]!;
  const first = Math.max(0, Math.min(d, start < 0 ? start + d : start));
  const s = first * out.strides[ax]!;
  const dst = new Tensor(out.storage, out.dtype, region.shape, out.strides, s);
  const fill = typeof value === 'number' ? null : value;
  if (fill !== null) {
    if (fill.dtype !== base.dtype) throw new DTypeError(`sliceAssign: value is ${fill.dtype} but base is ${base.dtype}`);
    const v = expand(fill.detach(), region.shape);
    const c = contiguousCopy(v);
    copyStrided(dst, c);
  } else {
    const z = empty(region.shape, base.dtype);
    z.data.fill(value as number);
    copyStrided(dst, z);
  }
  const regionShape = region.shape;
  return record(out, 'sliceAssign', [base, fill], (g) => {
    const gb = base.requiresGrad ? contiguousCopy(g) : null;
    if (gb !== null) {
      const hole = new Tensor(gb.storage, gb.dtype, regionShape, gb.strides, s);
      copyStrided(hole, zeros(regionShape, g.dtype));
    }
    const gv = fill !== null && fill.requiresGrad ? sumTo(contiguousCopy(slice(g, ax, start, end)), fill.shape) : null;
    return [gb, gv];
  });
}

/** dst ← src elementwise (dst a strided view). */
function copyStrided(dst: Tensor, src: Tensor): void {
  walkPair(dst, src, (d, i, v) => (d[i] = v));
}

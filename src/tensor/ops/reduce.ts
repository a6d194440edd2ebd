/**
 * Reductions along an axis (sum, mean, max, argmax, topk) and over everything.
 * Inputs are read as [outer, n, inner] around the reduced axis.
 */
import { ShapeError, fmtShape } from '../errors.js';
import { record } from '../autograd.js';
import { Tensor, empty, zeros, shapeSize, normAxis, type AnyArray } from '../tensor.js';
import { contiguousCopy, scale } from './basic.js';
import { expand, reshape } from './shape.js';

interface Layout {
  ax: number;
  outer: number;
  n: number;
  inner: number;
  src: AnyArray;
  base: number;
  outShape: number[];
  keptShape: number[];
}

function layout(op: string, t: Tensor, axis: number, keepDim: boolean): Layout {
  const ax = normAxis(op, axis, t.ndim);
  const c = t.isContiguous() ? t : contiguousCopy(t);
  const keptShape = [...t.shape];
  keptShape[ax] = 1;
  const outShape = keepDim ? keptShape : t.shape.filter((_, i) => i !== ax);
  return {
    ax,
    outer: shapeSize(t.shape.slice(0, ax)),
    n: t.shape[ax]!,
    inner: shapeSize(t.shape.slice(ax + 1)),
    src: c.data,
    base: c.offset,
    outShape,
    keptShape,
  };
}

/** Sum along an axis, or of every element when axis is omitted. */
export function sum(t: Tensor, axis?: number, keepDim = false): Tensor {
  if (axis === undefined) {
    const flat = reshape(t, [t.size]);
    return sum(flat, 0, keepDim && t.ndim > 0 ? true : false);
  }
  const L = layout('sum', t, axis, keepDim);
  const out = empty(L.outShape, t.dtype, true);
  const o = out.data;
  const { outer, n, inner, src, base } = L;
  for (let a = 0; a < outer; a++) {
    const ob = a * inner;
    for (let k = 0; k < n; k++) {
      const sb = base + (a * n + k) * inner;
      for (let j = 0; j < inner; j++) o[ob + j]! += src[sb + j]!;
    }
  }
  const inShape = t.shape;
  return record(out, 'sum', [t], (g) => [expand(reshape(g, L.keptShape), inShape)]);
}

/** Mean along an axis, or of every element. */
export function mean(t: Tensor, axis?: number, keepDim = false): Tensor {
  const n = axis === undefined ? t.size : t.shape[normAxis('mean', axis, t.ndim)]!;
  if (n === 0) throw new ShapeError(`mean: cannot average over an empty axis of ${fmtShape(t.shape)}`);
  return scale(sum(t, axis, keepDim), 1 / n);
}

function argExtreme(op: string, L: Layout, pick: (a: number, b: number) => boolean): Int32Array {
  const { outer, n, inner, src, base } = L;
  if (n === 0) throw new ShapeError(`${op}: cannot reduce an empty axis`);
  const arg = new Int32Array(outer * inner);
  for (let a = 0; a < outer; a++) {
    for (let j = 0; j < inner; j++) {
      let best = src[base + a * n * inner + j]!;
      let bi = 0;
      for (let k = 1; k < n; k++) {
        const v = src[base + (a * n + k) * inner + j]!;
        if (pick(v, best) || (best !== best && v === v)) {
          best = v;
          bi = k;
        }
      }
      arg[a * inner + j] = bi;
    }
  }
  return arg;
}

function extreme(op: string, t: Tensor, axis: number, keepDim: boolean, pick: (a: number, b: number) => boolean): Tensor {
  const L = layout(op, t, axis, keepDim);
  const arg = argExtreme(op, L, pick);
  const out = empty(L.outShape, t.dtype);
  const o = out.data;
  const { n, inner, src, base } = L;
  for (let i = 0; i < arg.length; i++) {
    const a = Math.floor(i / inner);
    const j = i - a * inner;
    o[i] = src[base + (a * n + arg[i]!) * inner + j]!;
  }
  const inShape = t.shape;
  return record(out, op, [t], (g) => {
    // the gradient goes to the first position holding the extreme value
    const gi = zeros(inShape, g.dtype);
    const gc = g.isContiguous() ? g : contiguousCopy(g);
    const gd = gc.data;
    const id = gi.data;
    for (let i = 0; i < arg.length; i++) {
      const a = Math.floor(i / inner);
      const j = i - a * inner;
      id[(a * n + arg[i]!) * inner + j]! += gd[gc.offset + i]!;
    }
    return [gi];
  });
}

/** Maximum along an axis (the gradient flows to the first maximal entry). */
export function max(t: Tensor, axis: number, keepDim = false): Tensor {
  return extreme('max', t, axis, keepDim, (a, b) => a > b);
}

/** Minimum along an axis. */
export function min(t: Tensor, axis: number, keepDim = false): Tensor {
  return extreme('min', t, axis, keepDim, (a, b) => a < b);
}

/** Index of the maximum along an axis (int32; the first one on ties; not differentiable). */
export function argmax(t: Tensor, axis: number, keepDim = false): Tensor {
  const L = layout('argmax', t, axis, keepDim);
  const arg = argExtreme('argmax', L, (a, b) => a > b);
  const out = empty(L.outShape, 'int32');
  (out.data as Int32Array).set(arg);
  return out;
}

/**
 * The k largest entries along an axis, in descending order (ties by lower
 * index first): values (differentiable) and int32 indices.
 */
export function topk(t: Tensor, k: number, axis = -1): { values: Tensor; indices: Tensor } {
  const L = layout('topk', t, axis, true);
  const { outer, n, inner, src, base, ax } = L;
  if (!Number.isInteger(k) || k < 0 || k > n) throw new ShapeError(`topk: k=${k} must be between 0 and ${n}, the size of axis ${axis} of ${fmtShape(t.shape)}`);
  const shape = [...t.shape];
  shape[ax] = k;
  const values = empty(shape, t.dtype);
  const indices = empty(shape, 'int32');
  const vd = values.data;
  const id = indices.data;
  const order = new Int32Array(n);
  const col = new Float64Array(n);
  for (let a = 0; a < outer; a++) {
    for (let j = 0; j < inner; j++) {
      for (let i = 0; i < n; i++) {
        const v = src[base + (a * n + i) * inner + j]!;
        col[i] = v !== v ? -Infinity : v;
        order[i] = i;
      }
      // partial selection: keep the k best in order[0..k)
      if (k < n && k <= 64) {
        for (let s = 0; s < k; s++) {
          let bi = s;
          for (let i = s + 1; i < n; i++) {
            const oi = order[i]!;
            const ob = order[bi]!;
            if (col[oi]! > col[ob]! || (col[oi] === col[ob] && oi < ob)) bi = i;
          }
          const tmp = order[s]!;
          order[s] = order[bi]!;
          order[bi] = tmp;
        }
      } else {
        const sorted = Array.from(order).sort((x, y) => col[y]! - col[x]! || x - y);
        order.set(sorted);
      }
      for (let s = 0; s < k; s++) {
        const pos = (a * k + s) * inner + j;
        id[pos] = order[s]!;
        vd[pos] = src[base + (a * n + order[s]!) * inner + j]!;
      }
    }
  }
  const inShape = t.shape;
  record(values, 'topk', [t], (g) => {
    const gi = zeros(inShape, g.dtype);
    const gc = g.isContiguous() ? g : contiguousCopy(g);
    const gd = gc.data;
    const out = gi.data;
    for (let a = 0; a < outer; a++) {
      for (let s = 0; s < k; s++) {
        for (let j = 0; j < inner; j++) {
          const pos = (a * k + s) * inner + j;
          out[(a * n + id[pos]!) * inner + j]! += gd[gc.offset + pos]!;
        }
      }
    }
    return [gi];
  });
  return { values, indices };
}

/**
 * Loops that record no gradient: broadcasting, strided loops compiled per op,
 * contiguous copies, gradient accumulation (in place and into a new tensor)
 * and reduction of a broadcast gradient back to an input's shape.
 *
 * This module sits below autograd: backward() needs copies and sums of
 * gradients, and the differentiable ops (basic.ts) need record() from
 * autograd, so these loops import neither.
 *
 * Each elementwise op is compiled once (new Function) from a one-line
 * expression into its own loop, so every op's hot loop is monomorphic and
 * inlined by V8. Adjacent dimensions that are contiguous in every operand are
 * merged first, so a same-shape op is one flat loop and a bias add is two.
 */
import { ShapeError, DTypeError, fmtShape } from '../errors.js';
import { empty, type Tensor, type AnyArray, type DType } from '../tensor.js';
import { erf } from './special.js';
import { vectorKernel, UNARY_OPS, BINARY_OPS } from '../kernels/index.js';

/** Below this many elements the TypeScript loop beats a call into the native kernels. */
const NATIVE_MIN = 1024;

// ---------------------------------------------------------------------------
// broadcasting

export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${op}: shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be broadcast together (dimension ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides of t read as a tensor of shape `to` (0 on broadcast dimensions). */
export function broadcastStrides(t: Tensor, to: readonly number[]): number[] {
  const n = to.length;
  const off = n - t.shape.length;
  const s = new Array<number>(n).fill(0);
  for (let i = 0; i < t.shape.length; i++) s[i + off] = t.shape[i] === 1 ? 0 : t.strides[i]!;
  return s;
}

/** Merge dimensions that are laid out contiguously in every operand (output is contiguous). */
function coalesce(shape: readonly number[], strides: number[][]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d]!;
    if (size === 1) continue;
    const k = outShape.length - 1;
    if (k >= 0) {
      const prevSize = outShape[k]!;
      let mergeable = true;
      for (let j = 0; j < strides.length; j++) {
        if (outStrides[j]![k] !== strides[j]![d]! * size) {
          mergeable = false;
          break;
        }
      }
      if (mergeable) {
        outShape[k] = prevSize * size;
        for (let j = 0; j < strides.length; j++) outStrides[j]![k] = strides[j]![d]!;
        continue;
      }
    }
    outShape.push(size);
    for (let j = 0; j < strides.length; j++) outStrides[j]!.push(strides[j]![d]!);
  }
  return { shape: outShape, strides: outStrides };
}

function contiguousStridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

// ---------------------------------------------------------------------------
// compiled loops

/** A compiled loop, and the native kernel op computing the same function (if any). */
export type UnaryLoop = ((o: AnyArray, a: AnyArray, ao: number, as: number[], shape: number[], p: number) => void) & { native?: number };
export type BinaryLoop = ((o: AnyArray, a: AnyArray, ao: number, as: number[], b: AnyArray, bo: number, bs: number[], shape: number[], p: number) => void) & { native?: number };

const helpers = { erf, tanh: Math.tanh, exp: Math.exp, log: Math.log, sqrt: Math.sqrt, abs: Math.abs, max: Math.max, min: Math.min };
const helperNames = Object.keys(helpers);
const helperValues = Object.values(helpers);

const ODOMETER = (ptrs: string[], strides: string[]) => `
    po += n;
    let d = nd - 2;
    for (; d >= 0; d--) {
      idx[d]++;
      ${ptrs.map((p, i) => `${p} += ${strides[i]}[d];`).join(' ')}
      if (idx[d] < shape[d]) break;
      ${ptrs.map((p, i) => `${p} -= ${strides[i]}[d] * shape[d];`).join(' ')}
      idx[d] = 0;
    }
    if (d < 0) return;`;

/** Compile `o = f(x)` where the expression uses x and the parameter p. */
export function compileUnary(expr: string, native?: number): UnaryLoop {
  const body = `
  const nd = shape.length;
  if (nd === 0) { const x = a[ao]; o[0] = ${expr}; return; }
  const n = shape[nd - 1], sa = as[nd - 1];
  const idx = new Int32Array(nd);
  let pa = ao, po = 0;
  for (;;) {
    if (sa === 1) { for (let j = 0; j < n; j++) { const x = a[pa + j]; o[po + j] = ${expr}; } }
    else { for (let j = 0; j < n; j++) { const x = a[pa + j * sa]; o[po + j] = ${expr}; } }
    ${ODOMETER(['pa'], ['as'])}
  }`;
  const loop = new Function(...helperNames, `"use strict"; return function unary(o, a, ao, as, shape, p) {${body}\n};`)(...helperValues) as UnaryLoop;
  if (native !== undefined) loop.native = native;
  return loop;
}

/** Compile `o = f(x, y)` where the expression uses x, y and the parameter p. */
export function compileBinary(expr: string, native?: number): BinaryLoop {
  const body = `
  const nd = shape.length;
  if (nd === 0) { const x = a[ao], y = b[bo]; o[0] = ${expr}; return; }
  const n = shape[nd - 1], sa = as[nd - 1], sb = bs[nd - 1];
  const idx = new Int32Array(nd);
  let pa = ao, pb = bo, po = 0;
  for (;;) {
    if (sa === 1 && sb === 1) { for (let j = 0; j < n; j++) { const x = a[pa + j], y = b[pb + j]; o[po + j] = ${expr}; } }
    else if (sa === 1 && sb === 0) { const y = b[pb]; for (let j = 0; j < n; j++) { const x = a[pa + j]; o[po + j] = ${expr}; } }
    else if (sa === 0 && sb === 1) { const x = a[pa]; for (let j = 0; j < n; j++) { const y = b[pb + j]; o[po + j] = ${expr}; } }
    else { for (let j = 0; j < n; j++) { const x = a[pa + j * sa], y = b[pb + j * sb]; o[po + j] = ${expr}; } }
    ${ODOMETER(['pa', 'pb'], ['as', 'bs'])}
  }`;
  const loop = new Function(...helperNames, `"use strict"; return function binary(o, a, ao, as, b, bo, bs, shape, p) {${body}\n};`)(...helperValues) as BinaryLoop;
  if (native !== undefined) loop.native = native;
  return loop;
}

/** Run a compiled unary loop: a new contiguous tensor of a's shape. */
export function mapUnary(loop: UnaryLoop, a: Tensor, p = 0, dtype: DType = a.dtype): Tensor {
  const out = empty(a.shape, dtype);
  if (out.size === 0) return out;
  const c = coalesce(a.shape, [[...a.strides]]);
  if (loop.native !== undefined && dtype === 'float32' && a.dtype === 'float32' && out.size >= NATIVE_MIN) {
    const v = vectorKernel();
    if (v !== null && c.shape.length === 1 && c.strides[0]![0] === 1) {
      v.unary(loop.native, out.data as Float32Array, 0, a.data as Float32Array, a.offset, out.size, p);
      return out;
    }
    if (v !== null && v.copy !== undefined && loop.native === UNARY_OPS.copy && c.shape.length <= 4) {
      const d = [1, 1, 1, 1];
      const s = [0, 0, 0, 0];
      const k = 4 - c.shape.length;
      c.shape.forEach((n, i) => {
        d[k + i] = n;
        s[k + i] = c.strides[0]![i]!;
      });
      v.copy(out.data as Float32Array, a.data as Float32Array, a.offset, d[0]!, d[1]!, d[2]!, d[3]!, s[0]!, s[1]!, s[2]!, s[3]!);
      return out;
    }
  }
  loop(out.data, a.data, a.offset, c.strides[0]!, c.shape, p);
  return out;
}

/** Run a compiled binary loop with broadcasting. */
export function mapBinary(op: string, loop: BinaryLoop, a: Tensor, b: Tensor, p = 0): Tensor {
  if (a.dtype !== b.dtype) throw new DTypeError(`${op}: operands have different dtypes (${a.dtype} ${fmtShape(a.shape)} and ${b.dtype} ${fmtShape(b.shape)}); convert one with cast()`);
  const shape = broadcastShapes(op, a.shape, b.shape);
  const out = empty(shape, a.dtype);
  if (out.size === 0) return out;
  const c = coalesce(shape, [broadcastStrides(a, shape), broadcastStrides(b, shape)]);
  if (loop.native !== undefined && a.dtype === 'float32' && out.size >= NATIVE_MIN && nativeBinary(loop.native, out, a, b, c)) return out;
  loop(out.data, a.data, a.offset, c.strides[0]!, b.data, b.offset, c.strides[1]!, c.shape, p);
  return out;
}

/** Same-shape contiguous operands, or a contiguous left operand with a row-broadcast right one. */
function nativeBinary(op: number, out: Tensor, a: Tensor, b: Tensor, c: { shape: number[]; strides: number[][] }): boolean {
  const v = vectorKernel();
  if (v === null) return false;
  const [sa, sb] = c.strides as [number[], number[]];
  const n = out.size;
  let m: number;
  if (c.shape.length === 1 && sa[0] === 1 && sb[0] === 1) m = n;
  else if (c.shape.length === 2 && sa[0] === c.shape[1] && sa[1] === 1 && sb[0] === 0 && sb[1] === 1) m = c.shape[1]!;
  else return false;
  v.binary(op, out.data as Float32Array, out.offset, a.data as Float32Array, a.offset, b.data as Float32Array, b.offset, n, m);
  return true;
}

// ---------------------------------------------------------------------------
// copies, accumulation and broadcast reduction

export const copyLoop = compileUnary('x', UNARY_OPS.copy);
export const addLoop = compileBinary('x + y', BINARY_OPS.add);

/** A contiguous copy (always a new buffer). */
export function contiguousCopy(t: Tensor): Tensor {
  return mapUnary(copyLoop, t);
}

/** A tensor of ones with t's shape and dtype. */
export function onesLike(t: Tensor): Tensor {
  const o = empty(t.shape, t.dtype);
  o.data.fill(1);
  return o;
}

/** acc += g in place (acc contiguous and owned by the caller; same shape). Returns acc. */
export function addInto(acc: Tensor, g: Tensor): Tensor {
  if (!acc.isContiguous() || acc.shape.length !== g.shape.length || acc.shape.some((d, i) => d !== g.shape[i])) {
    throw new ShapeError(`addInto: cannot accumulate ${fmtShape(g.shape)} into ${fmtShape(acc.shape)}`);
  }
  const c = coalesce(acc.shape, [[...contiguousStridesOf(acc.shape)], [...g.strides]]);
  if (acc.dtype === 'float32' && g.dtype === 'float32' && acc.size >= NATIVE_MIN && nativeBinary(BINARY_OPS.add, acc, acc, g, c)) return acc;
  const o = acc.data;
  // loop writes o[po + j] from position 0: use a subarray when acc has an offset
  const dst = acc.offset === 0 ? o : o.subarray(acc.offset, acc.offset + acc.size);
  addLoop(dst, dst, 0, c.strides[0]!, g.data, g.offset, c.strides[1]!, c.shape, 0);
  return acc;
}

/** a + g as a new tensor (no graph). */
export function addNew(a: Tensor, g: Tensor): Tensor {
  return mapBinary('add', addLoop, a, g);
}

/**
 * Sum a gradient of the broadcast shape back to `shape` (the inverse of
 * broadcasting), as every binary op's backward needs.
 */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const out = empty(shape, g.dtype, true);
  const outStrides = new Array<number>(g.shape.length).fill(0);
  const off = g.shape.length - shape.length;
  const cs = contiguousStridesOf(shape);
  for (let i = 0; i < shape.length; i++) outStrides[i + off] = shape[i] === 1 ? 0 : cs[i]!;
  // iterate g in order, accumulating into out at broadcast strides
  const c = coalesce(g.shape, [[...g.strides], outStrides]);
  const nd = c.shape.length;
  const src = g.data;
  const dst = out.data;
  if (nd === 0) {
    dst[0]! += src[g.offset]!;
    return out;
  }
  const gs = c.strides[0]!;
  const os = c.strides[1]!;
  const n = c.shape[nd - 1]!;
  const sg = gs[nd - 1]!;
  const so = os[nd - 1]!;
  const idx = new Int32Array(nd);
  let pg = g.offset;
  let po = 0;
  for (;;) {
    if (so === 0) {
      let s = 0;
      for (let j = 0; j < n; j++) s += src[pg + j * sg]!;
      dst[po]! += s;
    } else {
      for (let j = 0; j < n; j++) dst[po + j * so]! += src[pg + j * sg]!;
    }
    let d = nd - 2;
    for (; d >= 0; d--) {
      idx[d]!++;
      pg += gs[d]!;
      po += os[d]!;
      if (idx[d]! < c.shape[d]!) break;
      pg -= gs[d]! * c.shape[d]!;
      po -= os[d]! * c.shape[d]!;
      idx[d] = 0;
    }
    if (d < 0) break;
  }
  return out;
}

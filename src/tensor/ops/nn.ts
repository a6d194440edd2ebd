/**
 * Neural-network ops with fused forward and backward passes: softmax,
 * logSoftmax, layerNorm, rmsNorm, embedding, crossEntropy, maskedFill and
 * rotary position embedding (both layouts, partial rotary). Sums accumulate in
 * double precision.
 */
import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { record } from '../autograd.js';
import { Tensor, empty, zeros, shapeSize, normAxis, type AnyArray, type FloatArray } from '../tensor.js';
import { broadcastShapes, broadcastStrides, contiguousCopy } from './basic.js';
import { vectorKernel } from '../kernels/index.js';

function floatInput(op: string, t: Tensor): Tensor {
  if (t.dtype === 'int32') throw new DTypeError(`${op}: expected a float tensor, got int32 ${fmtShape(t.shape)}`);
  return t.isContiguous() ? t : contiguousCopy(t);
}

function sameDType(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) throw new DTypeError(`${op}: ${a.dtype} input with ${b.dtype} parameter; convert one with cast()`);
}

// ---------------------------------------------------------------------------
// softmax family

function softmaxCore(op: string, x: Tensor, axis: number, logOut: boolean): Tensor {
  const ax = normAxis(op, axis, x.ndim);
  const c = floatInput(op, x);
  const outer = shapeSize(x.shape.slice(0, ax));
  const n = x.shape[ax]!;
  const inner = shapeSize(x.shape.slice(ax + 1));
  const out = empty(x.shape, x.dtype);
  const s = c.data as FloatArray;
  const o = out.data as FloatArray;
  const base = c.offset;
  const v = !logOut && inner === 1 && x.dtype === 'float32' && c.size >= 1024 ? vectorKernel() : null;
  if (v !== null) v.softmax(o as Float32Array, s as Float32Array, base, outer, n);
  else for (let a = 0; a < outer; a++) {
    for (let j = 0; j < inner; j++) {
      const b0 = a * n * inner + j;
      let m = -Infinity;
      for (let k = 0; k < n; k++) {
        const v = s[base + b0 + k * inner]!;
        if (v > m) m = v;
      }
      let z = 0;
      for (let k = 0; k < n; k++) z += Math.exp(s[base + b0 + k * inner]! - m);
      if (logOut) {
        const lz = m + Math.log(z);
        for (let k = 0; k < n; k++) o[b0 + k * inner] = s[base + b0 + k * inner]! - lz;
      } else {
        const inv = 1 / z;
        for (let k = 0; k < n; k++) o[b0 + k * inner] = Math.exp(s[base + b0 + k * inner]! - m) * inv;
      }
    }
  }
  return record(out, op, [x], (g) => {
    const gc = g.isContiguous() ? g : contiguousCopy(g);
    const gd = gc.data as FloatArray;
    const gi = empty(x.shape, g.dtype);
    const r = gi.data as FloatArray;
    const go = gc.offset;
    for (let a = 0; a < outer; a++) {
      for (let j = 0; j < inner; j++) {
        const b0 = a * n * inner + j;
        if (logOut) {
          // d/dx = g - softmax * Σg
          let sg = 0;
          for (let k = 0; k < n; k++) sg += gd[go + b0 + k * inner]!;
          for (let k = 0; k < n; k++) r[b0 + k * inner] = gd[go + b0 + k * inner]! - Math.exp(o[b0 + k * inner]!) * sg;
        } else {
          // d/dx = y (g - Σ g y)
          let dot = 0;
          for (let k = 0; k < n; k++) dot += gd[go + b0 + k * inner]! * o[b0 + k * inner]!;
          for (let k = 0; k < n; k++) r[b0 + k * inner] = o[b0 + k * inner]! * (gd[go + b0 + k * inner]! - dot);
        }
      }
    }
    return [gi];
  });
}

export function softmax(x: Tensor, axis = -1): Tensor {
  return softmaxCore('softmax', x, axis, false);
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return softmaxCore('logSoftmax', x, axis, true);
}

// ---------------------------------------------------------------------------
// normalisation

function checkParam(op: string, name: string, p: Tensor | null, d: number, x: Tensor): void {
  if (p === null) return;
  if (p.ndim !== 1 || p.shape[0] !== d) {
    throw new ShapeError(`${op}: ${name} has shape ${fmtShape(p.shape)} but the input ${fmtShape(x.shape)} needs [${d}]`);
  }
  sameDType(op, x, p);
}

/** LayerNorm over the last axis: (x − mean)/√(var + eps) · weight + bias. */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const c = floatInput('layerNorm', x);
  const d = x.shape[x.ndim - 1] ?? 1;
  checkParam('layerNorm', 'weight', weight, d, x);
  checkParam('layerNorm', 'bias', bias, d, x);
  const rows = c.size / d;
  const xs = c.data as FloatArray;
  const xo = c.offset;
  const wc = weight === null ? null : floatInput('layerNorm', weight);
  const w = wc === null ? null : (wc.data as FloatArray);
  const wo = wc === null ? 0 : wc.offset;
  const bc = bias === null ? null : floatInput('layerNorm', bias);
  const b = bc === null ? null : (bc.data as FloatArray);
  const bo = bc === null ? 0 : bc.offset;
  const out = empty(x.shape, x.dtype);
  const o = out.data as FloatArray;
  const rstd = new Float64Array(rows);
  const meanv = new Float64Array(rows);
  const v = x.dtype === 'float32' && c.size >= 1024 ? vectorKernel() : null;
  if (v !== null) v.layerNorm(o as Float32Array, xs as Float32Array, xo, rows, d, w as Float32Array | null, wo, b as Float32Array | null, bo, eps, meanv, rstd);
  else for (let r = 0; r < rows; r++) {
    const base = xo + r * d;
    let m = 0;
    for (let j = 0; j < d; j++) m += xs[base + j]!;
    m /= d;
    let v = 0;
    for (let j = 0; j < d; j++) {
      const t = xs[base + j]! - m;
      v += t * t;
    }
    const rs = 1 / Math.sqrt(v / d + eps);
    meanv[r] = m;
    rstd[r] = rs;
    const ob = r * d;
    for (let j = 0; j < d; j++) {
      let y = (xs[base + j]! - m) * rs;
      if (w !== null) y *= w[wo + j]!;
      if (b !== null) y += b[bo + j]!;
      o[ob + j] = y;
    }
  }
  return record(out, 'layerNorm', [x, weight, bias], (g) => {
    const gc = g.isContiguous() ? g : contiguousCopy(g);
    const gd = gc.data as FloatArray;
    const go = gc.offset;
    const gx = x.requiresGrad ? empty(x.shape, x.dtype) : null;
    const gw = weight?.requiresGrad ? zeros([d], x.dtype) : null;
    const gb = bias?.requiresGrad ? zeros([d], x.dtype) : null;
    const gxd = gx?.data as FloatArray | undefined;
    const gwd = gw?.data as FloatArray | undefined;
    const gbd = gb?.data as FloatArray | undefined;
    const vb = x.dtype === 'float32' && c.size >= 1024 ? vectorKernel() : null;
    if (vb !== null) {
      const f32 = (a: FloatArray | undefined) => (a ?? null) as Float32Array | null;
      vb.layerNormBackward(f32(gxd), f32(gwd), f32(gbd), gd as Float32Array, go, xs as Float32Array, xo, rows, d, w as Float32Array | null, wo, meanv, rstd);
      return [gx, gw, gb];
    }
    for (let r = 0; r < rows; r++) {
      const base = xo + r * d;
      const m = meanv[r]!;
      const rs = rstd[r]!;
      let sumG = 0;
      let sumGX = 0;
      for (let j = 0; j < d; j++) {
        const xh = (xs[base + j]! - m) * rs;
        const gy = gd[go + r * d + j]!;
        const gh = w !== null ? gy * w[wo + j]! : gy;
        sumG += gh;
        sumGX += gh * xh;
        if (gwd !== undefined) gwd[j]! += gy * xh;
        if (gbd !== undefined) gbd[j]! += gy;
      }
      if (gxd !== undefined) {
        const mg = sumG / d;
        const mgx = sumGX / d;
        for (let j = 0; j < d; j++) {
          const xh = (xs[base + j]! - m) * rs;
          const gy = gd[go + r * d + j]!;
          const gh = w !== null ? gy * w[wo + j]! : gy;
          gxd[r * d + j] = rs * (gh - mg - xh * mgx);
        }
      }
    }
    return [gx, gw, gb];
  });
}

/**
 * RMSNorm over the last axis: x / √(mean(x²) + eps) · w. With `offset` 1 the
 * scale is (1 + w), as in Gemma.
 */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps = 1e-6, offset = 0): Tensor {
  const c = floatInput('rmsNorm', x);
  const d = x.shape[x.ndim - 1] ?? 1;
  checkParam('rmsNorm', 'weight', weight, d, x);
  const rows = c.size / d;
  const xs = c.data as FloatArray;
  const xo = c.offset;
  const wc = weight === null ? null : floatInput('rmsNorm', weight);
  const w = wc === null ? null : (wc.data as FloatArray);
  const wo = wc === null ? 0 : wc.offset;
  const out = empty(x.shape, x.dtype);
  const o = out.data as FloatArray;
  const rstd = new Float64Array(rows);
  const v = x.dtype === 'float32' && c.size >= 1024 ? vectorKernel() : null;
  if (v !== null) v.rmsNorm(o as Float32Array, xs as Float32Array, xo, rows, d, w as Float32Array | null, wo, eps, offset, rstd);
  else for (let r = 0; r < rows; r++) {
    const base = xo + r * d;
    let ss = 0;
    for (let j = 0; j < d; j++) ss += xs[base + j]! * xs[base + j]!;
    const rs = 1 / Math.sqrt(ss / d + eps);
    rstd[r] = rs;
    const ob = r * d;
    if (w === null) for (let j = 0; j < d; j++) o[ob + j] = xs[base + j]! * rs;
    else for (let j = 0; j < d; j++) o[ob + j] = xs[base + j]! * rs * (offset + w[wo + j]!);
  }
  return record(out, 'rmsNorm', [x, weight], (g) => {
    const gc = g.isContiguous() ? g : contiguousCopy(g);
    const gd = gc.data as FloatArray;
    const go = gc.offset;
    const gx = x.requiresGrad ? empty(x.shape, x.dtype) : null;
    const gw = weight?.requiresGrad ? zeros([d], x.dtype) : null;
    const gxd = gx?.data as FloatArray | undefined;
    const gwd = gw?.data as FloatArray | undefined;
    const vb = x.dtype === 'float32' && c.size >= 1024 ? vectorKernel() : null;
    if (vb !== null) {
      vb.rmsNormBackward((gxd ?? null) as Float32Array | null, (gwd ?? null) as Float32Array | null, gd as Float32Array, go, xs as Float32Array, xo, rows, d, w as Float32Array | null, wo, offset, rstd);
      return [gx, gw];
    }
    for (let r = 0; r < rows; r++) {
      const base = xo + r * d;
      const rs = rstd[r]!;
      let dot = 0;
      for (let j = 0; j < d; j++) {
        const xh = xs[base + j]! * rs;
        const gy = gd[go + r * d + j]!;
        const gh = w !== null ? gy * (offset + w[wo + j]!) : gy;
        dot += gh * xh;
        if (gwd !== undefined) gwd[j]! += gy * xh;
      }
      if (gxd !== undefined) {
        const md = dot / d;
        for (let j = 0; j < d; j++) {
          const xh = xs[base + j]! * rs;
          const gy = gd[go + r * d + j]!;
          const gh = w !== null ? gy * (offset + w[wo + j]!) : gy;
          gxd[r * d + j] = rs * (gh - xh * md);
        }
      }
    }
    return [gx, gw];
  });
}

// ---------------------------------------------------------------------------
// embedding and loss

function intData(op: string, name: string, t: Tensor): { data: Int32Array; offset: number } {
  if (t.dtype !== 'int32') throw new DTypeError(`${op}: ${name} must be an int32 tensor (use ids()), got ${t.dtype} ${fmtShape(t.shape)}`);
  const c = t.isContiguous() ? t : contiguousCopy(t);
  return { data: c.data as Int32Array, offset: c.offset };
}

/** Rows of `weight` [vocab, d] gathered by int32 ids of any shape: [...ids.shape, d]. */
export function embedding(weight: Tensor, idsT: Tensor): Tensor {
  if (weight.ndim !== 2) throw new ShapeError(`embedding: weight must be [vocab, d], got ${fmtShape(weight.shape)}`);
  const wc = floatInput('embedding', weight);
  const [V, D] = weight.shape as [number, number];
  const { data: id, offset: io } = intData('embedding', 'ids', idsT);
  const n = idsT.size;
  for (let i = 0; i < n; i++) {
    const v = id[io + i]!;
    if (!(v >= 0 && v < V)) throw new ShapeError(`embedding: token id ${v} at position ${i} is outside the vocabulary [0, ${V})`);
  }
  const out = empty([...idsT.shape, D], weight.dtype);
  const o = out.data as FloatArray;
  const w = wc.data as FloatArray;
  for (let i = 0; i < n; i++) o.set(w.subarray(wc.offset + id[io + i]! * D, wc.offset + (id[io + i]! + 1) * D), i * D);
  return record(out, 'embedding', [weight], (g) => {
    const gc = g.isContiguous() ? g : contiguousCopy(g);
    const gd = gc.data as FloatArray;
    const gw = zeros([V, D], weight.dtype);
    const r = gw.data as FloatArray;
    for (let i = 0; i < n; i++) {
      const row = id[io + i]! * D;
      const from = gc.offset + i * D;
      for (let j = 0; j < D; j++) r[row + j]! += gd[from + j]!;
    }
    return [gw];
  });
}

/**
 * Mean cross-entropy of logits [..., V] against int32 targets [...]; targets
 * equal to ignoreIndex do not count.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, ignoreIndex = -100): Tensor {
  const V = logits.shape[logits.ndim - 1]!;
  const rowsShape = logits.shape.slice(0, -1);
  if (targets.ndim !== rowsShape.length || targets.shape.some((d, i) => d !== rowsShape[i])) {
    throw new ShapeError(`crossEntropy: targets ${fmtShape(targets.shape)} must have the logits' shape without the last axis, ${fmtShape(rowsShape)} (logits ${fmtShape(logits.shape)})`);
  }
  const c = floatInput('crossEntropy', logits);
  const { data: td, offset: to } = intData('crossEntropy', 'targets', targets);
  const rows = shapeSize(rowsShape);
  const x = c.data as FloatArray;
  const xo = c.offset;
  const lse = new Float64Array(rows);
  let total = 0;
  let count = 0;
  const vk = logits.dtype === 'float32' && c.size >= 1024 ? vectorKernel() : null;
  for (let r = 0; r < rows; r++) {
    const t = td[to + r]!;
    if (t !== ignoreIndex && !(t >= 0 && t < V)) throw new ShapeError(`crossEntropy: target ${t} at row ${r} is outside [0, ${V})`);
  }
  if (vk !== null) vk.logSumExp(lse, x as Float32Array, xo, rows, V);
  for (let r = 0; r < rows; r++) {
    const t = td[to + r]!;
    if (t === ignoreIndex) continue;
    const base = xo + r * V;
    if (vk === null) {
      let m = -Infinity;
      for (let j = 0; j < V; j++) if (x[base + j]! > m) m = x[base + j]!;
      let z = 0;
      for (let j = 0; j < V; j++) z += Math.exp(x[base + j]! - m);
      lse[r] = m + Math.log(z);
    }
    total += lse[r]! - x[base + t]!;
    count++;
  }
  const out = empty([], logits.dtype);
  out.data[0] = count > 0 ? total / count : 0;
  return record(out, 'crossEntropy', [logits], (g) => {
    const gs = g.data[g.offset]! / Math.max(count, 1);
    if (vk !== null) {
      const gl = empty(logits.shape, logits.dtype);
      vk.crossEntropyBackward(gl.data as Float32Array, x as Float32Array, xo, rows, V, lse, td, to, ignoreIndex, gs);
      return [gl];
    }
    const gl = zeros(logits.shape, logits.dtype);
    const r = gl.data as FloatArray;
    for (let row = 0; row < rows; row++) {
      const t = td[to + row]!;
      if (t === ignoreIndex) continue;
      const base = row * V;
      const l = lse[row]!;
      for (let j = 0; j < V; j++) r[base + j] = Math.exp(x[xo + base + j]! - l) * gs;
      r[base + t]! -= gs;
    }
    return [gl];
  });
}

// ---------------------------------------------------------------------------
// masking

/** Where mask (broadcast to x's shape) is non-zero, `value`; elsewhere x. */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  const shape = broadcastShapes('maskedFill', x.shape, mask.shape);
  if (shape.length !== x.ndim || shape.some((d, i) => d !== x.shape[i])) {
    throw new ShapeError(`maskedFill: mask ${fmtShape(mask.shape)} must broadcast to the input's shape ${fmtShape(x.shape)}`);
  }
  const c = floatInput('maskedFill', x);
  const out = empty(x.shape, x.dtype);
  const o = out.data as FloatArray;
  const xs = c.data as FloatArray;
  const md: AnyArray = mask.data;
  const ms = broadcastStrides(mask, shape);
  const keep = new Uint8Array(out.size);
  let i = 0;
  // iterate in row-major order over the output
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  let pm = mask.offset;
  const n = out.size;
  while (i < n) {
    const masked = md[pm]! !== 0;
    o[i] = masked ? value : xs[c.offset + i]!;
    keep[i] = masked ? 0 : 1;
    i++;
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]!++;
      pm += ms[d]!;
      if (idx[d]! < shape[d]!) break;
      pm -= ms[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return record(out, 'maskedFill', [x], (g) => {
    const gc = g.isContiguous() ? g : contiguousCopy(g);
    const gi = empty(x.shape, x.dtype);
    const r = gi.data as FloatArray;
    const gd = gc.data as FloatArray;
    for (let k = 0; k < n; k++) r[k] = keep[k] ? gd[gc.offset + k]! : 0;
    return [gi];
  });
}

// ---------------------------------------------------------------------------
// rotary position embedding

export type RotaryLayout = 'half' | 'interleaved';

/**
 * Rotary position embedding of x [batch, pos, heads, headDim]. cos and sin
 * are [pos, rotaryDim/2] (shared by the batch) or [batch, pos, rotaryDim/2]
 * (per sequence, e.g. left-padded batches). Only the first rotaryDim features
 * of each head rotate (partial rotary); the rest pass through.
 *
 * Layouts: 'half' pairs feature i with i + rotaryDim/2 (Hugging Face's
 * rotate_half); 'interleaved' pairs 2i with 2i+1 (Meta / llama2.c).
 */
export function rotary(x: Tensor, cos: Tensor, sin: Tensor, layout: RotaryLayout = 'half', rotaryDim?: number): Tensor {
  if (x.ndim !== 4) throw new ShapeError(`rotary: input must be [batch, pos, heads, headDim], got ${fmtShape(x.shape)}`);
  const [B, T, H, D] = x.shape as [number, number, number, number];
  const R = rotaryDim ?? D;
  if (R % 2 !== 0 || R > D || R <= 0) throw new ShapeError(`rotary: rotaryDim ${R} must be even and at most headDim ${D}`);
  const half = R / 2;
  const perBatch = cos.ndim === 3;
  const want = perBatch ? [B, T, half] : [T, half];
  for (const [name, t] of [['cos', cos], ['sin', sin]] as const) {
    if (t.ndim !== want.length || t.shape.some((d, i) => d !== want[i])) {
      throw new ShapeError(`rotary: ${name} has shape ${fmtShape(t.shape)}; for input ${fmtShape(x.shape)} and rotaryDim ${R} it must be ${fmtShape([T, half])} or ${fmtShape([B, T, half])}`);
    }
    sameDType('rotary', x, t);
  }
  const xc = floatInput('rotary', x);
  const cc = floatInput('rotary', cos);
  const sc = floatInput('rotary', sin);
  const cd = cc.data as FloatArray;
  const sd = sc.data as FloatArray;
  const apply = (src: FloatArray, so: number, dst: FloatArray, sign: number): void => {
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const tb = (perBatch ? (b * T + t) * half : t * half);
        for (let h = 0; h < H; h++) {
          const base = ((b * T + t) * H + h) * D;
          for (let i = 0; i < half; i++) {
            const co = cd[cc.offset + tb + i]!;
            const si = sign * sd[sc.offset + tb + i]!;
            const i1 = layout === 'half' ? i : 2 * i;
            const i2 = layout === 'half' ? i + half : 2 * i + 1;
            const x1 = src[so + base + i1]!;
            const x2 = src[so + base + i2]!;
            dst[base + i1] = x1 * co - x2 * si;
            dst[base + i2] = x2 * co + x1 * si;
          }
          for (let j = R; j < D; j++) dst[base + j] = src[so + base + j]!;
        }
      }
    }
  };
  const vk = x.dtype === 'float32' && x.size >= 1024 ? vectorKernel() : null;
  const rotate = (src: FloatArray, so: number, dst: FloatArray, sign: number): void => {
    if (vk !== null) {
      vk.rotary(dst as Float32Array, src as Float32Array, so, B, T, H, D, R, cd as Float32Array, cc.offset, sd as Float32Array, sc.offset, perBatch, layout !== 'half', sign);
    } else apply(src, so, dst, sign);
  };
  const out = empty(x.shape, x.dtype);
  rotate(xc.data as FloatArray, xc.offset, out.data as FloatArray, 1);
  return record(out, 'rotary', [x], (g) => {
    const gc = g.isContiguous() ? g : contiguousCopy(g);
    const gi = empty(x.shape, x.dtype);
    // the transpose of a rotation is the rotation by the opposite angle
    rotate(gc.data as FloatArray, gc.offset, gi.data as FloatArray, -1);
    return [gi];
  });
}

// ---------------------------------------------------------------------------
// fused attention softmax

/** Which keys each query may see: causal (with `past` cached positions before the queries), an optional sliding window, and a per-sequence key mask. */
export interface AttentionMaskSpec {
  /** absolute position of query 0 (cached positions before it) */
  past: number;
  /** query at absolute position q sees keys j with q − window < j ≤ q; null = all earlier keys */
  window: number | null;
  /** [batch × keys], 1 for real tokens and 0 for padding; null = no padding */
  keyMask: Int32Array | null;
}

/**
 * softmax(mask(softcap(scale · scores))) over the last axis of scores
 * [batch, heads, queries, keys], in one pass that never computes masked
 * entries. A query with no visible key gets a uniform row, as the unfused
 * computation with a finite mask value does. Differentiable in scores.
 */
export function attentionSoftmax(scores: Tensor, scaleBy: number, softcap: number | null, mask: AttentionMaskSpec): Tensor {
  if (scores.ndim !== 4) throw new ShapeError(`attentionSoftmax: scores must be [batch, heads, queries, keys], got ${fmtShape(scores.shape)}`);
  const c = floatInput('attentionSoftmax', scores);
  const [B, H, Q, K] = scores.shape as [number, number, number, number];
  if (mask.keyMask !== null && mask.keyMask.length !== B * K) throw new ShapeError(`attentionSoftmax: keyMask has ${mask.keyMask.length} entries, expected ${B}×${K}`);
  const x = c.data as FloatArray;
  const xo = c.offset;
  const out = empty(scores.shape, scores.dtype);
  const o = out.data as FloatArray;
  const { past, window, keyMask } = mask;
  const lo = new Int32Array(Q);
  const hi = new Int32Array(Q);
  for (let i = 0; i < Q; i++) {
    hi[i] = Math.min(K - 1, past + i);
    lo[i] = window === null ? 0 : Math.max(0, past + i - window + 1);
  }
  const capInv = softcap === null ? 0 : 1 / softcap;
  const dead = new Int32Array(B * H * Q);
  const vk = scores.dtype === 'float32' ? vectorKernel() : null;
  if (vk !== null) vk.attentionSoftmax(o as Float32Array, x as Float32Array, xo, B, H, Q, K, scaleBy, softcap ?? 0, past, window ?? -1, keyMask, dead);
  else for (let b = 0; b < B; b++) {
    const km = keyMask === null ? -1 : b * K;
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Q; i++) {
        const row = ((b * H + h) * Q + i) * K;
        const l = lo[i]!;
        const u = hi[i]!;
        let m = -Infinity;
        for (let j = l; j <= u; j++) {
          if (km >= 0 && keyMask![km + j] === 0) continue;
          let s = x[xo + row + j]! * scaleBy;
          if (softcap !== null) s = softcap * Math.tanh(s * capInv);
          o[row + j] = s;
          if (s > m) m = s;
        }
        if (m === -Infinity) {
          o.fill(1 / K, row, row + K);
          dead[(b * H + h) * Q + i] = 1;
          continue;
        }
        let z = 0;
        for (let j = 0; j < K; j++) {
          if (j < l || j > u || (km >= 0 && keyMask![km + j] === 0)) {
            o[row + j] = 0;
            continue;
          }
          const e = Math.exp(o[row + j]! - m);
          o[row + j] = e;
          z += e;
        }
        const inv = 1 / z;
        for (let j = l; j <= u; j++) o[row + j]! *= inv;
      }
    }
  }
  return record(out, 'attentionSoftmax', [scores], (g) => {
    const gc = g.isContiguous() ? g : contiguousCopy(g);
    const gd = gc.data as FloatArray;
    const go = gc.offset;
    const gi = empty(scores.shape, scores.dtype);
    const r = gi.data as FloatArray;
    const rows = B * H * Q;
    if (vk !== null) {
      vk.attentionSoftmaxBackward(r as Float32Array, gd as Float32Array, go, o as Float32Array, x as Float32Array, xo, rows, K, scaleBy, softcap ?? 0, dead);
      return [gi];
    }
    for (let rr = 0; rr < rows; rr++) {
      const row = rr * K;
      if (dead[rr] === 1) {
        r.fill(0, row, row + K);
        continue;
      }
      let dot = 0;
      for (let j = 0; j < K; j++) dot += gd[go + row + j]! * o[row + j]!;
      for (let j = 0; j < K; j++) {
        const p = o[row + j]!;
        let d = p * (gd[go + row + j]! - dot);
        if (p !== 0 && softcap !== null) {
          const t = Math.tanh(x[xo + row + j]! * scaleBy * capInv);
          d *= 1 - t * t;
        }
        r[row + j] = d * scaleBy;
      }
    }
    return [gi];
  });
}

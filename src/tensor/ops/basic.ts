/**
 * Differentiable elementwise ops: unary and binary ops with their gradients,
 * run through the compiled loops of loops.ts.
 */
import { DTypeError, fmtShape } from '../errors.js';
import { record } from '../autograd.js';
import { Tensor, empty, shapeSize, type DType } from '../tensor.js';
import { UNARY_OPS, BINARY_OPS } from '../kernels/index.js';
import { addLoop, compileBinary, compileUnary, copyLoop, mapBinary, mapUnary, sumTo, type BinaryLoop, type UnaryLoop } from './loops.js';

export {
  broadcastShapes,
  broadcastStrides,
  compileUnary,
  compileBinary,
  mapUnary,
  mapBinary,
  contiguousCopy,
  onesLike,
  addInto,
  addNew,
  sumTo,
} from './loops.js';

// ---------------------------------------------------------------------------
// differentiable elementwise ops

function requireFloat(op: string, t: Tensor): void {
  if (t.dtype === 'int32') throw new DTypeError(`${op}: expected a float tensor, got int32 ${fmtShape(t.shape)}; convert it with cast(t, 'float32')`);
}

const L = {
  sub: compileBinary('x - y', BINARY_OPS.sub),
  mul: compileBinary('x * y', BINARY_OPS.mul),
  div: compileBinary('x / y', BINARY_OPS.div),
  neg: compileUnary('-x', UNARY_OPS.neg),
  scale: compileUnary('x * p', UNARY_OPS.scale),
  addScalar: compileUnary('x + p', UNARY_OPS.addScalar),
  exp: compileUnary('exp(x)', UNARY_OPS.exp),
  log: compileUnary('log(x)', UNARY_OPS.log),
  tanh: compileUnary('tanh(x)', UNARY_OPS.tanh),
  sqrt: compileUnary('sqrt(x)', UNARY_OPS.sqrt),
  rsqrt: compileUnary('1 / sqrt(x)', UNARY_OPS.rsqrt),
  square: compileUnary('x * x', UNARY_OPS.square),
  abs: compileUnary('abs(x)', UNARY_OPS.abs),
  pow: compileUnary('x ** p'),
  sigmoid: compileUnary('1 / (1 + exp(-x))', UNARY_OPS.sigmoid),
  relu: compileUnary('x > 0 ? x : 0', UNARY_OPS.relu),
  silu: compileUnary('x / (1 + exp(-x))', UNARY_OPS.silu),
  geluExact: compileUnary('0.5 * x * (1 + erf(x * 0.7071067811865476))', UNARY_OPS.geluExact),
  geluTanh: compileUnary('0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))', UNARY_OPS.geluTanh),
  // backward kernels: x = the op's input (or output, as noted), y = incoming gradient
  gDivB: compileBinary('-x * y'), // x = out/b ... see div
  gLog: compileBinary('y / x'),
  gTanh: compileBinary('y * (1 - x * x)', BINARY_OPS.gTanh), // x = output
  gSqrt: compileBinary('y * 0.5 / x'), // x = output
  gRsqrt: compileBinary('y * -0.5 * x * x * x'), // x = output
  gAbs: compileBinary('x > 0 ? y : x < 0 ? -y : 0'),
  gPow: compileBinary('y * p * x ** (p - 1)'),
  gSigmoid: compileBinary('y * x * (1 - x)', BINARY_OPS.gSigmoid), // x = output
  gRelu: compileBinary('x > 0 ? y : 0'),
  gSilu: compileBinary('y * (1 / (1 + exp(-x))) * (1 + x * (1 - 1 / (1 + exp(-x))))', BINARY_OPS.gSilu),
  gGeluExact: compileBinary('y * (0.5 * (1 + erf(x * 0.7071067811865476)) + x * 0.3989422804014327 * exp(-0.5 * x * x))', BINARY_OPS.gGeluExact),
  gGeluTanh: compileBinary(
    'y * (0.5 * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))) + 0.5 * x * (1 - tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)) ** 2) * 0.7978845608028654 * (1 + 0.134145 * x * x))',
    BINARY_OPS.gGeluTanh,
  ),
};

type Operand = Tensor | number;

function asTensorLike(op: string, v: Operand, like: Tensor): Tensor {
  if (typeof v === 'number') {
    const t = empty([], like.dtype);
    t.data[0] = v;
    return t;
  }
  return v;
}

export function add(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number' && a instanceof Tensor) return addScalar(a, b);
  if (typeof a === 'number' && b instanceof Tensor) return addScalar(b, a);
  const ta = a as Tensor;
  const tb = b as Tensor;
  const out = mapBinary('add', addLoop, ta, tb);
  return record(out, 'add', [ta, tb], (g) => [ta.requiresGrad ? sumTo(g, ta.shape) : null, tb.requiresGrad ? sumTo(g, tb.shape) : null]);
}

export function sub(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number' && a instanceof Tensor) return addScalar(a, -b);
  if (typeof a === 'number' && b instanceof Tensor) return addScalar(neg(b), a);
  const ta = a as Tensor;
  const tb = b as Tensor;
  const out = mapBinary('sub', L.sub, ta, tb);
  return record(out, 'sub', [ta, tb], (g) => [
    ta.requiresGrad ? sumTo(g, ta.shape) : null,
    tb.requiresGrad ? sumTo(mapUnary(L.neg, g), tb.shape) : null,
  ]);
}

export function mul(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number' && a instanceof Tensor) return scale(a, b);
  if (typeof a === 'number' && b instanceof Tensor) return scale(b, a);
  const ta = a as Tensor;
  const tb = b as Tensor;
  const out = mapBinary('mul', L.mul, ta, tb);
  return record(out, 'mul', [ta, tb], (g) => [
    ta.requiresGrad ? sumTo(mapBinary('mul', L.mul, g, tb), ta.shape) : null,
    tb.requiresGrad ? sumTo(mapBinary('mul', L.mul, g, ta), tb.shape) : null,
  ]);
}

export function div(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number' && a instanceof Tensor) return scale(a, 1 / b);
  const ta = asTensorLike('div', a, b as Tensor);
  const tb = b as Tensor;
  const out = mapBinary('div', L.div, ta, tb);
  return record(out, 'div', [ta, tb], (g) => [
    ta.requiresGrad ? sumTo(mapBinary('div', L.div, g, tb), ta.shape) : null,
    // d(a/b)/db = -(a/b)/b = -out/b
    tb.requiresGrad ? sumTo(mapBinary('div', L.gDivB, mapBinary('div', L.div, out, tb), g), tb.shape) : null,
  ]);
}

export function scale(a: Tensor, c: number): Tensor {
  requireFloat('scale', a);
  const out = mapUnary(L.scale, a, c);
  return record(out, 'scale', [a], (g) => [mapUnary(L.scale, g, c)]);
}

export function addScalar(a: Tensor, c: number): Tensor {
  requireFloat('addScalar', a);
  const out = mapUnary(L.addScalar, a, c);
  return record(out, 'addScalar', [a], (g) => [g]);
}

export function neg(a: Tensor): Tensor {
  requireFloat('neg', a);
  const out = mapUnary(L.neg, a);
  return record(out, 'neg', [a], (g) => [mapUnary(L.neg, g)]);
}

function unaryOp(name: string, fwd: UnaryLoop, bwd: BinaryLoop, useOutput: boolean, a: Tensor, p = 0): Tensor {
  requireFloat(name, a);
  const out = mapUnary(fwd, a, p);
  return record(out, name, [a], (g) => [mapBinary(name, bwd, useOutput ? out : a, g, p)]);
}

export const exp = (a: Tensor): Tensor => unaryOp('exp', L.exp, L.mul, true, a);
export const log = (a: Tensor): Tensor => unaryOp('log', L.log, L.gLog, false, a);
export const tanh = (a: Tensor): Tensor => unaryOp('tanh', L.tanh, L.gTanh, true, a);
export const sqrt = (a: Tensor): Tensor => unaryOp('sqrt', L.sqrt, L.gSqrt, true, a);
export const rsqrt = (a: Tensor): Tensor => unaryOp('rsqrt', L.rsqrt, L.gRsqrt, true, a);
export const abs = (a: Tensor): Tensor => unaryOp('abs', L.abs, L.gAbs, false, a);
export const sigmoid = (a: Tensor): Tensor => unaryOp('sigmoid', L.sigmoid, L.gSigmoid, true, a);
export const relu = (a: Tensor): Tensor => unaryOp('relu', L.relu, L.gRelu, false, a);
export const silu = (a: Tensor): Tensor => unaryOp('silu', L.silu, L.gSilu, false, a);
export const pow = (a: Tensor, p: number): Tensor => unaryOp('pow', L.pow, L.gPow, false, a, p);
export function square(a: Tensor): Tensor {
  requireFloat('square', a);
  const out = mapUnary(L.square, a);
  return record(out, 'square', [a], (g) => [mapBinary('square', L.mul, g, mapUnary(L.scale, a, 2))]);
}

/** GELU: 'exact' = x·Φ(x) with erf (gelu in PyTorch); 'tanh' = the tanh approximation (gelu_new, gelu_pytorch_tanh). */
export function gelu(a: Tensor, approximate: 'exact' | 'tanh' = 'exact'): Tensor {
  return approximate === 'exact' ? unaryOp('gelu', L.geluExact, L.gGeluExact, false, a) : unaryOp('gelu_tanh', L.geluTanh, L.gGeluTanh, false, a);
}

/** Cast to another dtype (float↔float keeps gradients; to int32 truncates toward zero). */
export function cast(a: Tensor, dtype: DType): Tensor {
  if (a.dtype === dtype) return a;
  const out = mapUnary(dtype === 'int32' ? compiledTrunc : copyLoop, a, 0, dtype);
  if (dtype === 'int32' || a.dtype === 'int32') return out;
  return record(out, 'cast', [a], (g) => [cast(g, a.dtype)]);
}
const compiledTrunc = compileUnary('x < 0 ? Math.ceil(x) : Math.floor(x)');

export function numel(shape: readonly number[]): number {
  return shapeSize(shape);
}

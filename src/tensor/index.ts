/** candor's tensor core: tensors, ops, autograd, kernels and training utilities. */
export * from './errors.js';
export { Tensor, tensor, ids, empty, zeros, ones, full, scalar, arange, keep, shapeSize, contiguousStrides } from './tensor.js';
export type { DType, AnyArray, FloatArray, GradNode } from './tensor.js';
export { scope, stepScope, poolStats, clearPool } from './pool.js';
export { backward, grad, noGrad, enableGrad, isGradEnabled } from './autograd.js';
export {
  add, sub, mul, div, scale, addScalar, neg, exp, log, tanh, sqrt, rsqrt, abs, sigmoid, relu, silu, pow, square, gelu, cast,
  broadcastShapes, sumTo, contiguousCopy,
} from './ops/basic.js';
export { contiguous, reshape, flatten, permute, transpose, slice, select, unsqueeze, squeeze, expand, concat, stack, indexSelect, sliceAssign } from './ops/shape.js';
export { sum, mean, max, min, argmax, topk } from './ops/reduce.js';
export { softmax, logSoftmax, layerNorm, rmsNorm, embedding, crossEntropy, maskedFill, rotary, attentionSoftmax } from './ops/nn.js';
export type { AttentionMaskSpec } from './ops/nn.js';
export type { RotaryLayout } from './ops/nn.js';
export { matmul, linear } from './ops/matmul.js';
export { erf } from './ops/special.js';
export { Rng, randn, rand } from './random.js';
export { AdamW, clipGradNorm, clipScale, cosineLr, gradNorm, OptimizerError } from './optim.js';
export type { AdamWOptions, AdamWState, CosineSchedule } from './optim.js';
export { kernel, setKernel, kernelStatus, KernelUnavailableError } from './kernels/index.js';
export type { GemmKernel, KernelName, KernelStatus } from './kernels/index.js';

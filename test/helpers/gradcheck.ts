/**
 * Gradient checking against central finite differences, in float64.
 *
 * The scalar checked is Σ f(inputs) ⊙ R for a fixed random R, so every output
 * element contributes with a different weight.
 */
import assert from 'node:assert/strict';
import { Tensor, tensor, grad, noGrad, mul, sum, Rng, type FloatArray } from '../../src/tensor/index.js';

export function randT(rng: Rng, shape: number[], opts: { scale?: number; positive?: boolean; awayFromZero?: number } = {}): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v = rng.normal() * (opts.scale ?? 1);
    if (opts.positive) v = Math.abs(v) + 0.2;
    if (opts.awayFromZero !== undefined && Math.abs(v) < opts.awayFromZero) v = v < 0 ? v - opts.awayFromZero : v + opts.awayFromZero;
    d[i] = v;
  }
  return tensor(d, shape);
}

export interface CheckResult {
  maxRelErr: number;
  maxAbsErr: number;
}

/** Largest relative error between analytic and numeric gradients of each input. */
export function gradcheck(
  f: (xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  opts: { eps?: number; seed?: number; floor?: number } = {},
): CheckResult {
  const eps = opts.eps ?? 1e-6;
  const floor = opts.floor ?? 1e-2;
  const rng = new Rng(opts.seed ?? 123);
  for (const x of inputs) x.requireGrad();
  const out0 = f(inputs);
  const R = randT(rng, [...out0.shape]);
  const loss = (xs: Tensor[]): Tensor => sum(mul(f(xs), R));
  const l = loss(inputs);
  const analytic = grad(l, inputs);
  let maxRelErr = 0;
  let maxAbsErr = 0;
  inputs.forEach((x, k) => {
    const data = x.data as FloatArray;
    const a = analytic[k]!.toArray();
    for (let i = 0; i < x.size; i++) {
      const orig = data[x.offset + i]!;
      data[x.offset + i] = orig + eps;
      const lp = noGrad(() => loss(inputs).item());
      data[x.offset + i] = orig - eps;
      const lm = noGrad(() => loss(inputs).item());
      data[x.offset + i] = orig;
      const num = (lp - lm) / (2 * eps);
      const err = Math.abs(a[i]! - num);
      maxAbsErr = Math.max(maxAbsErr, err);
      maxRelErr = Math.max(maxRelErr, err / Math.max(Math.abs(a[i]!) + Math.abs(num), floor));
    }
  });
  return { maxRelErr, maxAbsErr };
}

export function assertGrad(name: string, f: (xs: Tensor[]) => Tensor, inputs: Tensor[], tol = 1e-6): void {
  const r = gradcheck(f, inputs);
  assert.ok(r.maxRelErr <= tol, `${name}: gradient relative error ${r.maxRelErr.toExponential(2)} > ${tol} (abs ${r.maxAbsErr.toExponential(2)})`);
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0, what = 'values'): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      assert.fail(`${what}[${i}]: ${a} vs expected ${e} (|diff| ${Math.abs(a - e).toExponential(2)} > ${atol} + ${rtol}·|e|)`);
    }
  }
}

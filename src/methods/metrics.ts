/**
 * Behaviour metrics read from a run's logits at one position: a logit
 * difference, a token's probability, the KL divergence from a reference run,
 * or any user function. Each has a plain form (numbers, for patched runs) and
 * a differentiable form (for attribution patching).
 */
import { CandorError } from '../tensor/errors.js';
import { Tensor, tensor } from '../tensor/tensor.js';
import { logSoftmax } from '../tensor/ops/nn.js';
import { exp, mul, sub } from '../tensor/ops/basic.js';
import { select } from '../tensor/ops/shape.js';
import { sum } from '../tensor/ops/reduce.js';

export class MetricError extends CandorError {
  override name = 'MetricError';
}

export type MetricSpec =
  /** logit[a] − logit[b] */
  | { kind: 'logit_diff'; a: number; b: number; position?: number }
  /** softmax probability of a token */
  | { kind: 'prob'; token: number; position?: number }
  /** −KL(P_reference ‖ P_run): 0 for the reference (source) run, lower elsewhere */
  | { kind: 'kl'; position?: number }
  /** any function of the logits row at the position (a differentiable form enables attribution patching) */
  | { kind: 'custom'; name: string; fn: (logits: Float32Array) => number; tensorFn?: (logits: Tensor) => Tensor; position?: number };

export function metricName(m: MetricSpec): string {
  switch (m.kind) {
    case 'logit_diff':
      return `logit[${m.a}] − logit[${m.b}]`;
    case 'prob':
      return `P(${m.token})`;
    case 'kl':
      return '−KL(source ‖ run)';
    case 'custom':
      return m.name;
  }
}

/** Resolve a (possibly negative) position against a sequence length. */
export function metricPosition(m: MetricSpec, T: number): number {
  const p = m.position ?? -1;
  const q = p < 0 ? p + T : p;
  if (!(Number.isInteger(q) && q >= 0 && q < T)) throw new MetricError(`metric position ${p} is outside the ${T} positions of the prompt`);
  return q;
}

function checkToken(t: number, V: number, field: string): void {
  if (!(Number.isInteger(t) && t >= 0 && t < V)) throw new MetricError(`metric field '${field}' = ${t} is not a token id in [0, ${V})`);
}

/** Validate a metric against the vocabulary size. */
export function checkMetric(m: MetricSpec, V: number): void {
  if (m.kind === 'logit_diff') {
    checkToken(m.a, V, 'a');
    checkToken(m.b, V, 'b');
  } else if (m.kind === 'prob') checkToken(m.token, V, 'token');
}

/** Log-probabilities of a logits row (double precision). */
export function logProbs(row: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > m) m = row[i]!;
  let z = 0;
  for (let i = 0; i < row.length; i++) z += Math.exp(row[i]! - m);
  const lz = m + Math.log(z);
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = row[i]! - lz;
  return out;
}

/** The metric of one logits row; `reference` = the source run's log-probabilities (for 'kl'). */
export function evalMetric(m: MetricSpec, row: Float32Array, reference: Float64Array | null): number {
  switch (m.kind) {
    case 'logit_diff':
      return row[m.a]! - row[m.b]!;
    case 'prob':
      return Math.exp(logProbs(row)[m.token]!);
    case 'kl': {
      if (reference === null) throw new MetricError("the 'kl' metric needs a reference (source) distribution");
      const lp = logProbs(row);
      let kl = 0;
      for (let i = 0; i < row.length; i++) {
        const r = reference[i]!;
        if (r > -Infinity) kl += Math.exp(r) * (r - lp[i]!);
      }
      return -kl;
    }
    case 'custom':
      return m.fn(row);
  }
}

/**
 * The metric as a differentiable scalar of logits [1, T, V] (a single run),
 * for gradients. `reference` as in evalMetric.
 */
export function metricTensor(m: MetricSpec, logits: Tensor, reference: Float64Array | null): Tensor {
  const T = logits.shape[1]!;
  const row = select(select(logits, 0, 0), 0, metricPosition(m, T)); // [V]
  switch (m.kind) {
    case 'logit_diff':
      return sub(select(row, 0, m.a), select(row, 0, m.b));
    case 'prob':
      return exp(select(logSoftmax(row), 0, m.token));
    case 'kl': {
      if (reference === null) throw new MetricError("the 'kl' metric needs a reference (source) distribution");
      const p = new Float32Array(reference.length);
      for (let i = 0; i < p.length; i++) p[i] = Math.exp(reference[i]!);
      // −KL = Σ p log q − Σ p log p; the second term is constant
      let ent = 0;
      for (let i = 0; i < p.length; i++) if (p[i]! > 0) ent += p[i]! * reference[i]!;
      const cross = sum(mul(tensor(p, [p.length]), logSoftmax(row)));
      return sub(cross, ent);
    }
    case 'custom':
      if (m.tensorFn === undefined) throw new MetricError(`custom metric '${m.name}' has no differentiable form (tensorFn); attribution patching needs one`);
      return m.tensorFn(row);
  }
}

/**
 * The statistics every method and the audit share, in one place: means,
 * cosine, AUROC, k-fold splits, and the intervals every reported figure
 * carries — Wilson intervals for rates, percentile bootstrap intervals for
 * anything else (AUROC included), and selection frequency over resamples for
 * rankings. An estimate is { value, lo, hi, n }.
 */
import { CandorError } from '../tensor/errors.js';
import { Rng } from '../tensor/random.js';

export class StatisticsError extends CandorError {
  override name = 'StatisticsError';
}

/** A figure with its 95% interval and the number of observations behind it. */
export interface Estimate {
  value: number;
  lo: number;
  hi: number;
  n: number;
}

/** the confidence of every interval: 95% */
export const CONFIDENCE = 0.95;
/** the normal quantile of a two-sided 95% interval */
const Z95 = 1.959963984540054;
/** bootstrap resamples unless a caller asks for another count */
export const BOOTSTRAP_RESAMPLES = 1000;

export function mean(v: ArrayLike<number>): number {
  if (v.length === 0) throw new StatisticsError('mean: no values');
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]!;
  return s / v.length;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new StatisticsError(`cosine: vectors of ${a.length} and ${b.length} entries`);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

/**
 * Check 0/1 labels (one per example) and count each class; `needBoth` refuses a
 * single class. Errors are StatisticsErrors unless the caller names its own class.
 */
export function checkLabels(y: ArrayLike<number>, n: number, where: string, needBoth = true, ErrorClass: new (message: string) => Error = StatisticsError): { n1: number; n0: number } {
  if (y.length !== n) throw new ErrorClass(`${where}: ${y.length} labels for ${n} examples; give one label (0 or 1) per example`);
  let n1 = 0;
  for (let i = 0; i < n; i++) {
    const v = y[i];
    if (v === 1) n1++;
    else if (v !== 0) throw new ErrorClass(`${where}: label ${i} is ${v}; labels must be 0 or 1`);
  }
  const n0 = n - n1;
  if (needBoth && (n1 === 0 || n0 === 0)) throw new ErrorClass(`${where}: all ${n} labels are ${n1 === 0 ? 0 : 1}; it needs examples of both classes`);
  return { n1, n0 };
}

/**
 * Area under the ROC curve, exactly: the Mann–Whitney statistic with tied
 * scores at their average rank (a tie between a positive and a negative
 * counts ½).
 */
export function auroc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  const { n1, n0 } = checkLabels(labels, n, 'auroc');
  for (let i = 0; i < n; i++) if (Number.isNaN(scores[i])) throw new StatisticsError(`auroc: score ${i} is NaN`);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]! || 0);
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[order[k]!] === 1) rankSum += avg;
    i = j + 1;
  }
  return (rankSum - (n1 * (n1 + 1)) / 2) / (n1 * n0);
}

/** AUROC of sample a (positives) against sample b: P(a > b) + ½P(a = b). */
export function aurocOf(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const scores = [...Array.from(a), ...Array.from(b)];
  return auroc(scores, scores.map((_, i) => (i < a.length ? 1 : 0)));
}

/**
 * Wilson score interval of a rate k/n (95%): unlike k/n ± 1.96·se it stays
 * inside [0, 1] and is not empty at 0 or n successes.
 */
export function wilson(k: number, n: number): Estimate {
  if (!(Number.isInteger(n) && n >= 1)) throw new StatisticsError(`wilson: ${n} observations; a rate needs at least one`);
  if (!(Number.isInteger(k) && k >= 0 && k <= n)) throw new StatisticsError(`wilson: ${k} successes out of ${n}`);
  const p = k / n;
  const z2 = Z95 * Z95;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (Z95 / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { value: p, lo: Math.max(0, centre - half), hi: Math.min(1, centre + half), n };
}

/** The share of true values with its Wilson interval; n = 0 gives NaN bounds (no cases), never a number. */
export function rateOf(xs: readonly boolean[]): Estimate {
  if (xs.length === 0) return { value: NaN, lo: NaN, hi: NaN, n: 0 };
  return wilson(xs.filter(Boolean).length, xs.length);
}

/**
 * Where an estimate stands against a bound: 'above' when its whole interval is at or above it, 'below' when
 * the whole interval is below it, 'unsettled' when the interval crosses it (or there is no estimate). An
 * answer that cites the bound says "not established" for 'unsettled'.
 */
export function against(e: Estimate, bound: number): 'above' | 'below' | 'unsettled' {
  if (!(Number.isFinite(e.lo) && Number.isFinite(e.hi))) return 'unsettled';
  if (e.lo >= bound) return 'above';
  if (e.hi < bound) return 'below';
  return 'unsettled';
}

/** The q-quantile of sorted values (linear interpolation between order statistics). */
function quantileSorted(s: Float64Array, q: number): number {
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export interface BootstrapOptions {
  resamples?: number;
  seed?: number;
  /** resample within each stratum (class) separately, keeping the class sizes: for AUROC */
  strata?: ArrayLike<number>;
}

/**
 * Percentile bootstrap (95%) of a statistic of n observations: `stat` gets the
 * indices of a resample (drawn with replacement) and returns the statistic.
 * value is the statistic on the observations themselves.
 */
export function bootstrap(n: number, stat: (idx: readonly number[]) => number, opts: BootstrapOptions = {}): Estimate {
  if (!(Number.isInteger(n) && n >= 1)) throw new StatisticsError(`bootstrap: ${n} observations; it needs at least one`);
  const B = opts.resamples ?? BOOTSTRAP_RESAMPLES;
  if (!(Number.isInteger(B) && B >= 20)) throw new StatisticsError(`bootstrap: ${B} resamples; use at least 20`);
  const rng = new Rng(opts.seed ?? 0);
  const all = Array.from({ length: n }, (_, i) => i);
  const groups: number[][] = [];
  if (opts.strata === undefined) groups.push(all);
  else {
    const by = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const g = by.get(opts.strata[i]!) ?? [];
      g.push(i);
      by.set(opts.strata[i]!, g);
    }
    groups.push(...by.values());
  }
  const values = new Float64Array(B);
  const idx: number[] = new Array<number>(n);
  for (let b = 0; b < B; b++) {
    let k = 0;
    for (const g of groups) for (let j = 0; j < g.length; j++) idx[k++] = g[rng.int(g.length)]!;
    values[b] = stat(idx);
  }
  const finite = values.filter((v) => Number.isFinite(v)).sort();
  if (finite.length < B / 2) throw new StatisticsError(`bootstrap: the statistic was not finite on ${B - finite.length} of ${B} resamples`);
  const alpha = (1 - CONFIDENCE) / 2;
  return { value: stat(all), lo: quantileSorted(finite, alpha), hi: quantileSorted(finite, 1 - alpha), n };
}

/** AUROC with a stratified percentile bootstrap interval (class sizes kept in every resample). */
export function aurocEstimate(scores: ArrayLike<number>, labels: ArrayLike<number>, opts: Omit<BootstrapOptions, 'strata'> = {}): Estimate {
  checkLabels(labels, scores.length, 'aurocEstimate');
  return bootstrap(scores.length, (idx) => auroc(idx.map((i) => scores[i]!), idx.map((i) => labels[i]!)), { ...opts, strata: labels });
}

/** The mean with a percentile bootstrap interval. */
export function meanEstimate(v: ArrayLike<number>, opts: BootstrapOptions = {}): Estimate {
  return bootstrap(v.length, (idx) => idx.reduce((a, i) => a + v[i]!, 0) / idx.length, opts);
}

/**
 * How often each item is selected when the selection is rerun on bootstrap
 * resamples of the n observations: select(idx) returns the chosen items' keys.
 * A ranking's stability: 1 for items chosen every time.
 */
export function selectionFrequency<K>(n: number, select: (idx: readonly number[]) => Iterable<K>, opts: Omit<BootstrapOptions, 'strata'> = {}): Map<K, number> {
  const B = opts.resamples ?? 100;
  const rng = new Rng(opts.seed ?? 0);
  const counts = new Map<K, number>();
  const idx = new Array<number>(n);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < n; j++) idx[j] = rng.int(n);
    for (const key of new Set(select(idx))) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return new Map([...counts].map(([k, c]) => [k, c / B]));
}

/**
 * k folds of 0 … n−1: a partition into k test sets of sizes differing by at
 * most one, shuffled by `seed`. With labels, stratified: each class is
 * shuffled and dealt round the folds in turn, so every fold has ⌊n_c/k⌋ or
 * ⌈n_c/k⌉ of class c. Each fold's indices are sorted.
 *
 * With `groups` (one key per example), the examples of a group always share a
 * fold: paired prompts about one fact ("X is A" true, "X is B" false) must
 * not be split, or a probe that recognises the fact scores the held-out twin
 * with the wrong label and the out-of-fold AUROC falls far below 0.5. Groups
 * are shuffled, ordered by their share of label 1 (stratification, as far as
 * whole groups allow) and each is given to the fold with the fewest examples.
 */
export function kfold(n: number, k: number, seed = 0, labels?: ArrayLike<number>, groups?: ArrayLike<string | number>): number[][] {
  if (!(Number.isInteger(k) && k >= 2)) throw new StatisticsError(`kfold: k must be an integer ≥ 2, got ${k}`);
  if (!(Number.isInteger(n) && n >= 0)) throw new StatisticsError(`kfold: n must be a non-negative integer, got ${n}`);
  if (n < k) throw new StatisticsError(`kfold: ${n} examples are too few for ${k} folds; use at most ${n} folds or more examples`);
  if (groups !== undefined) return groupKfold(n, k, seed, labels, groups);
  const rng = new Rng(seed);
  const folds: number[][] = Array.from({ length: k }, () => []);
  const classes: number[][] = [];
  if (labels === undefined) classes.push(Array.from({ length: n }, (_, i) => i));
  else {
    checkLabels(labels, n, 'kfold', false);
    classes.push([], []);
    for (let i = 0; i < n; i++) classes[labels[i]!]!.push(i);
  }
  let next = 0;
  for (const g of classes) {
    rng.shuffle(g);
    for (const i of g) {
      folds[next]!.push(i);
      next = (next + 1) % k;
    }
  }
  for (const f of folds) f.sort((a, b) => a - b);
  return folds;
}

function groupKfold(n: number, k: number, seed: number, labels: ArrayLike<number> | undefined, groups: ArrayLike<string | number>): number[][] {
  if (groups.length !== n) throw new StatisticsError(`kfold: ${groups.length} group keys for ${n} examples; give one per example`);
  if (labels !== undefined) checkLabels(labels, n, 'kfold', false);
  const members = new Map<string | number, number[]>();
  for (let i = 0; i < n; i++) {
    const g = groups[i]!;
    const m = members.get(g);
    if (m === undefined) members.set(g, [i]);
    else m.push(i);
  }
  if (members.size < k) throw new StatisticsError(`kfold: ${members.size} groups are too few for ${k} folds; use at most ${members.size} folds or more groups`);
  const share = (m: number[]) => (labels === undefined ? 0 : m.reduce((a, i) => a + labels[i]!, 0) / m.length);
  const order = new Rng(seed).shuffle([...members.values()]);
  // a stable sort keeps the shuffled order within equal shares
  order.sort((a, b) => share(a) - share(b));
  const folds: number[][] = Array.from({ length: k }, () => []);
  let next = 0;
  for (const m of order) {
    // the smallest fold, searching from where the last group went, so equal folds take turns
    let best = next;
    for (let j = 1; j < k; j++) if (folds[(next + j) % k]!.length < folds[best]!.length) best = (next + j) % k;
    folds[best]!.push(...m);
    next = (best + 1) % k;
  }
  for (const f of folds) f.sort((a, b) => a - b);
  return folds;
}

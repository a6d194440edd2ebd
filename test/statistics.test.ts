/**
 * The statistics module against independent references: Wilson intervals from
 * their closed form at published values, bootstrap intervals that cover a
 * known mean at about the stated rate, a stratified AUROC bootstrap that keeps
 * both classes, and selection frequencies of a stable and an unstable choice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/tensor/random.js';
import { StatisticsError, against, aurocEstimate, aurocOf, bootstrap, meanEstimate, rateOf, selectionFrequency, wilson } from '../src/methods/statistics.js';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('wilson: the 95% score interval at known values, inside [0, 1] at the ends', () => {
  // Newcombe (1998), method 3: 81/263 → 0.2553–0.3662; 15/148 → 0.0624–0.1605; 0/20 → 0–0.1611
  const a = wilson(81, 263);
  close(a.lo, 0.2553, 5e-4, '81/263 lo');
  close(a.hi, 0.3662, 5e-4, '81/263 hi');
  const b = wilson(15, 148);
  close(b.lo, 0.0624, 5e-4, '15/148 lo');
  close(b.hi, 0.1605, 5e-4, '15/148 hi');
  const c = wilson(0, 20);
  assert.equal(c.lo, 0);
  close(c.hi, 0.1611, 5e-4, '0/20 hi');
  const d = wilson(20, 20);
  assert.equal(d.hi, 1);
  assert.ok(d.lo > 0.8 && d.lo < 0.85);
  assert.deepEqual({ value: a.value, n: a.n }, { value: 81 / 263, n: 263 });
  assert.throws(() => wilson(3, 0), StatisticsError);
  assert.throws(() => wilson(5, 4), StatisticsError);
});

test('bootstrap: the 95% interval of a mean covers the true mean in about 95% of samples, and narrows with n', () => {
  const rng = new Rng(7);
  let covered = 0;
  const trials = 200;
  for (let t = 0; t < trials; t++) {
    const x = Array.from({ length: 60 }, () => rng.normal());
    const e = meanEstimate(x, { resamples: 400, seed: t });
    if (e.lo <= 0 && 0 <= e.hi) covered++;
    assert.ok(e.lo <= e.value && e.value <= e.hi);
  }
  // percentile intervals run a little narrow at n = 60; 200 trials give a binomial sd of 1.5 points
  assert.ok(covered / trials >= 0.88 && covered / trials <= 0.99, `coverage ${covered / trials}`);
  const wide = meanEstimate(Array.from({ length: 20 }, () => rng.normal()));
  const narrow = meanEstimate(Array.from({ length: 2000 }, () => rng.normal()));
  assert.ok(narrow.hi - narrow.lo < (wide.hi - wide.lo) / 5);
  // half-width ≈ 1.96/√n for unit variance
  close(narrow.hi - narrow.lo, (2 * 1.96) / Math.sqrt(2000), 0.02, 'width at n = 2000');
  assert.throws(() => bootstrap(0, () => 0), StatisticsError);
});

test('aurocEstimate: the point value is the exact AUROC; resamples keep both classes; the interval brackets it', () => {
  const rng = new Rng(3);
  const pos = Array.from({ length: 40 }, () => rng.normal() + 1);
  const neg = Array.from({ length: 40 }, () => rng.normal());
  const scores = [...pos, ...neg];
  const labels = scores.map((_, i) => (i < 40 ? 1 : 0));
  const e = aurocEstimate(scores, labels, { seed: 1 });
  assert.equal(e.value, aurocOf(pos, neg));
  assert.ok(e.lo < e.value && e.value < e.hi, JSON.stringify(e));
  // Hanley & McNeil's (1982) standard error as an independent reference for the width
  const A = e.value;
  const q1 = A / (2 - A);
  const q2 = (2 * A * A) / (1 + A);
  const se = Math.sqrt((A * (1 - A) + 39 * (q1 - A * A) + 39 * (q2 - A * A)) / (40 * 40));
  const width = e.hi - e.lo;
  assert.ok(width > 0.6 * 2 * 1.96 * se && width < 1.4 * 2 * 1.96 * se, `width ${width} vs Hanley–McNeil ${2 * 1.96 * se}`);
  // a perfect separation has a degenerate interval at 1
  const perfect = aurocEstimate([1, 2, 3, 10, 11, 12], [0, 0, 0, 1, 1, 1]);
  assert.deepEqual([perfect.value, perfect.lo, perfect.hi], [1, 1, 1]);
  assert.throws(() => aurocEstimate([1, 2], [1, 1]), StatisticsError);
});

test('selectionFrequency: a unit that always wins is chosen every time, a coin-flip choice about half the time', () => {
  const rng = new Rng(5);
  const strong = Array.from({ length: 50 }, () => 5 + rng.normal());
  const a = Array.from({ length: 50 }, () => rng.normal());
  const b = Array.from({ length: 50 }, () => rng.normal());
  const freq = selectionFrequency(50, (idx) => {
    const m = (v: number[]) => idx.reduce((s, i) => s + v[i]!, 0);
    return [m(strong) > 0 ? 'strong' : 'none', m(a) > m(b) ? 'a' : 'b'];
  }, { resamples: 200, seed: 2 });
  assert.equal(freq.get('strong'), 1);
  const fa = freq.get('a') ?? 0;
  assert.ok(fa > 0.05 && fa < 0.95, `a chosen in ${fa} of resamples`);
  close(fa + (freq.get('b') ?? 0), 1, 1e-12, 'a or b each time');
});

test('rateOf gives the Wilson interval of a share, NaN bounds without cases', () => {
  assert.deepEqual(rateOf([true, false, true, true]), wilson(3, 4));
  const none = rateOf([]);
  assert.ok(Number.isNaN(none.value) && Number.isNaN(none.lo) && Number.isNaN(none.hi));
  assert.equal(none.n, 0);
});

test('against: a verdict stands only when the whole interval is on one side of the bound', () => {
  assert.equal(against(wilson(95, 100), 0.8), 'above');
  assert.equal(against(wilson(5, 100), 0.2), 'below');
  // 8 of 10 is 0.8 on the point, but its interval (0.49–0.94) crosses 0.6 and 0.9
  assert.equal(against(wilson(8, 10), 0.6), 'unsettled');
  assert.equal(against(wilson(8, 10), 0.9), 'unsettled');
  assert.equal(against(rateOf([]), 0.5), 'unsettled');
});

/**
 * The noise floor of the lying carriers: the smallest threshold t whose
 * mirror-image estimate of the false discovery rate, #{w ≤ −t} / #{w ≥ t},
 * is at most q. Checked on hand-worked cases and on simulated attributions
 * (symmetric noise plus known effects), where the realised share of false
 * selections can be counted (the mean share sits at q, 0.105 for q = 0.1
 * here; the bounds leave room for sampling).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mirrorFdrThreshold } from '../src/audit/experiments/lying.js';
import { Rng } from '../src/tensor/random.js';

test('hand-worked thresholds', () => {
  const w = [5, 4, 3, 2, 1, -0.5, -2.5];
  // t = 0.5: 2 below −t, 5 above → 0.4; t = 1: 1 / 5 = 0.2
  assert.deepEqual(mirrorFdrThreshold(w, 0.25), { threshold: 1, estimatedFdr: 0.2 });
  // t = 2: 1 / 4; t = 2.5: 1 / 3; t = 3: 0 / 3
  assert.deepEqual(mirrorFdrThreshold(w, 0.1), { threshold: 3, estimatedFdr: 0 });
  assert.deepEqual(mirrorFdrThreshold(w, 0.5), { threshold: 0.5, estimatedFdr: 0.4 });
});

test('a single unit above the noise is selected; exact mirror noise selects nothing', () => {
  const noise = [0.1, -0.1, 0.2, -0.2, 0.3, -0.3];
  assert.deepEqual(mirrorFdrThreshold([...noise, 2], 0.1), { threshold: 2, estimatedFdr: 0 });
  assert.deepEqual(mirrorFdrThreshold(noise, 0.1), { threshold: null, estimatedFdr: null });
  assert.deepEqual(mirrorFdrThreshold([-1, -2, 0, 0], 0.1), { threshold: null, estimatedFdr: null });
  assert.deepEqual(mirrorFdrThreshold([], 0.1), { threshold: null, estimatedFdr: null });
});

test('simulated attributions: false selections stay near q and the effects are found', () => {
  const rng = new Rng(11);
  const nNoise = 4000;
  const nTrue = 80;
  let falseShare = 0;
  let found = 0;
  const reps = 20;
  for (let r = 0; r < reps; r++) {
    // heavy-tailed symmetric noise (a scale mixture), effects spread over a range like real attributions
    const w: { v: number; real: boolean }[] = [];
    for (let i = 0; i < nNoise; i++) w.push({ v: rng.normal() * (rng.uniform() < 0.1 ? 3 : 0.3), real: false });
    for (let i = 0; i < nTrue; i++) w.push({ v: 4 + 20 * rng.uniform(), real: true });
    const { threshold } = mirrorFdrThreshold(w.map((x) => x.v), 0.1);
    assert.ok(threshold !== null);
    const sel = w.filter((x) => x.v >= threshold);
    falseShare += sel.filter((x) => !x.real).length / sel.length / reps;
    found += sel.filter((x) => x.real).length / nTrue / reps;
  }
  assert.ok(falseShare <= 0.15, `mean share of false selections ${falseShare}`);
  assert.ok(found >= 0.85, `mean share of effects found ${found}`);
});

test('q outside (0, 1) is refused', () => {
  assert.throws(() => mirrorFdrThreshold([1], 0), RangeError);
  assert.throws(() => mirrorFdrThreshold([1], 1), RangeError);
  assert.throws(() => mirrorFdrThreshold([1], Number.NaN), RangeError);
});

/** candor direction | steer, run as a user runs them, on a chat-model folder with a planted direction. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as T from '../src/tensor/index.js';
import { loadModelSync } from '../src/model/load.js';
import { saveModel } from '../src/model/save.js';
import { unit } from '../src/methods/directions.js';
import { loadDirection } from '../src/io/direction-file.js';
import { writeChatModel, CHAT_WORDS } from './helpers/chat-model.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'candor-cli-rep-'));
writeChatModel(dir, 5);
// plant: 'paris' carries u in its embedding; 'no' reads u
const model = loadModelSync(dir);
const D = model.cfg.dModel;
const u = unit(T.randn([D], new T.Rng(8)).toArray());
const paris = CHAT_WORDS.indexOf('paris');
const no = CHAT_WORDS.indexOf('no');
for (let d = 0; d < D; d++) {
  model.weights.embed.data[paris * D + d]! += 8 * u[d]!;
  model.weights.unembed.data[no * D + d] = 6 * u[d]!;
}
saveModel(model, dir);
const words = ['hello', 'world', 'the', 'capital', 'is', '?', '.'];
const rng = new T.Rng(4);
const line = (last: string) => [...Array.from({ length: 4 }, () => words[rng.int(words.length)]!), last].join(' ');
writeFileSync(join(dir, 'target.txt'), Array.from({ length: 16 }, () => line('paris')).join('\n'));
writeFileSync(join(dir, 'other.txt'), Array.from({ length: 16 }, () => line(words[rng.int(words.length)]!)).join('\n'));

function candor(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'candor.js'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('direction find → ablate → add → orthogonalize, and steer with a gauge', () => {
  const out = join(dir, 'dir.safetensors');
  const found = candor('direction', 'find', '--model', dir, '--target', join(dir, 'target.txt'), '--other', join(dir, 'other.txt'), '--score-tokens', 'no', '--kl-max', '5', '--out', out, '--json');
  assert.equal(found.code, 0, found.stderr + found.stdout);
  const j = JSON.parse(found.stdout);
  assert.equal(j.table.length, 2, 'one candidate per layer at the last position');
  const d = loadDirection(out, D);
  let cos = 0;
  for (let i = 0; i < D; i++) cos += d.direction[i]! * u[i]!;
  assert.ok(Math.abs(cos) >= 0.9, `the found direction is the planted one (|cos| ${Math.abs(cos).toFixed(3)})`);

  const prompt = ['--prompt', 'the capital is paris'];
  const abl = candor('direction', 'ablate', '--model', dir, '--direction', out, ...prompt, '--max-new-tokens', '3', '--json');
  assert.equal(abl.code, 0, abl.stderr);
  assert.ok(Array.isArray(JSON.parse(abl.stdout).intervened.new_token_ids));
  const add = candor('direction', 'add', '--model', dir, '--direction', out, '--coeff', '2', ...prompt, '--max-new-tokens', '3');
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /original:[\s\S]*added:/);

  const orth = join(dir, 'orth');
  const o = candor('direction', 'orthogonalize', '--model', dir, '--direction', out, '--out', orth);
  assert.equal(o.code, 0, o.stderr);
  assert.ok(existsSync(join(orth, 'model.safetensors')) && existsSync(join(orth, 'tokenizer.json')));
  // the orthogonalised model generates what the ablated one does
  const g1 = JSON.parse(candor('generate', '--model', orth, ...prompt, '--max-new-tokens', '3', '--json').stdout).new_token_ids;
  assert.deepEqual(g1, JSON.parse(abl.stdout).intervened.new_token_ids);

  const steer = candor('steer', '--model', dir, ...prompt, '--gauge', out, '--add', `${out}@0:3`, '--max-new-tokens', '3', '--json');
  assert.equal(steer.code, 0, steer.stderr);
  assert.equal(JSON.parse(steer.stdout).gauges.g0.length, JSON.parse(steer.stdout).new_token_ids.length);
  const bad = candor('direction', 'ablate', '--model', dir, '--direction', join(dir, 'target.txt'), ...prompt);
  assert.equal(bad.code, 2);
});

test('neurons: ranking by activation difference and by effect, ablation curve, top-activating examples', () => {
  const diff = candor('neurons', '--model', dir, '--a', join(dir, 'target.txt'), '--b', join(dir, 'other.txt'), '--top', '5', '--json');
  assert.equal(diff.code, 0, diff.stderr);
  const ranked = JSON.parse(diff.stdout).ranked as { layer: number; neuron: number; score: number }[];
  assert.equal(ranked.length, 5);
  assert.ok(Math.abs(ranked[0]!.score) >= Math.abs(ranked[4]!.score));
  const eff = candor('neurons', '--model', dir, '--a', join(dir, 'target.txt'), '--target', 'no', '--effect', '--curve', '1,2', '--draws', '3', '--json');
  assert.equal(eff.code, 0, eff.stderr);
  const j = JSON.parse(eff.stdout);
  assert.deepEqual(j.curve.ks, [1, 2]);
  assert.equal(j.curve.random.draws.length, 3);
  const top = ranked[0]!;
  const ex = candor('neurons', '--model', dir, '--examples', join(dir, 'target.txt'), '--neuron', `${top.layer}:${top.neuron}`, '--k', '3');
  assert.equal(ex.code, 0, ex.stderr);
  assert.match(ex.stdout, /«/);
  assert.equal(candor('neurons', '--model', dir, '--examples', join(dir, 'target.txt'), '--neuron', 'x').code, 2);
});

test('probe: cross-validated AUROC per layer finds the planted marker; probes are saved', () => {
  const out = join(dir, 'probes.safetensors');
  const r = candor('probe', '--model', dir, '--pos', join(dir, 'target.txt'), '--neg', join(dir, 'other.txt'), '--kind', 'mass_mean', '--folds', '4', '--out', out, '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.layers.length, 2);
  for (const l of j.layers) assert.ok(l.auroc >= 0.95, `layer ${l.layer}: AUROC ${l.auroc}`);
  assert.ok(existsSync(out));
  const text = candor('probe', '--model', dir, '--pos', join(dir, 'target.txt'), '--neg', join(dir, 'other.txt'));
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /cross-validation/);
});

/**
 * safetensors reading and writing, parameter save/load with optimizer state,
 * and the errors a damaged file gives. Real checkpoints from ../shared are read
 * when present.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as T from '../src/tensor/index.js';
import { openSafetensors, writeSafetensors, halfToFloat, floatToHalf, floatToBf16 } from '../src/io/safetensors.js';
import { saveParameters, loadParameters } from '../src/io/params.js';

const dir = mkdtempSync(join(tmpdir(), 'candor-st-'));
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const shared = join(root, '..', 'shared', 'fixtures', 'hf-tiny');

test('write and read back F32, F16, BF16, F64 and I32 tensors with metadata', () => {
  const a = T.tensor([[1.5, -2.25, 3], [0, 65504, 1e-3]]);
  const i = T.ids([1, -2, 3]);
  const p = join(dir, 'a.safetensors');
  writeSafetensors(p, { a, i, d: T.tensor([1 / 3], undefined, 'float64') }, { metadata: { hello: 'world' } });
  const f = openSafetensors(p);
  assert.equal(f.metadata.hello, 'world');
  assert.deepEqual(f.read('a').toArray(), a.toArray());
  assert.deepEqual(f.read('i').toArray(), [1, -2, 3]);
  assert.equal(f.read('d').item(), 1 / 3);
  f.close();
  const len = Number(readFileSync(p).readBigUInt64LE(0));
  assert.equal(len % 8, 0, 'header padded to 8 bytes');
  for (const dtype of ['F16', 'BF16'] as const) {
    const q = join(dir, `${dtype}.safetensors`);
    writeSafetensors(q, { a }, { dtype });
    const g = openSafetensors(q);
    assert.equal(g.entries.get('a')!.dtype, dtype);
    const back = g.read('a').toArray();
    const tol = dtype === 'F16' ? 1e-3 : 1e-2;
    a.toArray().forEach((v, k) => assert.ok(Math.abs(back[k]! - v) <= tol * Math.abs(v) + 1e-6, `${dtype} ${v} → ${back[k]}`));
    g.close();
  }
});

test('half and bfloat16 conversions round to nearest even', () => {
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x7bff), 65504);
  assert.equal(halfToFloat(0x0001), 2 ** -24);
  assert.equal(floatToHalf(1), 0x3c00);
  assert.equal(floatToHalf(65504), 0x7bff);
  assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00, 'tie rounds to even');
  assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02, 'tie rounds to even (up)');
  assert.equal(floatToBf16(1), 0x3f80);
  assert.equal(floatToBf16(-2), 0xc000);
});

test('damaged files give a SafetensorsError that names the file and the fix', () => {
  const good = join(dir, 'good.safetensors');
  writeSafetensors(good, { w: T.ones([4, 4]) });
  const bytes = readFileSync(good);
  const cases: [string, Buffer, RegExp][] = [
    ['tiny.safetensors', bytes.subarray(0, 5), /smaller than the 8-byte header length/],
    ['trunc.safetensors', bytes.subarray(0, bytes.length - 10), /truncated/],
    ['hdr.safetensors', Buffer.concat([Buffer.from([0xff, 0xff, 0, 0, 0, 0, 0, 0]), bytes.subarray(8)]), /header length field says 65535 bytes/],
  ];
  const bad = (header: object) => {
    const h = Buffer.from(JSON.stringify(header));
    const l = Buffer.alloc(8);
    l.writeBigUInt64LE(BigInt(h.length));
    return Buffer.concat([l, h, Buffer.alloc(64)]);
  };
  cases.push(['dtype.safetensors', bad({ w: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }), /dtype' is 'F8_E4M3'.*supported: F32/]);
  cases.push(['span.safetensors', bad({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 8] } }), /span 8 bytes but shape \[4\] of F32 needs 16/]);
  cases.push(['json.safetensors', Buffer.concat([Buffer.from([3, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{x}')]), /not valid JSON/]);
  for (const [name, content, re] of cases) {
    const p = join(dir, name);
    writeFileSync(p, content);
    assert.throws(() => openSafetensors(p), (e: Error) => e.name === 'SafetensorsError' && e.message.includes(p) && re.test(e.message), name);
  }
});

test('parameters and AdamW state round-trip, so training resumes exactly', () => {
  const rng = new T.Rng(11);
  const mk = () => ({ w: T.randn([3, 4], rng).requireGrad(), b: T.randn([4], rng).requireGrad() });
  const X = T.randn([5, 3], rng);
  const lossOf = (p: Record<string, T.Tensor>) => T.mean(T.square(T.add(T.matmul(X, p.w!), p.b!)));
  const p1 = mk();
  const o1 = new T.AdamW(Object.values(p1), { lr: 0.05 });
  const stepOnce = (p: Record<string, T.Tensor>, o: T.AdamW) => {
    o.zeroGrad();
    T.backward(lossOf(p));
    o.step();
  };
  for (let i = 0; i < 3; i++) stepOnce(p1, o1);
  const file = join(dir, 'ckpt.safetensors');
  saveParameters(file, p1, { optimizer: o1, metadata: { step: '3' } });
  const p2 = mk();
  const o2 = new T.AdamW(Object.values(p2), { lr: 0.05 });
  const { metadata } = loadParameters(file, { into: p2, optimizer: o2 });
  assert.equal(metadata.step, '3');
  assert.equal(o2.stepCount, 3);
  for (let i = 0; i < 3; i++) {
    stepOnce(p1, o1);
    stepOnce(p2, o2);
  }
  assert.deepEqual(p2.w.toArray(), p1.w.toArray());
  assert.deepEqual(p2.b.toArray(), p1.b.toArray());
  assert.throws(() => loadParameters(file, { into: { w: T.zeros([4, 3]), b: T.zeros([4]) } }), /'w' has shape \[3, 4\] in the file but \[4, 3\]/);
  assert.throws(() => loadParameters(file, { into: { w: T.zeros([3, 4]) } }), /unexpected parameters b/);
});

test('reads the real Hugging Face fixtures (F32, F16, BF16) consistently', (t) => {
  if (!existsSync(shared)) {
    t.skip(`../shared/fixtures/hf-tiny is absent (a user's clone); skipping the real-checkpoint read`);
    return;
  }
  const f32 = openSafetensors(join(shared, 'llama', 'model.safetensors'));
  const bf = openSafetensors(join(shared, 'llama_bf16', 'model.safetensors'));
  const f16 = openSafetensors(join(shared, 'llama_f16', 'model.safetensors'));
  assert.ok(f32.entries.size > 10);
  for (const [name, e] of f32.entries) {
    assert.equal(e.dtype, 'F32');
    assert.equal(bf.entries.get(name)!.dtype, 'BF16');
    assert.equal(f16.entries.get(name)!.dtype, 'F16');
    const a = f32.read(name).toArray();
    const b = bf.read(name).toArray();
    const h = f16.read(name).toArray();
    a.forEach((v, i) => {
      assert.ok(Math.abs(b[i]! - v) <= 2 ** -8 * Math.abs(v) + 1e-30, `${name}[${i}] bf16 ${b[i]} vs ${v}`);
      assert.ok(Math.abs(h[i]! - v) <= 2 ** -11 * Math.abs(v) + 2 ** -24, `${name}[${i}] f16 ${h[i]} vs ${v}`);
    });
  }
  f32.close();
  bf.close();
  f16.close();
});

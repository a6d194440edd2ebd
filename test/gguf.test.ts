/**
 * GGUF writing and reading, the header checked byte by byte by a parser
 * written here (independent of src/io/gguf.ts), llama.cpp control vectors and
 * the errors a damaged file gives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CandorError } from '../src/tensor/errors.js';
import { GGUFError, readGGUF, writeGGUF, writeControlVector, readControlVector } from '../src/io/gguf.js';

const dir = mkdtempSync(join(tmpdir(), 'candor-gguf-'));

// ------------------------------------------------------------ an independent parser

interface RawKV { key: string; type: number; itemType?: number; n?: number }
interface RawTensor { name: string; dims: bigint[]; type: number; offset: bigint }
interface RawFile { version: number; nTensors: bigint; nKv: bigint; kvs: RawKV[]; tensors: RawTensor[]; endOfInfos: number }

/** Walk a GGUF header by hand with a DataView: the format as documented in ggml's docs/gguf.md. */
function parseByHand(bytes: Uint8Array): RawFile {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const u32 = () => { const v = dv.getUint32(p, true); p += 4; return v; };
  const u64 = () => { const v = dv.getBigUint64(p, true); p += 8; return v; };
  const str = () => { const n = Number(u64()); const s = new TextDecoder().decode(bytes.subarray(p, p + n)); p += n; return s; };
  const size: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const skip = (t: number) => { if (t === 8) str(); else { assert.ok(size[t], `value type ${t}`); p += size[t]!; } };
  assert.deepEqual([...bytes.subarray(0, 4)], [0x47, 0x47, 0x55, 0x46], 'magic "GGUF"');
  p = 4;
  const version = u32();
  const nTensors = u64();
  const nKv = u64();
  const kvs: RawKV[] = [];
  for (let i = 0n; i < nKv; i++) {
    const key = str();
    const type = u32();
    if (type === 9) {
      const itemType = u32();
      const n = Number(u64());
      for (let j = 0; j < n; j++) skip(itemType);
      kvs.push({ key, type, itemType, n });
    } else {
      skip(type);
      kvs.push({ key, type });
    }
  }
  const tensors: RawTensor[] = [];
  for (let i = 0n; i < nTensors; i++) {
    const name = str();
    const nd = u32();
    const dims: bigint[] = [];
    for (let j = 0; j < nd; j++) dims.push(u64());
    const type = u32();
    const offset = u64();
    tensors.push({ name, dims, type, offset });
  }
  return { version, nTensors, nKv, kvs, tensors, endOfInfos: p };
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

// ------------------------------------------------------------ round trip

test('write → read round trip of every metadata type and of tensors in numpy order', () => {
  const p = join(dir, 'round.gguf');
  const m = Float32Array.from([1, 2, 3, 4, 5, 6]);
  writeGGUF(p, {
    metadata: {
      'general.architecture': 'candor',
      's.unicode': 'héllo ✓',
      'b.true': true,
      'b.false': false,
      'i.small': -7,
      'i.big': 2 ** 40,
      'f.inferred': 0.1,
      'f.f32': { type: 'float32', value: 0.1 },
      'u8': { type: 'uint8', value: 255 },
      'i8': { type: 'int8', value: -128 },
      'u16': { type: 'uint16', value: 65535 },
      'i16': { type: 'int16', value: -32768 },
      'u32': { type: 'uint32', value: 4294967295 },
      'u64': { type: 'uint64', value: 18446744073709551615n },
      'i64': { type: 'int64', value: -5n },
      'a.str': ['a', '', 'bc'],
      'a.int': [1, -2, 3],
      'a.float': [0.5, 1.25],
      'a.bool': [true, false, true],
      'a.u32': { type: 'array', itemType: 'uint32', value: [1, 2] },
      'a.empty': { type: 'array', itemType: 'float32', value: [] },
    },
    tensors: [
      { name: 'matrix', shape: [2, 3], data: m },
      { name: 'vector', data: Float32Array.from([-1.5, 2 ** -20, 3e30]) },
      { name: 'one', shape: [1], data: Float32Array.from([42]) },
    ],
  });
  const f = readGGUF(p);
  assert.equal(f.version, 3);
  assert.equal(f.alignment, 32);
  const md = f.metadata;
  assert.equal(md['general.architecture'], 'candor');
  assert.equal(md['s.unicode'], 'héllo ✓');
  assert.equal(md['b.true'], true);
  assert.equal(md['b.false'], false);
  assert.equal(md['i.small'], -7);
  assert.equal(md['i.big'], 2n ** 40n);
  assert.equal(md['f.inferred'], 0.1);
  assert.equal(md['f.f32'], Math.fround(0.1));
  assert.equal(md['u8'], 255);
  assert.equal(md['i8'], -128);
  assert.equal(md['u16'], 65535);
  assert.equal(md['i16'], -32768);
  assert.equal(md['u32'], 4294967295);
  assert.equal(md['u64'], 18446744073709551615n);
  assert.equal(md['i64'], -5n);
  assert.deepEqual(md['a.str'], ['a', '', 'bc']);
  assert.deepEqual(md['a.int'], [1, -2, 3]);
  assert.deepEqual(md['a.float'], [0.5, 1.25]);
  assert.deepEqual(md['a.bool'], [true, false, true]);
  assert.deepEqual(md['a.u32'], [1, 2]);
  assert.deepEqual(md['a.empty'], []);
  assert.deepEqual(f.metadataTypes, {
    'general.architecture': 'string', 's.unicode': 'string', 'b.true': 'bool', 'b.false': 'bool',
    'i.small': 'int32', 'i.big': 'int64', 'f.inferred': 'float64', 'f.f32': 'float32',
    u8: 'uint8', i8: 'int8', u16: 'uint16', i16: 'int16', u32: 'uint32', u64: 'uint64', i64: 'int64',
    'a.str': 'array<string>', 'a.int': 'array<int32>', 'a.float': 'array<float64>', 'a.bool': 'array<bool>',
    'a.u32': 'array<uint32>', 'a.empty': 'array<float32>',
  });
  assert.deepEqual(Object.keys(md), Object.keys(f.metadataTypes), 'metadata keeps the written order');

  assert.deepEqual(f.tensors.map((t) => t.name), ['matrix', 'vector', 'one']);
  const mt = f.tensor('matrix');
  assert.deepEqual(mt.shape, [2, 3], 'numpy order back');
  assert.deepEqual(mt.ne, [3, 2], 'ggml order in the file: ne[0] is the contiguous dimension');
  assert.equal(mt.type, 0);
  assert.equal(mt.typeName, 'F32');
  assert.deepEqual([...f.data('matrix')], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...f.data('vector')], [...Float32Array.from([-1.5, 2 ** -20, 3e30])]);
  assert.deepEqual([...f.data('one')], [42]);
  assert.deepEqual(f.tensors.map((t) => t.offset), [0, 32, 64], 'each tensor padded to 32 bytes');
  assert.throws(() => f.data('nope'), (e: unknown) => e instanceof GGUFError && /no tensor named 'nope'/.test((e as Error).message));
});

test('a non-default alignment is written as general.alignment (uint32) and respected', () => {
  const p = join(dir, 'align64.gguf');
  writeGGUF(p, { metadata: { x: 1 }, tensors: [{ name: 'a', data: new Float32Array(3).fill(1) }, { name: 'b', data: new Float32Array(20).fill(2) }, { name: 'c', data: new Float32Array(1).fill(3) }] }, { alignment: 64 });
  const f = readGGUF(p);
  assert.equal(f.alignment, 64);
  assert.equal(f.metadata['general.alignment'], 64);
  assert.equal(f.metadataTypes['general.alignment'], 'uint32');
  assert.equal(f.dataOffset % 64, 0);
  assert.deepEqual(f.tensors.map((t) => t.offset), [0, 64, 192], '12 bytes → 64, 80 bytes → 128');
  assert.deepEqual([...f.data('b')], new Array(20).fill(2));
  const raw = parseByHand(readFileSync(p));
  assert.equal(statSync(p).size, align(raw.endOfInfos, 64) + 64 + 128 + 64);
  for (const a of [0, 3, 24, 4]) {
    assert.throws(() => writeGGUF(join(dir, 'bad-align.gguf'), { tensors: [] }, { alignment: a }), GGUFError, `alignment ${a}`);
  }
  assert.throws(() => writeGGUF(join(dir, 'bad-align.gguf'), { metadata: { 'general.alignment': 64 } }, { alignment: 32 }), /disagrees/);
});

test('the writer refuses what GGUF or ggml cannot hold', () => {
  const p = join(dir, 'refused.gguf');
  const bad = (content: Parameters<typeof writeGGUF>[1], re: RegExp) =>
    assert.throws(() => writeGGUF(p, content), (e: unknown) => e instanceof GGUFError && e.message.startsWith(p) && re.test(e.message), String(re));
  bad({ metadata: { k: [1, 'a'] } }, /mixes element kinds/);
  bad({ metadata: { k: [] } }, /empty array/);
  bad({ metadata: { k: { type: 'uint8', value: 256 } } }, /outside the range of uint8/);
  bad({ metadata: { k: { type: 'int32', value: 1.5 } } }, /an integer is expected/);
  bad({ metadata: { k: { type: 'string', value: 3 } } }, /a string is expected/);
  bad({ metadata: { '': 'x' } }, /empty key/);
  bad({ tensors: [{ name: 'x'.repeat(64), data: new Float32Array(1) }] }, /at most 63/);
  bad({ tensors: [{ name: 'a', data: new Float32Array(1) }, { name: 'a', data: new Float32Array(1) }] }, /duplicate tensor name 'a'/);
  bad({ tensors: [{ name: 'a', shape: [2, 2], data: new Float32Array(3) }] }, /holds 4 values but data has 3/);
  bad({ tensors: [{ name: 'a', shape: [1, 1, 1, 1, 1], data: new Float32Array(1) }] }, /at most 4/);
});

// ------------------------------------------------------------ header bytes by hand

test('header bytes parsed by hand: magic, version 3, counts, KV section, tensor infos, aligned offsets, file size', () => {
  const p = join(dir, 'byhand.gguf');
  const sizes = [5, 8, 1, 13];
  writeGGUF(p, {
    metadata: { 'general.architecture': 'controlvector', n: { type: 'uint32', value: 9 }, list: ['x', 'yz'], flag: true },
    tensors: sizes.map((n, i) => ({ name: `t.${i}`, data: Float32Array.from({ length: n }, (_, j) => i * 100 + j) })),
  });
  const bytes = readFileSync(p);
  const raw = parseByHand(bytes);
  assert.equal(raw.version, 3);
  assert.equal(raw.nTensors, 4n);
  assert.equal(raw.nKv, 4n);
  assert.deepEqual(raw.kvs.map((k) => [k.key, k.type]), [['general.architecture', 8], ['n', 4], ['list', 9], ['flag', 7]]);
  assert.deepEqual([raw.kvs[2]!.itemType, raw.kvs[2]!.n], [8, 2]);
  // general.architecture's value: uint64 length then the bytes
  const at = 24 + 8 + 'general.architecture'.length + 4;
  assert.equal(bytes.readBigUInt64LE(at), BigInt('controlvector'.length));
  assert.equal(bytes.subarray(at + 8, at + 8 + 13).toString('ascii'), 'controlvector');
  // tensor infos
  const dataStart = align(raw.endOfInfos, 32);
  assert.ok(bytes.subarray(raw.endOfInfos, dataStart).every((b) => b === 0), 'padding before the data section is zeros');
  let expected = 0;
  raw.tensors.forEach((t, i) => {
    assert.equal(t.name, `t.${i}`);
    assert.deepEqual(t.dims, [BigInt(sizes[i]!)]);
    assert.equal(t.type, 0, 'F32');
    assert.equal(Number(t.offset) % 32, 0, 'offset aligned');
    assert.equal(Number(t.offset), expected, 'offset = padded sizes of the tensors before it');
    const start = dataStart + Number(t.offset);
    for (let j = 0; j < sizes[i]!; j++) assert.equal(bytes.readFloatLE(start + 4 * j), i * 100 + j);
    assert.ok(bytes.subarray(start + 4 * sizes[i]!, start + align(4 * sizes[i]!, 32)).every((b) => b === 0), 'tensor padding is zeros');
    expected += align(4 * sizes[i]!, 32);
  });
  assert.equal(bytes.length, dataStart + expected, 'file size = data start + padded tensor sizes (last tensor padded too)');
  assert.equal(readGGUF(p).dataOffset, dataStart);
});

// ------------------------------------------------------------ control vectors

test('control vector: one direction.N per steerable layer, shape [d_model], right values at the right layer, llama.cpp metadata', () => {
  const p = join(dir, 'cv.gguf');
  const dModel = 6; // not a multiple of 8: every tensor needs padding
  const nLayers = 5;
  const v2 = Float32Array.from({ length: dModel }, (_, i) => i + 1);
  const v4 = Float32Array.from({ length: dModel }, (_, i) => -(i + 1) / 4);
  writeControlVector(p, new Map([[2, v2], [4, v4]]), { modelHint: 'llama', dModel, nLayers, scale: 2 });

  const raw = parseByHand(readFileSync(p));
  assert.equal(raw.version, 3);
  assert.deepEqual(raw.kvs.map((k) => [k.key, k.type]), [['general.architecture', 8], ['controlvector.model_hint', 8], ['controlvector.layer_count', 5]]);
  assert.deepEqual(raw.tensors.map((t) => t.name), ['direction.1', 'direction.2', 'direction.3', 'direction.4'], 'direction.1 … direction.{nLayers-1}; never direction.0');
  for (const t of raw.tensors) {
    assert.deepEqual(t.dims, [BigInt(dModel)], `${t.name} is 1-D of d_model`);
    assert.equal(t.type, 0, `${t.name} is F32`);
  }

  const f = readGGUF(p);
  assert.equal(f.metadata['general.architecture'], 'controlvector');
  assert.equal(f.metadata['controlvector.model_hint'], 'llama');
  assert.equal(f.metadata['controlvector.layer_count'], nLayers - 1);
  assert.equal(f.metadataTypes['controlvector.layer_count'], 'int32');
  assert.equal(f.tensors.length, nLayers - 1);
  assert.deepEqual([...f.data('direction.2')], [...v2].map((x) => 2 * x));
  assert.deepEqual([...f.data('direction.4')], [...v4].map((x) => 2 * x));
  assert.deepEqual([...f.data('direction.1')], new Array(dModel).fill(0));
  assert.deepEqual([...f.data('direction.3')], new Array(dModel).fill(0));

  // What llama.cpp does with it, restated: common_control_vector_load_one puts direction.N at
  // n_embd*(N-1) of a flat buffer; llama_adapter_cvec::apply fills layer il (1 … n_layer-1) from
  // n_embd*(il-1); build_cvec(cur, il) adds it to the output of block il (candor's
  // blocks.{il}.hook_resid_post).
  const buffer: number[] = [];
  for (const t of f.tensors) {
    const N = Number(t.name.split('.')[1]);
    assert.ok(N >= 1);
    while (buffer.length < dModel * N) buffer.push(0);
    f.data(t.name).forEach((x, j) => { buffer[dModel * (N - 1) + j]! += x; });
  }
  const addedAfterBlock = new Map<number, number[]>();
  for (let il = 1; il < nLayers; il++) addedAfterBlock.set(il, buffer.slice(dModel * (il - 1), dModel * il));
  assert.deepEqual(addedAfterBlock.get(2), [...v2].map((x) => 2 * x), 'candor block 2 → added after llama.cpp block 2');
  assert.deepEqual(addedAfterBlock.get(4), [...v4].map((x) => 2 * x), 'candor block 4 → added after llama.cpp block 4 (the last)');
  assert.deepEqual(addedAfterBlock.get(3), new Array(dModel).fill(0));

  const back = readControlVector(p);
  assert.equal(back.architecture, 'controlvector');
  assert.equal(back.modelHint, 'llama');
  assert.equal(back.layerCount, nLayers - 1);
  assert.equal(back.dModel, dModel);
  assert.deepEqual([...back.directions.keys()], [1, 2, 3, 4]);
  assert.deepEqual([...back.directions.get(2)!], [...v2].map((x) => 2 * x));
});

test('control vector bytes equal what ggml\'s own GGUF writer produces for the same content', () => {
  // Reference: a control vector written with ggml's gguf_set_val_str / gguf_set_val_i32 /
  // gguf_add_tensor / gguf_write_to_file (the calls cvector-generator's export_gguf makes),
  // compiled from github.com/ggml-org/ggml at d99724f2: model_hint "gpt2", n_embd 5,
  // n_layer 4, direction.il[j] = 10*il + j. Its SHA-256:
  const ggmlSha256 = 'c0b96396ad5d919f2ad1b8ee0a249949270e62483ab0320a35556e69e61c02cb';
  const p = join(dir, 'cv-ggml.gguf');
  const d = new Map([1, 2, 3].map((l) => [l, Float32Array.from({ length: 5 }, (_, j) => 10 * l + j)]));
  writeControlVector(p, d, { modelHint: 'gpt2', dModel: 5, nLayers: 4 });
  assert.equal(createHash('sha256').update(readFileSync(p)).digest('hex'), ggmlSha256);
});

test('control vector: block 0, out-of-range blocks, wrong widths and non-finite values are refused', () => {
  const p = join(dir, 'cv-bad.gguf');
  const ok = { modelHint: 'llama', dModel: 4, nLayers: 3 };
  const v = new Float32Array(4).fill(1);
  const bad = (dirs: Map<number, Float32Array>, o: typeof ok & { scale?: number }, re: RegExp) =>
    assert.throws(() => writeControlVector(p, dirs, o), (e: unknown) => e instanceof GGUFError && e instanceof CandorError && re.test((e as Error).message), String(re));
  bad(new Map([[0, v]]), ok, /blocks\.0\.hook_resid_post cannot be exported.*direction\.N to the output of block N/);
  bad(new Map([[3, v]]), ok, /resid_post of block 3 is not a point of a 3-block model/);
  bad(new Map([[1.5, v]]), ok, /block 1.5 is not a point/);
  bad(new Map([[1, new Float32Array(5)]]), ok, /has 5 values, expected dModel = 4/);
  bad(new Map([[1, Float32Array.from([0, NaN, 0, 0])]]), ok, /non-finite value NaN at \[1\]/);
  bad(new Map([[1, v]]), { ...ok, nLayers: 1 }, /nLayers = 1/);
  bad(new Map([[1, v]]), { ...ok, modelHint: '' }, /modelHint/);
  bad(new Map([[1, v]]), { ...ok, scale: Infinity }, /scale/);
  bad(new Map([[1, Float32Array.from([3e38, 0, 0, 0])]]), { ...ok, scale: 10 }, /overflows float32/);
  // an empty map is a valid (all-zero) control vector
  writeControlVector(p, new Map(), ok);
  assert.deepEqual(readGGUF(p).tensors.map((t) => t.name), ['direction.1', 'direction.2']);
});

test('control vector at resid_pre: blocks.{l}.hook_resid_pre is the output of block l−1, written as direction.{l−1}', () => {
  const nLayers = 4;
  const dModel = 3;
  const v = Float32Array.from([1, -2, 3]);
  const w = Float32Array.from([0.5, 0, -0.5]);
  const post = join(dir, 'cv-post.gguf');
  const pre = join(dir, 'cv-pre.gguf');
  writeControlVector(post, new Map([[1, v], [3, w]]), { modelHint: 'llama', dModel, nLayers });
  // resid_pre of block 2 = resid_post of block 1; resid_pre "nLayers" = the final residual = resid_post of block 3
  writeControlVector(pre, new Map([[2, v], [4, w]]), { modelHint: 'llama', dModel, nLayers, at: 'resid_pre' });
  assert.deepEqual(readFileSync(pre), readFileSync(post));
  const back = readControlVector(pre);
  assert.deepEqual([...back.directions.get(1)!], [...v]);
  assert.deepEqual([...back.directions.get(3)!], [...w]);
  const bad = (l: number, re: RegExp) =>
    assert.throws(() => writeControlVector(pre, new Map([[l, v]]), { modelHint: 'llama', dModel, nLayers, at: 'resid_pre' }), (e: unknown) => e instanceof GGUFError && re.test((e as Error).message), String(re));
  bad(1, /blocks\.1\.hook_resid_pre cannot be exported.*earliest point it can steer is blocks\.1\.hook_resid_post = blocks\.2\.hook_resid_pre/);
  bad(0, /blocks\.0\.hook_resid_pre cannot be exported/);
  bad(5, /resid_pre of block 5 is not a point of a 4-block model \(0 … 4, 4 = the final residual stream\)/);
});

test('readControlVector applies llama.cpp\'s loader rules', () => {
  const p = join(dir, 'cv-rules.gguf');
  const bad = (tensors: Parameters<typeof writeGGUF>[1]['tensors'], re: RegExp) => {
    writeGGUF(p, { metadata: { 'general.architecture': 'controlvector' }, tensors });
    assert.throws(() => readControlVector(p), (e: unknown) => e instanceof GGUFError && re.test((e as Error).message), String(re));
  };
  bad([{ name: 'direction.0', data: new Float32Array(2) }], /layer index 0 is invalid/);
  bad([{ name: 'dir.1', data: new Float32Array(2) }], /not named direction/);
  bad([{ name: 'direction.1', shape: [2, 2], data: new Float32Array(4) }], /1-D/);
  bad([{ name: 'direction.1', data: new Float32Array(2) }, { name: 'direction.2', data: new Float32Array(3) }], /has 3 values but earlier directions have 2/);
  bad([], /no direction tensors/);
});

// ------------------------------------------------------------ damaged files

function sample(): Buffer {
  const p = join(dir, 'sample.gguf');
  writeGGUF(p, { metadata: { 'general.architecture': 'x', flag: true }, tensors: [{ name: 'a', data: new Float32Array(3).fill(1) }, { name: 'b', data: new Float32Array(2).fill(2) }] });
  return readFileSync(p);
}

function expectError(bytes: Uint8Array, re: RegExp, label: string): void {
  const p = join(dir, `damaged-${label}.gguf`);
  writeFileSync(p, bytes);
  assert.throws(() => readGGUF(p), (e: unknown) => {
    assert.ok(e instanceof GGUFError, `${label}: ${String(e)}`);
    assert.ok(e instanceof CandorError);
    assert.ok(e.message.startsWith(p), `${label}: the message names the file: ${e.message}`);
    assert.match(e.message, re, label);
    return true;
  });
}

test('bad magic', () => {
  const b = sample();
  b.write('GGML', 0, 'ascii');
  expectError(b, /header\.magic is 'GGML'.*expected 'GGUF'/, 'magic');
  expectError(Buffer.from('{"a": 1}'.padEnd(64)), /header\.magic is '\{"a"'/, 'json');
});

test('bad version: 0, 1, newer than 3, big-endian', () => {
  const cases: [number, RegExp][] = [[0, /header\.version is 0/], [1, /header\.version is 1: GGUF v1/], [4, /header\.version is 4, newer than the version 3/], [0x03000000, /big-endian/]];
  for (const [v, re] of cases) {
    const b = sample();
    b.writeUInt32LE(v, 4);
    expectError(b, re, `version-${v}`);
  }
  const b2 = sample();
  b2.writeUInt32LE(2, 4);
  const p = join(dir, 'v2.gguf');
  writeFileSync(p, b2);
  assert.equal(readGGUF(p).version, 2, 'version 2 has the same layout and is read, as ggml does');
});

test('truncated files: in the header, the KV section, the tensor infos and the data', () => {
  const b = sample();
  const raw = parseByHand(b);
  expectError(b.subarray(0, 0), /0 bytes, smaller than the 24-byte GGUF header/, 'empty');
  expectError(b.subarray(0, 20), /smaller than the 24-byte GGUF header/, 'header');
  expectError(b.subarray(0, 30), /metadata\[0\]|cannot fit/, 'kv');
  expectError(b.subarray(0, raw.endOfInfos - 3), /tensor_info\[1\] 'b' offset.*truncated/, 'infos');
  expectError(b.subarray(0, b.length - 1), /data section needs \d+ bytes.*truncated/, 'data-padding');
  expectError(b.subarray(0, b.length - 40), /data section needs/, 'data');
});

test('damaged tensor infos and metadata', () => {
  const raw = parseByHand(sample());
  // the offset field of tensor 'b' is the last 8 bytes of the tensor infos
  const off = raw.endOfInfos - 8;
  let b = sample();
  b.writeBigUInt64LE(64n, off);
  expectError(b, /tensor_info\[1\] 'b': offset 64, expected 32/, 'offset-not-running-sum');
  b = sample();
  b.writeBigUInt64LE(40n, off);
  expectError(b, /offset 40 is not a multiple of the alignment 32/, 'offset-unaligned');
  // the type field of tensor 'b' is just before its offset
  b = sample();
  b.writeUInt32LE(99, off - 4);
  expectError(b, /ggml type 99 is not a valid type/, 'ggml-type');
  // n_dims of tensor 'b' precedes its one dim
  b = sample();
  b.writeUInt32LE(7, off - 4 - 8 - 4);
  expectError(b, /n_dims = 7/, 'n-dims');
  // tensor count too large for the file
  b = sample();
  b.writeBigUInt64LE(1n << 40n, 8);
  expectError(b, /tensor_count = \d+ tensor infos cannot fit/, 'tensor-count');
  b = sample();
  b.writeBigUInt64LE(1n << 40n, 16);
  expectError(b, /kv_count = \d+ key\/value pairs cannot fit/, 'kv-count');
  // value type of the first KV: after magic, version, counts and the key
  const typeAt = 24 + 8 + 'general.architecture'.length;
  b = sample();
  b.writeUInt32LE(13, typeAt);
  expectError(b, /metadata\[0\] 'general.architecture' value type: invalid GGUF value type 13/, 'kv-type');
  // the bool byte of 'flag' is the last byte of the KV section
  const boolAt = typeAt + 4 + 8 + 1 + 8 + 'flag'.length + 4;
  b = sample();
  assert.equal(b[boolAt], 1);
  b[boolAt] = 2;
  expectError(b, /'flag' value: a bool byte must be 0 or 1, got 2/, 'bool');
  // duplicate key: rename 'flag' to the first key is impossible in place; write one by hand instead
  const dup = Buffer.concat([
    Buffer.from('GGUF', 'ascii'), u32(3), u64(0), u64(2),
    kvString('k', 'a'), kvString('k', 'b'),
  ]);
  expectError(dup, /metadata\[1\] 'k': duplicate key/, 'dup-key');
  const badAlign = Buffer.concat([Buffer.from('GGUF', 'ascii'), u32(3), u64(0), u64(1), str('general.alignment'), u32(4), u32(48)]);
  expectError(badAlign, /'general.alignment' = 48 is not a power of two/, 'align-pow2');
  const alignType = Buffer.concat([Buffer.from('GGUF', 'ascii'), u32(3), u64(0), u64(1), str('general.alignment'), u32(5), u32(32)]);
  expectError(alignType, /'general.alignment' must be of type uint32 but is int32/, 'align-type');
  const nested = Buffer.concat([Buffer.from('GGUF', 'ascii'), u32(3), u64(0), u64(1), str('a'), u32(9), u32(9), u64(0)]);
  expectError(nested, /arrays of arrays are not supported/, 'nested');
  const badUtf8 = Buffer.concat([Buffer.from('GGUF', 'ascii'), u32(3), u64(0), u64(1), str('a'), u32(8), u64(2), Buffer.from([0xc3, 0x28])]);
  expectError(badUtf8, /not valid UTF-8/, 'utf8');
  assert.throws(() => readGGUF(join(dir, 'missing.gguf')), (e: unknown) => e instanceof GGUFError && /cannot open \(ENOENT\)/.test((e as Error).message));
});

function u32(v: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; }
function u64(v: number): Buffer { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; }
function str(s: string): Buffer { return Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s, 'utf8')]); }
function kvString(k: string, v: string): Buffer { return Buffer.concat([str(k), u32(8), str(v)]); }

test('a file with no tensors is valid and needs no data section', () => {
  const p = join(dir, 'empty.gguf');
  writeGGUF(p, { metadata: { a: 'b' } });
  const f = readGGUF(p);
  assert.deepEqual(f.tensors, []);
  assert.equal(f.metadata.a, 'b');
  const raw = parseByHand(readFileSync(p));
  assert.equal(raw.nTensors, 0n);
  // ggml pads the header to the alignment even without tensors; the reader does not require it
  expectError(Buffer.concat([Buffer.from('GGUF', 'ascii'), u32(3), u64(0), u64(0)]).subarray(0, 23), /24-byte/, 'short-empty');
  const bare = join(dir, 'bare.gguf');
  writeFileSync(bare, Buffer.concat([Buffer.from('GGUF', 'ascii'), u32(3), u64(0), u64(0)]));
  assert.equal(readGGUF(bare).tensors.length, 0);
});

/**
 * GGUF, the container of ggml / llama.cpp, and llama.cpp control vectors.
 *
 * The file layout, as read from the reference implementation
 * (ggml/include/gguf.h's header comment, ggml/src/gguf.cpp's
 * gguf_init_from_reader and gguf_write_out, and ggml's docs/gguf.md), all
 * little-endian:
 *
 *   magic "GGUF" (4 bytes) · version uint32 (3) · tensor_count uint64 ·
 *   kv_count uint64 · kv_count key/value pairs · tensor_count tensor infos ·
 *   zero padding to the alignment · the data section.
 *
 * A string is a uint64 byte length and that many UTF-8 bytes (no NUL). A
 * key/value pair is a string key, a uint32 value type and the value; an array
 * (type 9) is an element type, a uint64 element count and the elements (arrays
 * of arrays are rejected by gguf.cpp's reader, so they are not supported here).
 * A bool is one byte. A tensor info is the name (a string of at most 63 bytes,
 * GGML_MAX_NAME), n_dims uint32 (at most 4), n_dims uint64 sizes in ggml order
 * (ne[0] is the contiguous, innermost dimension, so a numpy shape [r, c] is
 * written as [c, r]), the ggml type (uint32; F32 = 0) and a uint64 offset
 * relative to the start of the data section.
 *
 * Alignment: the key general.alignment (uint32, a power of two) if present,
 * else 32. The data section starts at the first aligned position after the
 * tensor infos, and gguf.cpp requires each tensor's offset to be exactly the
 * sum of the padded sizes of the tensors before it (tensor data is padded with
 * zeros to the alignment, the last tensor included: a reader that loads the
 * data reads the whole padded blob, so a file that stops right after the last
 * tensor's bytes fails to load in llama.cpp).
 *
 * Shapes: `writeGGUF` takes shapes in candor's (numpy, row-major,
 * outermost-first) order and reverses them for the file; `readGGUF` returns
 * both `shape` (numpy order) and `ne` (ggml order, as stored).
 *
 * Control vectors: see `writeControlVector` below for what llama.cpp's loader
 * expects and how candor's block index maps onto its layer numbering.
 *
 * Every inconsistency is a GGUFError naming the file and the field.
 */
import { closeSync, fstatSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { CandorError } from '../tensor/errors.js';
import { halfToFloat } from './safetensors.js';

export class GGUFError extends CandorError {
  override name = 'GGUFError';
}

export const GGUF_MAGIC = 'GGUF';
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_NAME: a tensor name must be shorter than this many bytes. */
export const GGML_MAX_NAME = 64;
/** ggml's GGML_MAX_DIMS. */
export const GGML_MAX_DIMS = 4;
/** ggml types with ids below this count are valid (ggml's GGML_TYPE_COUNT in docs/gguf.md). */
export const GGML_TYPE_COUNT = 40;

/** The value type ids of GGUF metadata (gguf.h's enum gguf_type). */
export const GGUF_TYPE = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

export type GGUFScalarType = Exclude<keyof typeof GGUF_TYPE, 'array'>;
const TYPE_NAMES: GGUFScalarType[] = ['uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'float32', 'bool', 'string'];
TYPE_NAMES[10] = 'uint64';
TYPE_NAMES[11] = 'int64';
TYPE_NAMES[12] = 'float64';

/** ggml tensor types whose byte size candor knows (the unquantised ones). */
export const GGML_TYPE = { F32: 0, F16: 1, I8: 24, I16: 25, I32: 26, I64: 27, F64: 28, BF16: 30 } as const;
const GGML_TYPE_BYTES: Record<number, number> = { 0: 4, 1: 2, 24: 1, 25: 2, 26: 4, 27: 8, 28: 8, 30: 2 };
const GGML_TYPE_NAMES: Record<number, string> = { 0: 'F32', 1: 'F16', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64', 30: 'BF16' };

export type GGUFScalar = string | number | boolean | bigint;
/** A value with its GGUF type spelled out, for when the inferred one is not wanted. */
export interface GGUFTypedValue {
  type: GGUFScalarType;
  value: GGUFScalar;
}
export interface GGUFTypedArray {
  type: 'array';
  itemType: GGUFScalarType;
  value: GGUFScalar[];
}
/**
 * A metadata value for `writeGGUF`. Plain values get a type by inference:
 * string → string, boolean → bool, an integer number → int32 (int64 outside
 * its range), any other number → float64, a bigint → int64 (uint64 above the
 * int64 range); arrays take one element type by the same rules (all strings,
 * all booleans, or all numbers). Give `{ type, value }` (or `{ type: 'array',
 * itemType, value }`) for any other type, e.g. float32 or uint32, which some
 * readers insist on.
 */
export type GGUFMetadataInput = GGUFScalar | GGUFScalar[] | GGUFTypedValue | GGUFTypedArray;
/** A metadata value as read: 64-bit integers as bigint, other numbers as number. */
export type GGUFValue = GGUFScalar | GGUFScalar[];
/** 'uint32', 'string', … or 'array<string>', … */
export type GGUFTypeName = GGUFScalarType | `array<${GGUFScalarType}>`;

export interface GGUFTensorInput {
  name: string;
  /** numpy order (outermost first); reversed into ggml order in the file. Defaults to [data.length]. */
  shape?: readonly number[];
  data: Float32Array;
}

export interface GGUFWriteOptions {
  /** data alignment, a power of two ≥ 8 (default 32; any other value is written as general.alignment) */
  alignment?: number;
}

export interface GGUFTensorInfo {
  name: string;
  /** numpy order (outermost first) */
  shape: number[];
  /** ggml order, as stored (ne[0] innermost) */
  ne: number[];
  /** ggml type id (F32 = 0) */
  type: number;
  /** 'F32', 'F16', … or 'ggml type N' for the quantised types */
  typeName: string;
  /** offset relative to the data section, as stored */
  offset: number;
  /** offset from the start of the file */
  absoluteOffset: number;
  /** bytes of data (undefined for quantised types, whose block sizes candor does not know) */
  byteLength: number | undefined;
}

export interface GGUFFile {
  path: string;
  version: number;
  alignment: number;
  /** file offset of the data section */
  dataOffset: number;
  metadata: Record<string, GGUFValue>;
  metadataTypes: Record<string, GGUFTypeName>;
  tensors: GGUFTensorInfo[];
  tensor(name: string): GGUFTensorInfo;
  /** A tensor's values as float32 (F32, F16, BF16 and F64 tensors). */
  data(name: string): Float32Array;
}

function fail(path: string, msg: string): never {
  throw new GGUFError(`${path}: ${msg}`);
}

const pad = (n: number, a: number): number => Math.ceil(n / a) * a;
const isPow2 = (a: number): boolean => Number.isInteger(a) && a > 0 && (a & (a - 1)) === 0 && a <= 2 ** 30;

// ---------------------------------------------------------------- writing

interface Encoded {
  type: GGUFScalarType | 'array';
  itemType?: GGUFScalarType;
  values: GGUFScalar[];
}

const INT_RANGE: Partial<Record<GGUFScalarType, [bigint, bigint]>> = {
  uint8: [0n, 255n],
  int8: [-128n, 127n],
  uint16: [0n, 65535n],
  int16: [-32768n, 32767n],
  uint32: [0n, 4294967295n],
  int32: [-2147483648n, 2147483647n],
  uint64: [0n, 18446744073709551615n],
  int64: [-9223372036854775808n, 9223372036854775807n],
};

function inferScalar(v: GGUFScalar): GGUFScalarType | undefined {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint') return v > INT_RANGE.int64![1] ? 'uint64' : 'int64';
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return 'float64';
    return v >= -2147483648 && v <= 2147483647 ? 'int32' : 'int64';
  }
  return undefined;
}

function inferArray(path: string, key: string, vs: GGUFScalar[]): GGUFScalarType {
  if (vs.length === 0) fail(path, `metadata '${key}' is an empty array with no element type; give { type: 'array', itemType, value: [] }`);
  const kinds = new Set(vs.map((v) => typeof v));
  if (kinds.size !== 1) fail(path, `metadata '${key}' mixes element kinds (${[...kinds].join(', ')}); a GGUF array has one element type`);
  const k = [...kinds][0];
  if (k === 'string') return 'string';
  if (k === 'boolean') return 'bool';
  if (k === 'bigint') return vs.some((v) => (v as bigint) > INT_RANGE.int64![1]) ? 'uint64' : 'int64';
  if (k === 'number') {
    const ns = vs as number[];
    if (!ns.every(Number.isInteger)) return 'float64';
    return ns.every((v) => v >= -2147483648 && v <= 2147483647) ? 'int32' : 'int64';
  }
  fail(path, `metadata '${key}' has elements of kind ${k}, which GGUF cannot store`);
}

function checkScalar(path: string, field: string, type: GGUFScalarType, v: GGUFScalar): void {
  const bad = (why: string): never => fail(path, `${field}: ${why}`);
  if (!(type in GGUF_TYPE) || type === ('array' as string)) bad(`unknown GGUF value type '${type}'`);
  switch (type) {
    case 'string':
      if (typeof v !== 'string') bad(`a string is expected, got ${typeof v}`);
      return;
    case 'bool':
      if (typeof v !== 'boolean') bad(`a boolean is expected, got ${typeof v}`);
      return;
    case 'float32':
    case 'float64':
      if (typeof v !== 'number') bad(`a number is expected for ${type}, got ${typeof v}`);
      return;
    default: {
      let b: bigint;
      if (typeof v === 'bigint') b = v;
      else if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
      else bad(`an integer is expected for ${type}, got ${typeof v === 'number' ? v : typeof v}`);
      const [lo, hi] = INT_RANGE[type]!;
      if (b! < lo || b! > hi) bad(`${String(v)} is outside the range of ${type} [${lo}, ${hi}]`);
    }
  }
}

function encodeInput(path: string, key: string, v: GGUFMetadataInput): Encoded {
  if (Array.isArray(v)) {
    const itemType = inferArray(path, key, v);
    v.forEach((x, i) => checkScalar(path, `metadata '${key}'[${i}]`, itemType, x));
    return { type: 'array', itemType, values: v };
  }
  if (v !== null && typeof v === 'object') {
    const o = v as GGUFTypedValue | GGUFTypedArray;
    if (o.type === 'array') {
      const a = o as GGUFTypedArray;
      if (!Array.isArray(a.value)) fail(path, `metadata '${key}': { type: 'array' } needs value to be an array`);
      a.value.forEach((x, i) => checkScalar(path, `metadata '${key}'[${i}]`, a.itemType, x));
      return { type: 'array', itemType: a.itemType, values: a.value };
    }
    checkScalar(path, `metadata '${key}'`, o.type, (o as GGUFTypedValue).value);
    return { type: o.type, values: [(o as GGUFTypedValue).value] };
  }
  const t = inferScalar(v);
  if (t === undefined) fail(path, `metadata '${key}' has a value of kind ${typeof v}, which GGUF cannot store`);
  checkScalar(path, `metadata '${key}'`, t, v);
  return { type: t, values: [v] };
}

/** Growable little-endian byte sink. */
class Sink {
  buf = Buffer.alloc(1024);
  len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  u8(v: number): void { this.room(1); this.buf.writeUInt8(v, this.len); this.len += 1; }
  i8(v: number): void { this.room(1); this.buf.writeInt8(v, this.len); this.len += 1; }
  u16(v: number): void { this.room(2); this.buf.writeUInt16LE(v, this.len); this.len += 2; }
  i16(v: number): void { this.room(2); this.buf.writeInt16LE(v, this.len); this.len += 2; }
  u32(v: number): void { this.room(4); this.buf.writeUInt32LE(v, this.len); this.len += 4; }
  i32(v: number): void { this.room(4); this.buf.writeInt32LE(v, this.len); this.len += 4; }
  f32(v: number): void { this.room(4); this.buf.writeFloatLE(v, this.len); this.len += 4; }
  f64(v: number): void { this.room(8); this.buf.writeDoubleLE(v, this.len); this.len += 8; }
  u64(v: number | bigint): void { this.room(8); this.buf.writeBigUInt64LE(BigInt(v), this.len); this.len += 8; }
  i64(v: number | bigint): void { this.room(8); this.buf.writeBigInt64LE(BigInt(v), this.len); this.len += 8; }
  bytes(b: Uint8Array): void { this.room(b.length); this.buf.set(b, this.len); this.len += b.length; }
  str(s: string): void { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.bytes(b); }
  padTo(a: number): void { const n = pad(this.len, a) - this.len; this.room(n); this.buf.fill(0, this.len, this.len + n); this.len += n; }
  scalar(type: GGUFScalarType, v: GGUFScalar): void {
    switch (type) {
      case 'uint8': return this.u8(Number(v));
      case 'int8': return this.i8(Number(v));
      case 'uint16': return this.u16(Number(v));
      case 'int16': return this.i16(Number(v));
      case 'uint32': return this.u32(Number(v));
      case 'int32': return this.i32(Number(v));
      case 'float32': return this.f32(v as number);
      case 'float64': return this.f64(v as number);
      case 'uint64': return this.u64(v as number | bigint);
      case 'int64': return this.i64(v as number | bigint);
      case 'bool': return this.u8(v ? 1 : 0);
      case 'string': return this.str(v as string);
    }
  }
}

/**
 * Write a GGUF (version 3) file of F32 tensors, atomically (a temporary file
 * renamed into place). Metadata keys are written in the order given; tensors
 * in the order given, each at an aligned offset, padded with zeros to the
 * alignment (the last one too, as ggml's gguf_write_out does).
 */
export function writeGGUF(
  path: string,
  content: { metadata?: Record<string, GGUFMetadataInput>; tensors?: readonly GGUFTensorInput[] },
  opts: GGUFWriteOptions = {},
): void {
  const metaIn = Object.entries(content.metadata ?? {});
  const tensors = content.tensors ?? [];
  // alignment: the option, or general.alignment in the metadata; both must agree
  const given = metaIn.find(([k]) => k === 'general.alignment');
  let alignment = opts.alignment;
  if (given !== undefined) {
    const raw = given[1];
    const v = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as GGUFTypedValue).value : raw;
    if (typeof v !== 'number' && typeof v !== 'bigint') fail(path, `metadata 'general.alignment' must be a uint32, got ${Array.isArray(v) ? 'an array' : typeof v}`);
    const n = Number(v);
    if (alignment !== undefined && alignment !== n) fail(path, `metadata 'general.alignment' = ${n} disagrees with opts.alignment = ${alignment}`);
    alignment = n;
  }
  alignment ??= GGUF_DEFAULT_ALIGNMENT;
  if (!isPow2(alignment) || alignment < 8) fail(path, `alignment ${alignment} must be a power of two and at least 8 (a multiple of 8 per the GGUF spec, a power of two for ggml)`);

  const kvs: [string, Encoded][] = [];
  for (const [k, v] of metaIn) {
    if (k.length === 0) fail(path, 'metadata has an empty key');
    if (k === 'general.alignment') kvs.push([k, { type: 'uint32', values: [alignment] }]);
    else kvs.push([k, encodeInput(path, k, v)]);
  }
  if (given === undefined && alignment !== GGUF_DEFAULT_ALIGNMENT) kvs.push(['general.alignment', { type: 'uint32', values: [alignment] }]);

  const seen = new Set<string>();
  const infos = tensors.map((t, i) => {
    const field = `tensors[${i}]`;
    if (typeof t.name !== 'string' || t.name.length === 0) fail(path, `${field}: the name is empty`);
    const nameBytes = Buffer.byteLength(t.name, 'utf8');
    if (nameBytes >= GGML_MAX_NAME) fail(path, `${field} '${t.name}': the name is ${nameBytes} bytes; ggml allows at most ${GGML_MAX_NAME - 1}`);
    if (seen.has(t.name)) fail(path, `${field}: duplicate tensor name '${t.name}'`);
    seen.add(t.name);
    if (!(t.data instanceof Float32Array)) fail(path, `${field} '${t.name}': data must be a Float32Array`);
    const shape = [...(t.shape ?? [t.data.length])];
    if (shape.length === 0) shape.push(1);
    if (shape.length > GGML_MAX_DIMS) fail(path, `${field} '${t.name}': ${shape.length} dimensions; ggml allows at most ${GGML_MAX_DIMS}`);
    for (const d of shape) if (!Number.isSafeInteger(d) || d < 0) fail(path, `${field} '${t.name}': shape [${shape.join(', ')}] has a dimension that is not a non-negative integer`);
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) fail(path, `${field} '${t.name}': shape [${shape.join(', ')}] holds ${n} values but data has ${t.data.length}`);
    return { name: t.name, ne: shape.slice().reverse(), data: t.data };
  });

  const s = new Sink();
  s.bytes(Buffer.from(GGUF_MAGIC, 'ascii'));
  s.u32(GGUF_VERSION);
  s.u64(infos.length);
  s.u64(kvs.length);
  for (const [k, e] of kvs) {
    s.str(k);
    if (e.type === 'array') {
      s.u32(GGUF_TYPE.array);
      s.u32(GGUF_TYPE[e.itemType!]);
      s.u64(e.values.length);
      for (const v of e.values) s.scalar(e.itemType!, v);
    } else {
      s.u32(GGUF_TYPE[e.type]);
      s.scalar(e.type, e.values[0]!);
    }
  }
  let offset = 0;
  for (const t of infos) {
    s.str(t.name);
    s.u32(t.ne.length);
    for (const d of t.ne) s.u64(d);
    s.u32(GGML_TYPE.F32);
    s.u64(offset);
    offset += pad(t.data.length * 4, alignment);
  }
  s.padTo(alignment);
  for (const t of infos) {
    const bytes = Buffer.alloc(t.data.length * 4);
    for (let i = 0; i < t.data.length; i++) bytes.writeFloatLE(t.data[i]!, i * 4);
    s.bytes(bytes);
    s.padTo(alignment);
  }

  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (e) {
    fail(path, `cannot write (${(e as NodeJS.ErrnoException).code ?? String(e)}). Fix: check that the folder exists and is writable.`);
  }
  try {
    writeSync(fd, s.buf, 0, s.len);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

// ---------------------------------------------------------------- reading

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Sequential little-endian reads over a file, fetched in chunks. */
class Cursor {
  pos = 0;
  private buf = Buffer.alloc(0);
  private start = 0;
  constructor(private readonly fd: number, readonly path: string, readonly size: number) {}
  private need(n: number, field: string): number {
    if (this.pos + n > this.size) {
      fail(this.path, `${field}: needs ${n} bytes at offset ${this.pos} but the file ends at ${this.size}: the file is truncated. Fix: write or copy it again.`);
    }
    if (this.pos < this.start || this.pos + n > this.start + this.buf.length) {
      const len = Math.min(Math.max(n, 1 << 16), this.size - this.pos);
      this.buf = Buffer.alloc(len);
      readSync(this.fd, this.buf, 0, len, this.pos);
      this.start = this.pos;
    }
    const at = this.pos - this.start;
    this.pos += n;
    return at;
  }
  remaining(): number { return this.size - this.pos; }
  u8(f: string): number { return this.buf.readUInt8(this.need(1, f)); }
  i8(f: string): number { return this.buf.readInt8(this.need(1, f)); }
  u16(f: string): number { return this.buf.readUInt16LE(this.need(2, f)); }
  i16(f: string): number { return this.buf.readInt16LE(this.need(2, f)); }
  u32(f: string): number { return this.buf.readUInt32LE(this.need(4, f)); }
  i32(f: string): number { return this.buf.readInt32LE(this.need(4, f)); }
  f32(f: string): number { return this.buf.readFloatLE(this.need(4, f)); }
  f64(f: string): number { return this.buf.readDoubleLE(this.need(8, f)); }
  u64(f: string): bigint { return this.buf.readBigUInt64LE(this.need(8, f)); }
  i64(f: string): bigint { return this.buf.readBigInt64LE(this.need(8, f)); }
  /** a uint64 that must fit a JS number */
  count(f: string): number {
    const v = this.u64(f);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(this.path, `${f} = ${v} is beyond 2^53: the file is corrupt`);
    return Number(v);
  }
  raw(n: number, f: string): Buffer { const at = this.need(n, f); return this.buf.subarray(at, at + n); }
  str(f: string): string {
    const n = this.count(`${f} (string length)`);
    if (n > this.remaining()) fail(this.path, `${f}: a string of ${n} bytes at offset ${this.pos} runs past the end of the file (${this.size} bytes): the file is truncated or corrupt`);
    const b = this.raw(n, f);
    try {
      return utf8.decode(b);
    } catch {
      fail(this.path, `${f}: the string is not valid UTF-8`);
    }
  }
  scalar(type: GGUFScalarType, f: string): GGUFScalar {
    switch (type) {
      case 'uint8': return this.u8(f);
      case 'int8': return this.i8(f);
      case 'uint16': return this.u16(f);
      case 'int16': return this.i16(f);
      case 'uint32': return this.u32(f);
      case 'int32': return this.i32(f);
      case 'float32': return this.f32(f);
      case 'float64': return this.f64(f);
      case 'uint64': return this.u64(f);
      case 'int64': return this.i64(f);
      case 'string': return this.str(f);
      case 'bool': {
        const b = this.u8(f);
        if (b > 1) fail(this.path, `${f}: a bool byte must be 0 or 1, got ${b}`);
        return b === 1;
      }
    }
  }
}

const MIN_BYTES: Record<GGUFScalarType, number> = {
  uint8: 1, int8: 1, bool: 1, uint16: 2, int16: 2, uint32: 4, int32: 4, float32: 4, uint64: 8, int64: 8, float64: 8, string: 8,
};

/**
 * Read a GGUF file's header (metadata and tensor infos) and validate it with
 * the rules of ggml's reader (gguf.cpp, gguf_init_from_reader): the magic,
 * version 2 or 3, counts that fit the file, value types, no duplicate keys or
 * tensor names, general.alignment a uint32 power of two, at most 4 dimensions,
 * known ggml types, each offset aligned and equal to the running sum of the
 * padded sizes before it, and the padded data section inside the file.
 * Tensor data are read on demand by `data(name)`.
 */
export function readGGUF(path: string): GGUFFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    fail(path, `cannot open (${(e as NodeJS.ErrnoException).code ?? String(e)}). Fix: check the path.`);
  }
  try {
    const size = fstatSync(fd).size;
    const c = new Cursor(fd, path, size);
    if (size < 24) fail(path, `file is ${size} bytes, smaller than the 24-byte GGUF header (magic, version, tensor_count, kv_count): the file is truncated or not GGUF`);
    const magic = c.raw(4, 'header.magic');
    if (magic.toString('latin1') !== GGUF_MAGIC) {
      const shown = [...magic].map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '?')).join('');
      fail(path, `header.magic is '${shown}' (bytes ${[...magic].map((b) => b.toString(16).padStart(2, '0')).join(' ')}), expected 'GGUF': this is not a GGUF file`);
    }
    const version = c.u32('header.version');
    if (version === 0) fail(path, 'header.version is 0, which no GGUF file has: the file is corrupt');
    if ((version & 0xffff) === 0) fail(path, `header.version reads 0x${version.toString(16)}: the file is big-endian (or corrupt); candor reads little-endian GGUF only`);
    if (version === 1) fail(path, 'header.version is 1: GGUF v1 (32-bit counts) is not supported, by candor or by llama.cpp. Fix: convert the file with a current gguf tool.');
    if (version > GGUF_VERSION) fail(path, `header.version is ${version}, newer than the version ${GGUF_VERSION} candor reads`);
    const nTensors = c.count('header.tensor_count');
    const nKv = c.count('header.kv_count');
    // each KV takes at least 13 bytes (key length, type, one byte), each tensor info at least 24
    if (nKv * 13 > c.remaining()) fail(path, `header.kv_count = ${nKv} key/value pairs cannot fit in the ${c.remaining()} bytes after the header: the file is truncated or corrupt`);
    if (nTensors * 24 > c.remaining() - nKv * 13) fail(path, `header.tensor_count = ${nTensors} tensor infos cannot fit in the file (${size} bytes): the file is truncated or corrupt`);

    const entries: [string, GGUFValue][] = [];
    const types: [string, GGUFTypeName][] = [];
    const keys = new Set<string>();
    const typeOf = (id: number, field: string): GGUFScalarType => {
      const t = TYPE_NAMES[id];
      if (t === undefined) fail(path, `${field}: invalid GGUF value type ${id} (valid: 0-12)`);
      return t;
    };
    for (let i = 0; i < nKv; i++) {
      const key = c.str(`metadata[${i}].key`);
      const f = `metadata[${i}] '${key}'`;
      if (key.length === 0) fail(path, `metadata[${i}].key is empty`);
      if (keys.has(key)) fail(path, `${f}: duplicate key`);
      keys.add(key);
      const tid = c.u32(`${f} value type`);
      if (tid === GGUF_TYPE.array) {
        const eid = c.u32(`${f} array element type`);
        if (eid === GGUF_TYPE.array) fail(path, `${f}: arrays of arrays are not supported (ggml's reader rejects them too)`);
        const et = typeOf(eid, `${f} array element type`);
        const n = c.count(`${f} array length`);
        if (n * MIN_BYTES[et] > c.remaining()) fail(path, `${f}: an array of ${n} ${et} values cannot fit in the ${c.remaining()} bytes left: the file is truncated or corrupt`);
        const vs: GGUFScalar[] = new Array(n);
        for (let j = 0; j < n; j++) vs[j] = c.scalar(et, `${f}[${j}]`);
        entries.push([key, vs]);
        types.push([key, `array<${et}>`]);
      } else {
        const t = typeOf(tid, `${f} value type`);
        entries.push([key, c.scalar(t, `${f} value`)]);
        types.push([key, t]);
      }
    }
    const metadata = Object.fromEntries(entries) as Record<string, GGUFValue>;
    const metadataTypes = Object.fromEntries(types) as Record<string, GGUFTypeName>;

    let alignment = GGUF_DEFAULT_ALIGNMENT;
    if (keys.has('general.alignment')) {
      if (metadataTypes['general.alignment'] !== 'uint32') fail(path, `metadata 'general.alignment' must be of type uint32 but is ${metadataTypes['general.alignment']}`);
      alignment = metadata['general.alignment'] as number;
      if (!isPow2(alignment)) fail(path, `metadata 'general.alignment' = ${alignment} is not a power of two`);
    }

    const tensors: GGUFTensorInfo[] = [];
    const names = new Set<string>();
    for (let i = 0; i < nTensors; i++) {
      const name = c.str(`tensor_info[${i}].name`);
      const f = `tensor_info[${i}] '${name}'`;
      if (Buffer.byteLength(name, 'utf8') >= GGML_MAX_NAME) fail(path, `${f}: the name is ${Buffer.byteLength(name, 'utf8')} bytes; ggml allows at most ${GGML_MAX_NAME - 1}`);
      if (names.has(name)) fail(path, `${f}: duplicate tensor name`);
      names.add(name);
      const nDims = c.u32(`${f} n_dims`);
      if (nDims > GGML_MAX_DIMS) fail(path, `${f}: n_dims = ${nDims}, more than ggml's ${GGML_MAX_DIMS}`);
      const ne: number[] = [];
      for (let j = 0; j < nDims; j++) ne.push(c.count(`${f} dims[${j}]`));
      const n = ne.reduce((a, b) => a * b, 1);
      if (!Number.isSafeInteger(n)) fail(path, `${f}: dims [${ne.join(', ')}] hold more than 2^53 elements: the file is corrupt`);
      const type = c.u32(`${f} type`);
      if (type >= GGML_TYPE_COUNT) fail(path, `${f}: ggml type ${type} is not a valid type (valid: 0-${GGML_TYPE_COUNT - 1})`);
      const offset = c.count(`${f} offset`);
      if (offset % alignment !== 0) fail(path, `${f}: offset ${offset} is not a multiple of the alignment ${alignment}`);
      const bytes = GGML_TYPE_BYTES[type];
      tensors.push({
        name,
        shape: ne.slice().reverse(),
        ne,
        type,
        typeName: GGML_TYPE_NAMES[type] ?? `ggml type ${type}`,
        offset,
        absoluteOffset: 0,
        byteLength: bytes === undefined ? undefined : n * bytes,
      });
    }
    const dataOffset = nTensors > 0 ? pad(c.pos, alignment) : c.pos;
    // offsets: exactly the running sum of padded sizes (gguf.cpp), while sizes are known
    let expected: number | undefined = 0;
    let end = dataOffset;
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i]!;
      t.absoluteOffset = dataOffset + t.offset;
      const f = `tensor_info[${i}] '${t.name}'`;
      if (expected !== undefined && t.offset !== expected) {
        fail(path, `${f}: offset ${t.offset}, expected ${expected} (the padded sizes of the tensors before it): ggml's reader rejects the file`);
      }
      if (expected === undefined && i > 0 && t.offset <= tensors[i - 1]!.offset) {
        fail(path, `${f}: offset ${t.offset} is not after the previous tensor's ${tensors[i - 1]!.offset}`);
      }
      if (t.byteLength === undefined) {
        expected = undefined;
        end = Math.max(end, t.absoluteOffset);
      } else {
        const padded = pad(t.byteLength, alignment);
        if (expected !== undefined) expected += padded;
        end = Math.max(end, t.absoluteOffset + padded);
      }
    }
    if (end > size) {
      fail(path, `the data section needs ${end} bytes (header and tensor infos ${dataOffset}, tensor data padded to ${alignment}) but the file has ${size}: the file is truncated. Fix: write or copy it again.`);
    }

    const byName = new Map(tensors.map((t) => [t.name, t]));
    const tensor = (name: string): GGUFTensorInfo => {
      const t = byName.get(name);
      if (t === undefined) fail(path, `no tensor named '${name}' (the file has ${tensors.length}${tensors.length ? `: ${tensors.slice(0, 8).map((x) => x.name).join(', ')}${tensors.length > 8 ? ', …' : ''}` : ''})`);
      return t;
    };
    const data = (name: string): Float32Array => {
      const t = tensor(name);
      if (t.type !== GGML_TYPE.F32 && t.type !== GGML_TYPE.F16 && t.type !== GGML_TYPE.BF16 && t.type !== GGML_TYPE.F64) {
        fail(path, `tensor '${name}' is ${t.typeName}; candor reads F32, F16, BF16 and F64 tensors only`);
      }
      const n = t.byteLength! / GGML_TYPE_BYTES[t.type]!;
      const b = Buffer.alloc(t.byteLength!);
      const dfd = openSync(path, 'r');
      try {
        const got = readSync(dfd, b, 0, b.length, t.absoluteOffset);
        if (got !== b.length) fail(path, `tensor '${name}': read ${got} of ${b.length} bytes at offset ${t.absoluteOffset}: the file changed or is truncated`);
      } finally {
        closeSync(dfd);
      }
      const out = new Float32Array(n);
      if (t.type === GGML_TYPE.F32) for (let i = 0; i < n; i++) out[i] = b.readFloatLE(i * 4);
      else if (t.type === GGML_TYPE.F64) for (let i = 0; i < n; i++) out[i] = b.readDoubleLE(i * 8);
      else if (t.type === GGML_TYPE.F16) for (let i = 0; i < n; i++) out[i] = halfToFloat(b.readUInt16LE(i * 2));
      else {
        const word = new DataView(new ArrayBuffer(4));
        for (let i = 0; i < n; i++) {
          word.setUint32(0, b.readUInt16LE(i * 2) << 16, true);
          out[i] = word.getFloat32(0, true);
        }
      }
      return out;
    };
    return { path, version, alignment, dataOffset, metadata, metadataTypes, tensors, tensor, data };
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------- control vectors

export interface ControlVectorOptions {
  /** llama.cpp's name of the model's architecture (its general.architecture: 'llama', 'gemma2', 'gpt2', …); written as controlvector.model_hint */
  modelHint: string;
  /** the model's width (llama.cpp's n_embd) */
  dModel: number;
  /** the model's number of blocks (llama.cpp's n_layer) */
  nLayers: number;
  /** multiplies every direction before writing (default 1); llama.cpp can scale again at load time */
  scale?: number;
  /**
   * Which candor hook the map's keys name (default 'resid_post'):
   * 'resid_post' — key l is the block whose output, blocks.{l}.hook_resid_post,
   * the vector is added to (written as direction.l, l = 1 … nLayers−1);
   * 'resid_pre' — key l is the block whose input, blocks.{l}.hook_resid_pre,
   * the vector is added to, i.e. the output of block l−1 (written as
   * direction.{l−1}, l = 2 … nLayers, nLayers meaning the final residual
   * stream as in src/methods/directions.ts). Directions found by
   * meanResiduals / activation addition live at resid_pre.
   */
  at?: 'resid_post' | 'resid_pre';
}

/**
 * Write steering directions as a llama.cpp control vector.
 *
 * What llama.cpp does with the file (read in its source):
 * - common/common.cpp, common_control_vector_load_one: every tensor must be
 *   named `direction.<N>` with N ≥ 1 (N = 0 or an unparsable N makes the whole
 *   file invalid, and common_init_from_params then fails), F32,
 *   one-dimensional, all of the same length n_embd.
 *   direction.N is added (times the strength) into a flat buffer at offset
 *   n_embd·(N−1): "layer 1 at [0]", nothing stored for layer 0. Metadata are
 *   not read at all.
 * - src/llama-adapter.cpp, llama_adapter_cvec::init and ::apply: one tensor
 *   per layer il = 1 … n_layer−1 ("there's never a tensor for layer 0"),
 *   filled from buffer offset n_embd·(il−1). With the loader's N−1 this gives
 *   il = N: direction.N is the vector of layer N. Layers the file does not
 *   name stay zero (the buffers are cleared); the loader pads the buffer with
 *   zeros too, so missing layers and zero tensors are equivalent.
 * - src/llama-graph.cpp, build_cvec → llama_adapter_cvec::apply_to, called in
 *   each model's graph (e.g. src/models/llama.cpp) as
 *   `cur = build_cvec(cur, il); cb(cur, "l_out", il);` right after the MLP
 *   residual add of block il (0-based): the vector is added to the OUTPUT of
 *   block il, the residual stream the next block reads. That is candor's
 *   `blocks.{il}.hook_resid_post`. Layers outside the range given by
 *   --control-vector-layer-range (default 1 … n_layer, set in
 *   common_init_from_params) are skipped.
 * - tools/cvector-generator (export_gguf; mean.hpp/pca.hpp name the tensors
 *   `direction.%d` with il+1) writes general.architecture = "controlvector",
 *   controlvector.model_hint = the model's general.architecture and
 *   controlvector.layer_count (int32) = n_layer − 1, with one tensor for each
 *   of direction.1 … direction.{n_layer−1}. repeng's ControlVector.export_gguf
 *   writes the same keys (layer_count as uint32) and names tensors
 *   direction.{i} after the 0-based index i of the decoder layer whose output
 *   it adds to — the same convention.
 *
 * So the map's key is the candor block l whose output (blocks.{l}.hook_resid_post)
 * the vector is added to, and it is written as `direction.{l}`. Block 0's
 * output has no slot in llama.cpp (l must be 1 … nLayers−1). The file holds
 * one F32 tensor of length dModel for every layer llama.cpp can steer,
 * direction.1 … direction.{nLayers−1}, zeros where the map has no direction,
 * with general.architecture = 'controlvector', controlvector.model_hint and
 * controlvector.layer_count = nLayers − 1 (int32), as cvector-generator writes.
 * With `at: 'resid_pre'` the keys name blocks.{l}.hook_resid_pre instead (the
 * residual entering block l, where candor's activation addition adds), written
 * as direction.{l−1}.
 */
export function writeControlVector(path: string, directions: ReadonlyMap<number, Float32Array>, opts: ControlVectorOptions): void {
  const { modelHint, dModel, nLayers } = opts;
  const scale = opts.scale ?? 1;
  if (typeof modelHint !== 'string' || modelHint.length === 0) fail(path, "opts.modelHint must be the model's llama.cpp architecture name (e.g. 'llama')");
  if (!Number.isSafeInteger(dModel) || dModel < 1) fail(path, `opts.dModel = ${dModel} must be a positive integer`);
  if (!Number.isSafeInteger(nLayers) || nLayers < 2) fail(path, `opts.nLayers = ${nLayers} must be an integer ≥ 2 (llama.cpp steers blocks 1 … nLayers−1)`);
  if (!Number.isFinite(scale)) fail(path, `opts.scale = ${scale} must be a finite number`);
  const at = opts.at ?? 'resid_post';
  if (at !== 'resid_post' && at !== 'resid_pre') fail(path, `opts.at = '${String(at)}' must be 'resid_post' or 'resid_pre'`);
  const byBlock = new Map<number, Float32Array>();
  for (const [l, v] of directions) {
    const what = `blocks.${l}.hook_${at}`;
    const hi = at === 'resid_post' ? nLayers - 1 : nLayers;
    if (!Number.isInteger(l) || l < 0 || l > hi) fail(path, `directions: ${at} of block ${l} is not a point of a ${nLayers}-block model (0 … ${hi}${at === 'resid_pre' ? `, ${nLayers} = the final residual stream` : ''})`);
    const block = at === 'resid_post' ? l : l - 1;
    if (block < 1) {
      fail(path, `directions: ${what} cannot be exported: llama.cpp adds direction.N to the output of block N and N starts at 1 (common_control_vector_load_one rejects direction.0; llama_adapter_cvec has no tensor for layer 0), so the earliest point it can steer is blocks.1.hook_resid_post = blocks.2.hook_resid_pre. Fix: use a direction at a later layer.`);
    }
    if (!(v instanceof Float32Array)) fail(path, `directions: the direction at ${what} must be a Float32Array`);
    if (v.length !== dModel) fail(path, `directions: the direction at ${what} has ${v.length} values, expected dModel = ${dModel}`);
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) fail(path, `directions: the direction at ${what} has a non-finite value ${v[i]} at [${i}]`);
    byBlock.set(block, v);
  }
  const tensors: GGUFTensorInput[] = [];
  for (let l = 1; l < nLayers; l++) {
    const out = new Float32Array(dModel);
    const v = byBlock.get(l);
    if (v !== undefined) for (let i = 0; i < dModel; i++) out[i] = v[i]! * scale;
    for (let i = 0; i < dModel; i++) if (!Number.isFinite(out[i]!)) fail(path, `the direction for direction.${l} times scale ${scale} overflows float32 at [${i}]`);
    tensors.push({ name: `direction.${l}`, shape: [dModel], data: out });
  }
  writeGGUF(path, {
    metadata: {
      'general.architecture': 'controlvector',
      'controlvector.model_hint': modelHint,
      'controlvector.layer_count': { type: 'int32', value: nLayers - 1 },
    },
    tensors,
  });
}

export interface ControlVectorFile {
  /** general.architecture (llama.cpp does not check it; 'controlvector' by convention) */
  architecture: string | undefined;
  modelHint: string | undefined;
  layerCount: number | undefined;
  /** the common length of the directions (llama.cpp's n_embd) */
  dModel: number;
  /** candor block l (direction.l is added to blocks.{l}.hook_resid_post) → its vector, for every direction tensor in the file */
  directions: Map<number, Float32Array>;
}

/**
 * Read a control vector with the rules of llama.cpp's loader
 * (common_control_vector_load_one): every tensor named direction.N with an
 * integer N ≥ 1, F32, one-dimensional, all of one length. Keys of the result
 * are candor blocks, with the same mapping as `writeControlVector` (N = l).
 */
export function readControlVector(path: string): ControlVectorFile {
  const g = readGGUF(path);
  const directions = new Map<number, Float32Array>();
  let dModel = -1;
  for (const t of g.tensors) {
    const m = /^direction\.(\d+)$/.exec(t.name);
    if (m === null) fail(path, `tensor '${t.name}' is not named direction.<layer>; llama.cpp's control vector loader rejects the file`);
    const n = Number(m[1]);
    if (n === 0) fail(path, `tensor '${t.name}': layer index 0 is invalid for llama.cpp (there is never a control vector for layer 0)`);
    if (t.type !== GGML_TYPE.F32) fail(path, `tensor '${t.name}' is ${t.typeName}; llama.cpp's loader needs F32`);
    if (t.ne.slice(1).some((d) => d !== 1)) fail(path, `tensor '${t.name}' has ggml dims [${t.ne.join(', ')}]; llama.cpp's loader needs a 1-D tensor`);
    const len = t.ne.reduce((a, b) => a * b, 1);
    if (dModel === -1) dModel = len;
    else if (len !== dModel) fail(path, `tensor '${t.name}' has ${len} values but earlier directions have ${dModel}`);
    directions.set(n, g.data(t.name));
  }
  if (dModel === -1) fail(path, 'the file has no direction tensors');
  const str = (k: string): string | undefined => (typeof g.metadata[k] === 'string' ? (g.metadata[k] as string) : undefined);
  const lc = g.metadata['controlvector.layer_count'];
  return {
    architecture: str('general.architecture'),
    modelHint: str('controlvector.model_hint'),
    layerCount: typeof lc === 'number' ? lc : typeof lc === 'bigint' ? Number(lc) : undefined,
    dModel,
    directions,
  };
}

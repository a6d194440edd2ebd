/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
 * then the raw little-endian tensor bytes.
 *
 * Reading goes tensor by tensor with positioned reads, straight into the
 * destination array for F32, so a checkpoint never sits in memory twice.
 * F16 and BF16 are upcast to float32. Every inconsistency is a
 * SafetensorsError naming the file, the field and the fix.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync, renameSync } from 'node:fs';
import { CandorError } from '../tensor/errors.js';
import { Tensor, tensor, shapeSize } from '../tensor/tensor.js';
import { contiguousCopy } from '../tensor/ops/basic.js';

export class SafetensorsError extends CandorError {
  override name = 'SafetensorsError';
}

export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I32' | 'I64' | 'I16' | 'I8' | 'U8' | 'BOOL';
const BYTES: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I32: 4, I64: 8, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const SUPPORTED = Object.keys(BYTES) as SafetensorsDType[];

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** absolute byte offset of the data in the file */
  begin: number;
  byteLength: number;
}

export interface SafetensorsFile {
  path: string;
  entries: Map<string, TensorEntry>;
  metadata: Record<string, string>;
  /** Read one tensor: floats as float32 (or float64 for F64), integers as int32. */
  read(name: string): Tensor;
  close(): void;
}

const MAX_HEADER = 100 * 1024 * 1024;

function fail(path: string, msg: string): never {
  throw new SafetensorsError(`${path}: ${msg}`);
}

/** Open a .safetensors file and validate its header against its size. */
export function openSafetensors(path: string): SafetensorsFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    fail(path, `cannot open (${(e as NodeJS.ErrnoException).code ?? String(e)}). Fix: check the path.`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size < 8) fail(path, `file is ${size} bytes, smaller than the 8-byte header length: the file is truncated. Fix: download or copy it again.`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > size - 8) {
      fail(path, `header length field says ${headerLen} bytes but only ${size - 8} bytes follow it: the file is truncated or not safetensors. Fix: download or copy it again.`);
    }
    if (headerLen > MAX_HEADER) fail(path, `header length ${headerLen} exceeds ${MAX_HEADER} bytes; this is not a safetensors file`);
    const hb = Buffer.alloc(headerLen);
    readSync(fd, hb, 0, headerLen, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(hb.toString('utf8')) as Record<string, unknown>;
    } catch (e) {
      fail(path, `header is not valid JSON (${(e as Error).message}). Fix: the file is corrupt; download it again.`);
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header)) fail(path, 'header is not a JSON object');
    const dataStart = 8 + headerLen;
    const entries = new Map<string, TensorEntry>();
    let metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(header)) {
      if (name === '__metadata__') {
        metadata = (raw ?? {}) as Record<string, string>;
        continue;
      }
      const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof e?.dtype !== 'string') fail(path, `tensor '${name}': field 'dtype' is missing`);
      if (!SUPPORTED.includes(e.dtype as SafetensorsDType)) {
        fail(path, `tensor '${name}': field 'dtype' is '${e.dtype}', which candor does not read (supported: ${SUPPORTED.join(', ')}). Fix: convert the checkpoint to F32, F16 or BF16.`);
      }
      const dtype = e.dtype as SafetensorsDType;
      if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isInteger(d) || d < 0)) fail(path, `tensor '${name}': field 'shape' is not a list of non-negative integers`);
      const shape = e.shape as number[];
      const off = e.data_offsets;
      if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isInteger(o) && o >= 0) || off[1] < off[0]) {
        fail(path, `tensor '${name}': field 'data_offsets' must be [begin, end] with 0 ≤ begin ≤ end`);
      }
      const [b, en] = off as [number, number];
      const need = shapeSize(shape) * BYTES[dtype];
      if (en - b !== need) fail(path, `tensor '${name}': data_offsets [${b}, ${en}] span ${en - b} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${need}`);
      if (dataStart + en > size) {
        fail(path, `tensor '${name}': data ends at byte ${dataStart + en} but the file has ${size} bytes: the file is truncated. Fix: download or copy it again.`);
      }
      entries.set(name, { name, dtype, shape, begin: dataStart + b, byteLength: need });
    }
    let closed = false;
    return {
      path,
      entries,
      metadata,
      read(name: string): Tensor {
        if (closed) fail(path, `read('${name}') after close()`);
        const e = entries.get(name);
        if (e === undefined) fail(path, `no tensor named '${name}' (it has ${entries.size} tensors)`);
        return readEntry(fd, path, e);
      },
      close(): void {
        if (!closed) closeSync(fd);
        closed = true;
      },
    };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

function readBytes(fd: number, path: string, into: Uint8Array, position: number): void {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, Math.min(into.length - done, 1 << 30), position + done);
    if (n === 0) fail(path, `unexpected end of file at byte ${position + done}: the file is truncated`);
    done += n;
  }
}

function readEntry(fd: number, path: string, e: TensorEntry): Tensor {
  const n = shapeSize(e.shape);
  switch (e.dtype) {
    case 'F32': {
      const out = new Float32Array(n);
      readBytes(fd, path, new Uint8Array(out.buffer), e.begin);
      return tensor(out, e.shape);
    }
    case 'F64': {
      const out = new Float64Array(n);
      readBytes(fd, path, new Uint8Array(out.buffer), e.begin);
      return tensor(out, e.shape);
    }
    case 'F16':
    case 'BF16': {
      const out = new Float32Array(n);
      const chunk = 1 << 20;
      const raw = new Uint16Array(Math.min(n, chunk));
      const u32 = new Uint32Array(out.buffer);
      for (let s = 0; s < n; s += chunk) {
        const m = Math.min(chunk, n - s);
        const view = raw.subarray(0, m);
        readBytes(fd, path, new Uint8Array(view.buffer, 0, m * 2), e.begin + s * 2);
        if (e.dtype === 'BF16') for (let i = 0; i < m; i++) u32[s + i] = view[i]! << 16;
        else for (let i = 0; i < m; i++) out[s + i] = halfToFloat(view[i]!);
      }
      return tensor(out, e.shape);
    }
    default: {
      const bytes = new Uint8Array(e.byteLength);
      readBytes(fd, path, bytes, e.begin);
      const out = new Int32Array(n);
      const dv = new DataView(bytes.buffer);
      for (let i = 0; i < n; i++) {
        switch (e.dtype) {
          case 'I32': out[i] = dv.getInt32(i * 4, true); break;
          case 'I64': out[i] = Number(dv.getBigInt64(i * 8, true)); break;
          case 'I16': out[i] = dv.getInt16(i * 2, true); break;
          case 'I8': out[i] = dv.getInt8(i); break;
          default: out[i] = dv.getUint8(i);
        }
      }
      return tensor(out, e.shape);
    }
  }
}

/** IEEE 754 half precision bits to a number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 5.960464477539063e-8; // 2^-24
  if (e === 31) return f === 0 ? s * Infinity : NaN;
  return s * (1 + f / 1024) * Math.pow(2, e - 15);
}

/** A number to IEEE half bits (round to nearest even). */
export function floatToHalf(x: number): number {
  const f32 = new Float32Array([x]);
  const u = new Uint32Array(f32.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** A number to bfloat16 bits (round to nearest even). */
export function floatToBf16(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  if ((u & 0x7f800000) === 0x7f800000 && u & 0x7fffff) return (u >>> 16) | 0x40;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export interface WriteOptions {
  metadata?: Record<string, string>;
  /** storage dtype of float tensors (default F32) */
  dtype?: 'F32' | 'F16' | 'BF16';
}

/**
 * Write tensors to a .safetensors file (atomically: a temporary file renamed
 * into place). int32 tensors are stored as I32; float64 as F64 unless a
 * narrower dtype is asked for.
 */
export function writeSafetensors(path: string, tensors: Record<string, Tensor> | Map<string, Tensor>, opts: WriteOptions = {}): void {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (opts.metadata !== undefined) {
    for (const [k, v] of Object.entries(opts.metadata)) if (typeof v !== 'string') throw new SafetensorsError(`${path}: metadata '${k}' must be a string`);
    header.__metadata__ = opts.metadata;
  }
  const parts: { bytes: Uint8Array }[] = [];
  let offset = 0;
  for (const [name, t] of list) {
    const c = t.isContiguous() ? t : contiguousCopy(t);
    const src = c.data.subarray(c.offset, c.offset + c.size);
    let dtype: SafetensorsDType;
    let bytes: Uint8Array;
    if (t.dtype === 'int32') {
      dtype = 'I32';
      bytes = new Uint8Array(Int32Array.from(src as Int32Array).buffer);
    } else if (opts.dtype === 'F16' || opts.dtype === 'BF16') {
      dtype = opts.dtype;
      const u = new Uint16Array(src.length);
      const conv = opts.dtype === 'F16' ? floatToHalf : floatToBf16;
      for (let i = 0; i < src.length; i++) u[i] = conv(src[i]!);
      bytes = new Uint8Array(u.buffer);
    } else if (t.dtype === 'float64') {
      dtype = 'F64';
      bytes = new Uint8Array(Float64Array.from(src as Float64Array).buffer);
    } else {
      dtype = 'F32';
      bytes = new Uint8Array(Float32Array.from(src as Float32Array).buffer);
    }
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    parts.push({ bytes });
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  const pad = (8 - (Buffer.byteLength(json) % 8)) % 8;
  json += ' '.repeat(pad);
  const hb = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.length));
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, len);
    writeSync(fd, hb);
    for (const p of parts) writeSync(fd, p.bytes);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

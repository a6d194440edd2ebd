/**
 * llama2.c checkpoints: the legacy (v0) format — seven int32 header fields
 * then float32 weights in run.c's order, the rotary tables and, when the
 * vocabulary size is negative, a separate classifier — and version 1 ("ak42"
 * magic, 256-byte header, weights grouped norms first).
 *
 * wq and wk are stored in Meta's interleaved rotary layout (pairs (2i, 2i+1)
 * rotate together); the model runs them with the 'interleaved' layout rather
 * than permuting the weights.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { CandorError } from '../tensor/errors.js';
import { Tensor, tensor } from '../tensor/tensor.js';

export class Llama2cError extends CandorError {
  override name = 'Llama2cError';
}

export interface Llama2cCheckpoint {
  path: string;
  version: 0 | 1;
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKVHeads: number;
  vocabSize: number;
  seqLen: number;
  sharedClassifier: boolean;
  tensors: {
    tokEmbedding: Tensor;
    rmsAtt: Tensor;
    wq: Tensor;
    wk: Tensor;
    wv: Tensor;
    wo: Tensor;
    rmsFfn: Tensor;
    w1: Tensor;
    w2: Tensor;
    w3: Tensor;
    rmsFinal: Tensor;
    wcls: Tensor;
  };
}

const MAGIC = 0x616b3432;

export function readLlama2c(path: string): Llama2cCheckpoint {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new Llama2cError(`${path}: cannot open (${(e as NodeJS.ErrnoException).code ?? String(e)}). Fix: check the path.`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size < 28) throw new Llama2cError(`${path}: ${size} bytes is too short for a llama2.c header (28 bytes): the file is truncated or not a llama2.c checkpoint`);
    const head = Buffer.alloc(Math.min(256, size));
    readSync(fd, head, 0, head.length, 0);
    const version: 0 | 1 = head.readUInt32LE(0) === MAGIC ? 1 : 0;
    let dim: number, hiddenDim: number, nLayers: number, nHeads: number, nKVHeads: number, vocab: number, seqLen: number, shared: boolean;
    let offset: number;
    if (version === 1) {
      const v = head.readInt32LE(4);
      if (v !== 1) throw new Llama2cError(`${path}: header field 'version' is ${v}; candor reads llama2.c versions 0 (legacy) and 1 (float32). Fix: export with --version 1 or 0.`);
      [dim, hiddenDim, nLayers, nHeads, nKVHeads, vocab, seqLen] = [8, 12, 16, 20, 24, 28, 32].map((o) => head.readInt32LE(o)) as [number, number, number, number, number, number, number];
      shared = head.readUInt8(36) === 1;
      offset = 256;
    } else {
      [dim, hiddenDim, nLayers, nHeads, nKVHeads, vocab, seqLen] = [0, 4, 8, 12, 16, 20, 24].map((o) => head.readInt32LE(o)) as [number, number, number, number, number, number, number];
      shared = vocab > 0;
      vocab = Math.abs(vocab);
      offset = 28;
    }
    const fields = { dim, hidden_dim: hiddenDim, n_layers: nLayers, n_heads: nHeads, n_kv_heads: nKVHeads, vocab_size: vocab, seq_len: seqLen };
    for (const [k, val] of Object.entries(fields)) {
      if (!(Number.isInteger(val) && val > 0 && val < 1 << 24)) throw new Llama2cError(`${path}: header field '${k}' is ${val}, which is not a plausible size: the file is not a llama2.c checkpoint or is corrupt`);
    }
    if (dim % nHeads !== 0 || nHeads % nKVHeads !== 0) throw new Llama2cError(`${path}: header fields dim ${dim}, n_heads ${nHeads}, n_kv_heads ${nKVHeads} are inconsistent`);
    const hs = dim / nHeads;
    const kvDim = nKVHeads * hs;
    const L = nLayers;
    const sizes = {
      tokEmbedding: [vocab, dim], rmsAtt: [L, dim], wq: [L, dim, dim], wk: [L, kvDim, dim], wv: [L, kvDim, dim], wo: [L, dim, dim],
      rmsFfn: [L, dim], w1: [L, hiddenDim, dim], w2: [L, dim, hiddenDim], w3: [L, hiddenDim, dim], rmsFinal: [dim], wcls: [vocab, dim],
    } as const;
    type Key = keyof typeof sizes;
    const order: Key[] = version === 0
      ? ['tokEmbedding', 'rmsAtt', 'wq', 'wk', 'wv', 'wo', 'rmsFfn', 'w1', 'w2', 'w3', 'rmsFinal']
      : ['rmsAtt', 'rmsFfn', 'rmsFinal', 'tokEmbedding', 'wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'];
    const count = (k: Key) => (sizes[k] as readonly number[]).reduce((a, b) => a * b, 1);
    let expected = offset;
    for (const k of order) expected += 4 * count(k);
    const freqBytes = version === 0 ? 4 * seqLen * hs : 0; // freq_cis_real and _imag: seq_len × head_size/2 each
    expected += freqBytes;
    if (!shared) expected += 4 * count('wcls');
    if (size !== expected) {
      throw new Llama2cError(`${path}: the header (version ${version}, dim ${dim}, hidden_dim ${hiddenDim}, n_layers ${L}, n_heads ${nHeads}, n_kv_heads ${nKVHeads}, vocab_size ${vocab}${shared ? '' : ' unshared'}, seq_len ${seqLen}) implies ${expected} bytes but the file has ${size}: it is truncated or its header is wrong`);
    }
    const read = (k: Key): Tensor => {
      const n = count(k);
      const arr = new Float32Array(n);
      const bytes = new Uint8Array(arr.buffer);
      let done = 0;
      while (done < bytes.length) {
        const r = readSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30), offset + done);
        if (r === 0) throw new Llama2cError(`${path}: unexpected end of file reading ${k}`);
        done += r;
      }
      offset += 4 * n;
      return tensor(arr, [...sizes[k]]);
    };
    const t: Partial<Llama2cCheckpoint['tensors']> = {};
    for (const k of order) t[k] = read(k);
    offset += freqBytes;
    t.wcls = shared ? t.tokEmbedding! : read('wcls');
    return { path, version, dim, hiddenDim, nLayers, nHeads, nKVHeads, vocabSize: vocab, seqLen, sharedClassifier: shared, tensors: t as Llama2cCheckpoint['tensors'] };
  } finally {
    closeSync(fd);
  }
}

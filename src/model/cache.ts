/**
 * The key-value cache for incremental decoding: per layer, preallocated
 * [batch, capacity, kvHeads, dHead] buffers for the rotated keys and the
 * values, the attention mask of every cached position, and each sequence's
 * next position id (so left-padded batches keep correct positions).
 */
import { CandorError } from '../tensor/errors.js';
import { Tensor, tensor } from '../tensor/tensor.js';
import { slice } from '../tensor/ops/shape.js';
import type { ModelConfig } from './config.js';

export class KVCacheError extends CandorError {
  override name = 'KVCacheError';
}

export class KVCache {
  readonly keys: Tensor[];
  readonly values: Tensor[];
  /** 1 where a cached position is a real token, 0 for padding: [batch × capacity] */
  readonly mask: Int32Array;
  /** the position id the next real token of each sequence gets */
  readonly nextPosition: Int32Array;
  length = 0;

  constructor(readonly cfg: ModelConfig, readonly batch: number, readonly capacity: number) {
    this.keys = [];
    this.values = [];
    for (let l = 0; l < cfg.nLayers; l++) {
      // long-lived: plain arrays, never from the buffer pool (a cache made inside noGrad outlives it)
      const n = batch * capacity * cfg.nKVHeads * cfg.dHead;
      this.keys.push(tensor(new Float32Array(n), [batch, capacity, cfg.nKVHeads, cfg.dHead]));
      this.values.push(tensor(new Float32Array(n), [batch, capacity, cfg.nKVHeads, cfg.dHead]));
    }
    this.mask = new Int32Array(batch * capacity);
    this.nextPosition = new Int32Array(batch);
  }

  /** Room for `n` more positions? */
  ensure(n: number, batch: number): void {
    if (batch !== this.batch) throw new KVCacheError(`KV cache was made for batch ${this.batch}, got a batch of ${batch}`);
    if (this.length + n > this.capacity) {
      throw new KVCacheError(`KV cache holds ${this.capacity} positions; ${this.length} are used and ${n} more were given. Fix: create the cache with a larger capacity.`);
    }
  }

  /** Copy this step's keys/values [batch, n, kvHeads, dHead] into positions [length, length+n). */
  write(layer: number, k: Tensor, v: Tensor): void {
    const n = k.shape[1]!;
    const row = this.cfg.nKVHeads * this.cfg.dHead;
    for (const [src, dst] of [[k, this.keys[layer]!], [v, this.values[layer]!]] as const) {
      const s = src.isContiguous() ? src : null;
      const sd = (s ?? src).data as Float32Array;
      const dd = dst.data as Float32Array;
      for (let b = 0; b < this.batch; b++) {
        for (let t = 0; t < n; t++) {
          const to = (b * this.capacity + this.length + t) * row;
          if (s !== null) {
            const from = s.offset + (b * n + t) * row;
            dd.set(sd.subarray(from, from + row), to);
          } else {
            for (let j = 0; j < row; j++) {
              const h = Math.floor(j / this.cfg.dHead);
              const d = j % this.cfg.dHead;
              dd[to + j] = sd[src.offset + b * src.strides[0]! + t * src.strides[1]! + h * src.strides[2]! + d * src.strides[3]!]!;
            }
          }
        }
      }
    }
  }

  /** Cached keys and values of `layer` for positions [0, total): views, no copy. */
  view(layer: number, total: number): { k: Tensor; v: Tensor } {
    return { k: slice(this.keys[layer]!, 1, 0, total), v: slice(this.values[layer]!, 1, 0, total) };
  }
}

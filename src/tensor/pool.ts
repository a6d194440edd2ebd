/**
 * Buffers and scopes.
 *
 * Every tensor's elements live in a Storage. Outside a scope, storages are
 * ordinary garbage-collected typed arrays. Inside a scope (`noGrad(fn)` opens
 * one, as does `scope(fn)`), every storage allocated is tracked; when the scope
 * ends, those not reachable from its return value (and not `keep()`-ed) go back
 * to a size-keyed pool and are handed out again to later ops. A tensor whose
 * storage was returned to the pool throws DisposedTensorError if used again,
 * so buffer reuse can never silently yield wrong numbers.
 *
 * If gradients are recorded inside a scope (enableGrad within noGrad), the
 * scope releases nothing: the graph may hold saved tensors. A training step
 * is the exception: `stepScope(fn)` is for a function that records a graph,
 * runs backward and updates the weights, after which nothing uses the graph;
 * it recycles everything fn made and did not return, graph included, so that
 * step after step reuses the same buffers instead of fresh zero-filled ones.
 */
import { DisposedTensorError } from './errors.js';

export type DType = 'float32' | 'float64' | 'int32';
export type FloatArray = Float32Array | Float64Array;
export type AnyArray = Float32Array | Float64Array | Int32Array;

export class Storage {
  /** null once released to the pool */
  private buf: AnyArray | null;
  /** kept storages are never released by a scope */
  kept = false;
  constructor(buf: AnyArray, readonly pooled: boolean) {
    this.buf = buf;
  }
  get data(): AnyArray {
    const b = this.buf;
    if (b === null) {
      throw new DisposedTensorError(
        'this tensor was created inside a noGrad()/scope() block and its buffer has been reused since the block ended. ' +
          'Fix: return it from the block, or call keep(tensor) inside the block.',
      );
    }
    return b;
  }
  get released(): boolean {
    return this.buf === null;
  }
  /** @internal */
  take(): AnyArray | null {
    const b = this.buf;
    this.buf = null;
    return b;
  }
}

// free buffers beyond a forward pass's working set only add to the peak: on a Qwen2.5-0.5B-shaped audit
// a 1 GiB pool raised peak memory from 2.07× to 2.51× the weights, at the same speed (bench:audit --quick)
const POOL_LIMIT_BYTES = Number(process.env.CANDOR_POOL_MB ?? 256) * 1024 * 1024;
let pooledBytes = 0;
const free: Record<DType, Map<number, AnyArray[]>> = {
  float32: new Map(),
  float64: new Map(),
  int32: new Map(),
};

function dtypeOf(a: AnyArray): DType {
  return a instanceof Float32Array ? 'float32' : a instanceof Float64Array ? 'float64' : 'int32';
}

function fresh(dtype: DType, size: number): AnyArray {
  return dtype === 'float32' ? new Float32Array(size) : dtype === 'float64' ? new Float64Array(size) : new Int32Array(size);
}

interface ScopeFrame {
  tracked: Storage[];
  tainted: boolean;
  /** this frame, or one it is nested in, is a stepScope: buffers a graph held still reach it */
  collectsGraphs: boolean;
  /** a stepScope's kept-for-the-step buffers (gradients), recycled when the step ends */
  stepKept: Storage[];
}
const scopes: ScopeFrame[] = [];

/**
 * A storage of `size` elements. `zero` asks for zero-filled memory; ops that
 * write every element pass false.
 */
export function allocStorage(dtype: DType, size: number, zero: boolean): Storage {
  const frame = scopes.length > 0 ? scopes[scopes.length - 1]! : null;
  if (frame === null) return new Storage(fresh(dtype, size), false);
  const list = free[dtype].get(size);
  let buf: AnyArray;
  if (list !== undefined && list.length > 0) {
    buf = list.pop()!;
    pooledBytes -= buf.byteLength;
    if (zero) buf.fill(0);
  } else {
    buf = fresh(dtype, size);
  }
  const s = new Storage(buf, true);
  frame.tracked.push(s);
  pooledOwner.set(buf.buffer, s);
  return s;
}

/** The pooled storage currently holding an ArrayBuffer (so wrapping its array can keep it alive). */
const pooledOwner = new WeakMap<ArrayBufferLike, Storage>();

/**
 * Storage for an existing array. If the array is (part of) a pooled buffer
 * still in use, that buffer is kept out of the pool for good: a tensor made
 * from `.data` must never see its elements reused.
 */
export function storageForArray(buf: AnyArray): Storage {
  const owner = pooledOwner.get(buf.buffer);
  if (owner !== undefined && !owner.released) owner.kept = true;
  return new Storage(buf, false);
}

/** Wrap an existing array (never pooled, never released). */
export function wrapStorage(buf: AnyArray): Storage {
  return new Storage(buf, false);
}

function release(s: Storage): void {
  const buf = s.take();
  if (buf === null) return;
  if (pooledBytes + buf.byteLength > POOL_LIMIT_BYTES) return;
  const dt = dtypeOf(buf);
  let list = free[dt].get(buf.length);
  if (list === undefined) {
    list = [];
    free[dt].set(buf.length, list);
  }
  list.push(buf);
  pooledBytes += buf.byteLength;
}

/** Called by the autograd recorder: a scope with a recorded graph frees nothing. */
export function taintScopes(): void {
  for (const f of scopes) f.tainted = true;
}

export function scopeDepth(): number {
  return scopes.length;
}

/** Storages reachable from a value: tensors, arrays, Maps and plain objects of them. */
export type StorageCollector = (value: unknown, into: Set<Storage>) => void;
let collect: StorageCollector = () => {};
/** @internal the tensor module registers how to find storages inside values */
export function setStorageCollector(c: StorageCollector): void {
  collect = c;
}

export function markKept(s: Storage): void {
  s.kept = true;
}

/**
 * Keep a buffer past the end of every scope (as markKept), except that the
 * innermost enclosing stepScope recycles it when the step ends: gradients are
 * kept this way, so that a step's gradients are reused by the next step.
 */
export function markKeptForStep(s: Storage): void {
  s.kept = true;
  for (let i = scopes.length - 1; i >= 0; i--) {
    if (scopes[i]!.stepKept !== NO_STEP) {
      scopes[i]!.stepKept.push(s);
      return;
    }
  }
}
/** the stepKept list of frames that are not stepScopes (never written to) */
const NO_STEP: Storage[] = [];

/**
 * Run fn in a buffer scope: storages it allocates and does not return are
 * recycled when it ends. Returned storages move to the enclosing scope.
 */
export function scope<T>(fn: () => T): T {
  return runScope(fn, false);
}

/**
 * Run one training step (forward, backward, optimizer update) in a buffer
 * scope that recycles what the step made and does not return, although the
 * step recorded a graph. The caller promises that nothing uses that graph, or
 * any tensor the step made and did not return, once fn has returned (a tensor
 * used anyway throws DisposedTensorError; it never reads reused numbers).
 * Gradients left on parameters are such tensors: clear them inside fn.
 */
export function stepScope<T>(fn: () => T): T {
  return runScope(fn, true);
}

function runScope<T>(fn: () => T, releasesGraph: boolean): T {
  const outer = scopes.length > 0 ? scopes[scopes.length - 1]! : null;
  const frame: ScopeFrame = { tracked: [], tainted: false, collectsGraphs: releasesGraph || (outer?.collectsGraphs ?? false), stepKept: releasesGraph ? [] : NO_STEP };
  scopes.push(frame);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    // on error nothing is recycled: what the block made is left to the garbage collector
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    throw new TypeError('scope()/noGrad() take a synchronous function; await outside the block.');
  }
  const parent = scopes.length > 0 ? scopes[scopes.length - 1]! : null;
  if (frame.tainted && !releasesGraph) {
    // a recorded graph may hold any of these buffers: none is recycled here. Inside a stepScope
    // they move up to be recycled when the step ends; otherwise they are left to the garbage
    // collector (and the enclosing scope holds no reference, so a long loop cannot pile them up)
    if (parent !== null) {
      parent.tainted = true;
      if (parent.collectsGraphs) for (const s of frame.tracked) if (!s.released && !s.kept) parent.tracked.push(s);
    }
    return result;
  }
  const live = new Set<Storage>();
  collect(result, live);
  for (const s of frame.stepKept) if (!live.has(s)) release(s);
  for (const s of frame.tracked) {
    if (s.released) continue;
    if (live.has(s) || s.kept) {
      if (parent !== null && !s.kept && (!parent.tainted || parent.collectsGraphs)) parent.tracked.push(s);
      continue;
    }
    release(s);
  }
  return result;
}

/** Bytes currently held in the free pool (for tests and doctor). */
export function poolStats(): { pooledBytes: number; limitBytes: number } {
  return { pooledBytes, limitBytes: POOL_LIMIT_BYTES };
}

/** Drop every pooled buffer. */
export function clearPool(): void {
  for (const m of Object.values(free)) m.clear();
  pooledBytes = 0;
}

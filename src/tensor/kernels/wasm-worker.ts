/**
 * A worker thread of the wasm kernel (see wasm.ts): instantiates the module
 * over the shared memory, counts itself ready, then waits for each new job
 * number and does its part when the job asks for at least tid + 1 threads.
 */
import { workerData } from 'node:worker_threads';
import { CTL, DONE, JOB, NT, READY, SEQ } from './wasm.js';

const { module, memory, tid } = workerData as { module: WebAssembly.Module; memory: WebAssembly.Memory; tid: number };
const run = (new WebAssembly.Instance(module, { env: { memory } }).exports as { run(job: number, tid: number, nt: number): void }).run;
const ctl = new Int32Array(memory.buffer, CTL, 16);

/** How long a worker polls for the next job before it sleeps. */
const SPIN_MS = 0.1;

let seen = Atomics.load(ctl, SEQ);
Atomics.add(ctl, READY, 1);
for (;;) {
  // spin a little first: a forward pass sends jobs back to back, and a futex wake-up costs
  // about as much as a small job
  const until = performance.now() + SPIN_MS;
  while (Atomics.load(ctl, SEQ) === seen && performance.now() < until);
  Atomics.wait(ctl, SEQ, seen);
  const s = Atomics.load(ctl, SEQ);
  if (s === seen) continue;
  seen = s;
  const nt = Atomics.load(ctl, NT);
  if (tid < nt) {
    run(JOB, tid, nt);
    Atomics.add(ctl, DONE, 1);
    Atomics.notify(ctl, DONE);
  }
}

/** Shared by the kernel tests: a gradient to compare across kernels, and a few AdamW steps. */
import * as T from '../../src/tensor/index.js';

/** The gradient of sum(f(w) · probe) with respect to w (a fresh copy of w0). */
export function gradOf(f: (w: T.Tensor) => T.Tensor, w0: T.Tensor, probe: T.Tensor): () => T.Tensor {
  return () => {
    const w = T.tensor(Float32Array.from(w0.toArray()), w0.shape).requireGrad();
    return T.enableGrad(() => {
      T.backward(T.sum(T.mul(f(w), probe)));
      return w.grad!;
    });
  };
}

/** A copy of x after `steps` AdamW steps with gradients (step + 1)·g, the second one clipped by 0.3. */
export function adamSteps(x: T.Tensor, g: T.Tensor, steps: number): () => T.Tensor {
  return () => {
    const p = T.tensor(Float32Array.from(x.toArray()), x.shape).requireGrad();
    const opt = new T.AdamW([p], { lr: 0.01, weightDecay: 0.1 });
    for (let step = 0; step < steps; step++) {
      p.grad = T.tensor(Float32Array.from(g.toArray(), (v) => v * (step + 1)), g.shape);
      opt.step({ gradScale: step === 1 ? 0.3 : 1 });
    }
    return p.detach();
  };
}

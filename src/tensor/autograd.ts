/**
 * Reverse-mode automatic differentiation.
 *
 * While recording is on (the default), each op that has an input requiring a
 * gradient attaches a GradNode to its output: the inputs and a function from
 * the output's gradient to the inputs' gradients. backward()/grad() walk the
 * recorded graph from the output in reverse topological order (the tape),
 * summing gradients where a tensor feeds several ops. Gradients can be taken
 * with respect to any tensor in the graph, intermediate ones included: that is
 * what attribution patching needs (d metric / d activation).
 *
 * noGrad(fn) turns recording off and opens a buffer scope (see pool.ts), so
 * inference records nothing and reuses buffers.
 */
import { AutogradError, ShapeError, fmtShape } from './errors.js';
import { scope, taintScopes } from './pool.js';
import { Tensor, keepForStep, type GradNode } from './tensor.js';
import { addInto, addNew, contiguousCopy, onesLike } from './ops/loops.js';

let recording = true;

export function isGradEnabled(): boolean {
  return recording;
}

/** Run fn without recording gradients, recycling the buffers it does not return. */
export function noGrad<T>(fn: () => T): T {
  const prev = recording;
  recording = false;
  try {
    return scope(fn);
  } finally {
    recording = prev;
  }
}

/** Run fn with recording on (inside a noGrad block, for example). */
export function enableGrad<T>(fn: () => T): T {
  const prev = recording;
  recording = true;
  try {
    return fn();
  } finally {
    recording = prev;
  }
}

/**
 * Attach a graph node to `out` when recording and some input requires a
 * gradient. Returns `out`. Ops call this after computing their result.
 */
export function record(
  out: Tensor,
  op: string,
  inputs: readonly (Tensor | null)[],
  backward: (g: Tensor) => readonly (Tensor | null)[],
): Tensor {
  if (!recording) return out;
  let any = false;
  const used: (Tensor | null)[] = new Array(inputs.length);
  for (let i = 0; i < inputs.length; i++) {
    const t = inputs[i];
    if (t != null && t.requiresGrad) {
      used[i] = t;
      any = true;
    } else used[i] = null;
  }
  if (!any) return out;
  out.requiresGrad = true;
  out.node = { op, inputs: used, backward };
  taintScopes();
  return out;
}

/** Tensors of the graph below `root`, each after every tensor that consumes it. */
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1] = i + 1;
      const child = inputs[i];
      if (child != null && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

function propagate(root: Tensor, seed: Tensor, want: (t: Tensor) => boolean, got: (t: Tensor, g: Tensor) => void): void {
  if (!root.requiresGrad) {
    throw new AutogradError(
      'backward: the output does not depend on any tensor that requires a gradient. ' +
        'Fix: call requireGrad() on the parameters or inputs before computing it, and do not compute it inside noGrad().',
    );
  }
  const order = topoOrder(root);
  // a gradient tensor may be shared by several inputs (add's backward hands g to
  // both sides): sums are taken out of place until the accumulator is our own
  const grads = new Map<Tensor, { g: Tensor; owned: boolean }>();
  grads.set(root, { g: seed, owned: false });
  const prev = recording;
  recording = false;
  try {
    for (const t of order) {
      const entry = grads.get(t);
      if (entry === undefined) continue;
      grads.delete(t);
      const g = entry.g;
      if (want(t)) got(t, g);
      const node: GradNode | null = t.node;
      if (node === null) continue;
      const gin = node.backward(g);
      for (let i = 0; i < node.inputs.length; i++) {
        const inp = node.inputs[i];
        const gi = gin[i];
        if (inp == null || gi == null) continue;
        if (gi.shape.length !== inp.shape.length || gi.shape.some((d, k) => d !== inp.shape[k])) {
          throw new AutogradError(`backward of ${node.op}: gradient shape ${fmtShape(gi.shape)} does not match input shape ${fmtShape(inp.shape)}`);
        }
        const acc = grads.get(inp);
        if (acc === undefined) grads.set(inp, { g: gi, owned: false });
        else if (acc.owned) addInto(acc.g, gi);
        else grads.set(inp, { g: addNew(acc.g, gi), owned: true });
      }
    }
  } finally {
    recording = prev;
  }
}

function seedFor(output: Tensor, gradOutput: Tensor | undefined, fn: string): Tensor {
  if (gradOutput !== undefined) {
    if (gradOutput.shape.length !== output.shape.length || gradOutput.shape.some((d, i) => d !== output.shape[i])) {
      throw new ShapeError(`${fn}: gradOutput shape ${fmtShape(gradOutput.shape)} differs from output shape ${fmtShape(output.shape)}`);
    }
    return gradOutput;
  }
  if (output.size !== 1) {
    throw new ShapeError(`${fn}: output of shape ${fmtShape(output.shape)} is not a scalar. Fix: reduce it (sum, mean) or pass gradOutput.`);
  }
  return onesLike(output);
}

/**
 * Accumulate d output / d t into t.grad for every leaf t that requires a
 * gradient, and for every tensor marked with retainGrad().
 */
export function backward(output: Tensor, gradOutput?: Tensor): void {
  const seed = seedFor(output, gradOutput, 'backward');
  propagate(
    output,
    seed,
    (t) => (t.node === null && t.requiresGrad) || t.retainsGrad,
    (t, g) => {
      // a gradient outlives any buffer scope it is computed in (inside a stepScope: until the step ends)
      if (t.grad === null) t.grad = keepForStep(contiguousCopy(g));
      else addInto(t.grad, g);
    },
  );
}

/**
 * Gradients of `output` with respect to each of `inputs` (leaves or
 * intermediate tensors of its graph), without touching any .grad field. An
 * input the output does not depend on gets a zero gradient.
 */
export function grad(output: Tensor, inputs: readonly Tensor[], gradOutput?: Tensor): Tensor[] {
  const seed = seedFor(output, gradOutput, 'grad');
  const wanted = new Set(inputs);
  const found = new Map<Tensor, Tensor>();
  propagate(output, seed, (t) => wanted.has(t), (t, g) => found.set(t, g));
  return inputs.map((t) => found.get(t) ?? zerosGrad(t));
}

function zerosGrad(t: Tensor): Tensor {
  const z = onesLike(t);
  z.data.fill(0);
  return z;
}

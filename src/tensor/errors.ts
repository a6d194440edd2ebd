/** Typed errors of the tensor core. Messages name the op and the shapes involved. */

export class CandorError extends Error {
  override name = 'CandorError';
}

export class ShapeError extends CandorError {
  override name = 'ShapeError';
}

export class DTypeError extends CandorError {
  override name = 'DTypeError';
}

export class AutogradError extends CandorError {
  override name = 'AutogradError';
}

export class DisposedTensorError extends CandorError {
  override name = 'DisposedTensorError';
}

/** A kernel asked for (CANDOR_KERNEL) that cannot run here, or a kernel setting (CANDOR_THREADS) that is not valid. */
export class KernelUnavailableError extends CandorError {
  override name = 'KernelUnavailableError';
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

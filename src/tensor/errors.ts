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

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

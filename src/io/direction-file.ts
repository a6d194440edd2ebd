/** Direction files: a unit direction (and the raw vector it came from) with where it was found, as safetensors. */
import { CandorError } from '../tensor/errors.js';
import { tensor } from '../tensor/tensor.js';
import { openSafetensors, writeSafetensors } from './safetensors.js';

export class DirectionFileError extends CandorError {
  override name = 'DirectionFileError';
}

export interface DirectionFile {
  /** unit vector, d_model */
  direction: Float32Array;
  /** the un-normalised vector (e.g. μ_target − μ_other); addition uses it */
  vector: Float32Array;
  /** the layer whose resid_pre it was read at, and the position (from the end) */
  layer: number;
  position: number;
  metadata: Record<string, string>;
}

export function saveDirection(path: string, d: DirectionFile): void {
  writeSafetensors(path, { direction: tensor(d.direction, [d.direction.length]), vector: tensor(d.vector, [d.vector.length]) }, {
    metadata: { ...d.metadata, format: 'candor-direction', layer: String(d.layer), position: String(d.position) },
  });
}

export function loadDirection(path: string, dModel?: number): DirectionFile {
  const f = openSafetensors(path);
  try {
    if (f.metadata.format !== 'candor-direction') throw new DirectionFileError(`${path}: metadata field 'format' is ${JSON.stringify(f.metadata.format)}, not "candor-direction". Fix: write it with candor direction find (or saveDirection).`);
    for (const k of ['direction', 'vector']) if (!f.entries.has(k)) throw new DirectionFileError(`${path}: tensor '${k}' is missing`);
    const direction = f.read('direction').toTypedArray() as Float32Array;
    const vector = f.read('vector').toTypedArray() as Float32Array;
    if (dModel !== undefined && direction.length !== dModel) throw new DirectionFileError(`${path}: the direction has ${direction.length} entries but the model's d_model is ${dModel}. Fix: use a direction found on this model.`);
    return { direction, vector, layer: Number(f.metadata.layer), position: Number(f.metadata.position), metadata: { ...f.metadata } };
  } finally {
    f.close();
  }
}

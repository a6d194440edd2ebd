/** candor: the library entry point. */
export * from './tensor/index.js';
export { openSafetensors, writeSafetensors, SafetensorsError } from './io/safetensors.js';
export type { SafetensorsFile, TensorEntry, WriteOptions } from './io/safetensors.js';
export { saveParameters, loadParameters, ParameterLoadError } from './io/params.js';
export { measureGemm } from './tensor/kernels/measure.js';

/**
 * The part of the WebAssembly JavaScript API that the wasm kernel uses. Node
 * has it as a global; TypeScript declares it only in the DOM library, which a
 * Node project does not load.
 */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number; shared?: boolean });
    readonly buffer: SharedArrayBuffer;
    grow(delta: number): number;
  }
  class Global {
    readonly value: unknown;
  }
  function validate(bytes: Uint8Array): boolean;
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
}

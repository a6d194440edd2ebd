/** Every family candor loads, by config.json's model_type. A new family is a file and a line here. */
import type { Family } from './family.js';
import { gemma } from './gemma.js';
import { gemma2 } from './gemma2.js';
import { gemma3_text } from './gemma3_text.js';
import { gpt2 } from './gpt2.js';
import { gpt_neox } from './gpt_neox.js';
import { llama } from './llama.js';
import { mistral } from './mistral.js';
import { mixtral } from './mixtral.js';
import { olmo2 } from './olmo2.js';
import { phi3 } from './phi3.js';
import { qwen2 } from './qwen2.js';
import { qwen3 } from './qwen3.js';
import { qwen3_moe } from './qwen3_moe.js';
import { smollm3 } from './smollm3.js';

export const FAMILIES: Readonly<Record<string, Family>> = Object.fromEntries(
  [gpt2, gpt_neox, llama, mistral, qwen2, gemma, gemma2, qwen3, gemma3_text, phi3, olmo2, smollm3, qwen3_moe, mixtral].map((f) => [f.modelType, f]),
);

/** The family of a model type, or undefined (llama2.c checkpoints have none: they are not Hugging Face models). */
export function familyOf(modelType: string): Family | undefined {
  return Object.hasOwn(FAMILIES, modelType) ? FAMILIES[modelType] : undefined;
}

/** llama.cpp's architecture name for a model of this family (the hint GGUF control vectors carry). */
export function ggufArch(family: string): string {
  const f = familyOf(family);
  return f === undefined ? 'llama' : f.ggufArch ?? f.modelType;
}

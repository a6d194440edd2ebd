/**
 * A tiny randomly initialised chat model whose tokenizer can encode any text:
 * byte-level BPE with no merges (one token per byte, GPT-2's byte-to-unicode
 * alphabet), ChatML special tokens and a ChatML chat template with a system
 * role, as Qwen-style chat models ship it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomModel } from '../../src/model/random.js';
import { saveModel } from '../../src/model/save.js';

export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** GPT-2's reversible map from bytes to printable characters (the ByteLevel alphabet). */
export function byteAlphabet(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const out: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(keep.includes(b) ? b : 256 + extra++);
  return out;
}

/** `arch` overrides config.json fields (another family, experts). */
export function writeByteChatModel(dir: string, seed = 1, layers = 2, arch: Record<string, unknown> = {}): void {
  const alphabet = byteAlphabet();
  const specials = ['<|im_start|>', '<|im_end|>', '<|endoftext|>'];
  const V = 256 + specials.length;
  const model = randomModel(
    { model_type: 'llama', hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 4, num_hidden_layers: layers, intermediate_size: 64, vocab_size: V, max_position_embeddings: 512, eos_token_id: 257, tie_word_embeddings: false, ...arch },
    { seed, std: 0.2 },
  );
  saveModel(model, dir);
  const vocab: Record<string, number> = {};
  alphabet.forEach((c, i) => (vocab[c] = i));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({
    version: '1.0', truncation: null, padding: null,
    added_tokens: specials.map((content, k) => ({ id: 256 + k, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: [] },
  }));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|im_end|>', pad_token: '<|endoftext|>', chat_template: CHATML_TEMPLATE }));
}

/**
 * A tiny randomly initialised chat model folder: Llama weights, a word-level
 * tokenizer.json and a tokenizer_config.json with a chat template.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomModel } from '../../src/model/random.js';
import { saveModel } from '../../src/model/save.js';

export const CHAT_WORDS = ['<unk>', '<s>', '</s>', '<|user|>', '<|assistant|>', 'hello', 'world', 'the', 'capital', 'is', '?', '.', 'paris', 'no'];
export const CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}<|user|> {{ m['content'] }} {% elif m['role'] == 'assistant' %}<|assistant|> {{ m['content'] }} {{ eos_token }} {% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";

export function writeChatModel(dir: string, seed = 1): void {
  const model = randomModel(
    { model_type: 'llama', hidden_size: 16, num_attention_heads: 2, num_key_value_heads: 1, num_hidden_layers: 2, intermediate_size: 32, vocab_size: CHAT_WORDS.length, max_position_embeddings: 64, bos_token_id: 1, eos_token_id: 2 },
    { seed, std: 0.3 },
  );
  saveModel(model, dir);
  const special = [0, 1, 2, 3, 4];
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({
    version: '1.0', truncation: null, padding: null,
    added_tokens: special.map((id) => ({ id, content: CHAT_WORDS[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null, pre_tokenizer: { type: 'WhitespaceSplit' }, post_processor: null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: false },
    model: { type: 'WordLevel', vocab: Object.fromEntries(CHAT_WORDS.map((w, i) => [w, i])), unk_token: '<unk>' },
  }));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', chat_template: CHAT_TEMPLATE }));
}

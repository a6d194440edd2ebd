/**
 * Edge cases of the instruments and their command-line wrappers: token
 * arguments on SentencePiece tokenizers, subjects inside a prompt with
 * byte-level BPE, which lens read-outs a translator applies to, and layer
 * selection with attribution patching.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomModel } from '../src/model/random.js';
import { saveModel } from '../src/model/save.js';
import { loadTokenizer } from '../src/io/tokenizer.js';
import { LensError, logitLens } from '../src/methods/lens.js';
import { TunedLens } from '../src/methods/tuned-lens.js';
import { lensCommand, tokenArg } from '../src/cli/localisation.js';
import { writeChatModel } from './helpers/chat-model.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'candor-edge-'));
const gpt2Tokenizer = join(root, '..', 'shared', 'fixtures', 'gpt2-tokenizer', 'tokenizer.json');

function candor(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'candor.js'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

// ---------------------------------------------------------------------------
// CLI: token arguments on a SentencePiece-style (Llama 2 / Mistral) tokenizer

/** A Llama-2-style tokenizer.json: a "▁" is prepended and spaces become "▁"; the vocabulary has both "I" and "▁I". */
const SP_WORDS = ['<unk>', '<s>', '</s>', '▁', 'I', '▁I', 'S', 'o', 'r', 'y', '▁S', '▁So', '▁Sorry', 'Sorry', 'P', 'a', 'i', 's', '▁P', '▁Pa', '▁Paris', 'Paris'];
function writeSentencePieceTokenizer(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({
    version: '1.0', truncation: null, padding: null,
    added_tokens: [0, 1, 2].map((id) => ({ id, content: SP_WORDS[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null, post_processor: null,
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: {
      type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: false,
      vocab: Object.fromEntries(SP_WORDS.map((w, i) => [w, i])),
      merges: ['▁ I', '▁ S', '▁S o', 'r r', 'o rr', '▁So rr', '▁Sorr y', '▁ P', '▁P a', 'r i', 'ri s', '▁Pa ris', 'S o', 'So rr', 'Sorr y', 'P a', 'Pa ris'],
    },
  }));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', add_bos_token: true }));
}

test('CLI token arguments resolve a word as the tokenizer encodes it (SentencePiece: "I" → "▁I", not the word-internal piece)', () => {
  const dir = join(tmp, 'sp');
  writeSentencePieceTokenizer(dir);
  const model = randomModel({ model_type: 'llama', hidden_size: 16, num_attention_heads: 2, num_key_value_heads: 1, num_hidden_layers: 2, intermediate_size: 32, vocab_size: SP_WORDS.length, max_position_embeddings: 32 }, { seed: 1 });
  model.tokenizer = loadTokenizer(dir);
  for (const word of ['I', 'Sorry', 'Paris']) {
    const encoded = model.tokenizer.encode(word, { addSpecialTokens: false });
    assert.equal(encoded.length, 1, `the fixture encodes ${word} as one token`);
    const got = tokenArg(model, { target: word }, 'target', lensCommand);
    // what transformers' tokenizer.encode / TransformerLens' to_single_token give, and what the model predicts after a space
    assert.equal(got, encoded[0], `--target ${word}: got "${SP_WORDS[got!]}" (${got}), the tokenizer encodes it as "${SP_WORDS[encoded[0]!]}" (${encoded[0]})`);
  }
});

// ---------------------------------------------------------------------------
// CLI: trace --subject with a byte-level BPE tokenizer

test('trace --subject finds a subject in the middle of the prompt with a byte-level BPE tokenizer (GPT-2)', { skip: existsSync(gpt2Tokenizer) ? false : '../shared/fixtures is absent' }, () => {
  const dir = join(tmp, 'gpt2');
  const model = randomModel({ model_type: 'gpt2', n_embd: 16, n_head: 2, n_layer: 1, n_positions: 32, vocab_size: 50257 }, { seed: 2, std: 0.1 });
  saveModel(model, dir);
  copyFileSync(gpt2Tokenizer, join(dir, 'tokenizer.json'));
  // "The| E|iff|el| Tower| is| located| in": the subject's tokens carry the leading space of their place in the prompt
  const r = candor('trace', '--model', dir, '--prompt', 'The Eiffel Tower is located in', '--subject', 'Eiffel Tower', '--samples', '2', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as { corrupt: number[] }).corrupt, [1, 2, 3, 4]);
});

// ---------------------------------------------------------------------------
// logit lens with a tuned-lens translator

test('logitLens with a translator never reports an untranslated read-out as tuned (resid_mid; resid_pre of layer 0)', () => {
  const model = randomModel({ model_type: 'llama', hidden_size: 16, num_attention_heads: 2, num_key_value_heads: 1, num_hidden_layers: 3, intermediate_size: 32, vocab_size: 30, max_position_embeddings: 32 }, { seed: 3, std: 0.3 });
  const lens = TunedLens.identity(model);
  for (const b of lens.b) for (let i = 0; i < b.data.length; i++) b.data[i] = 5 * Math.sin(i + 1);
  const ids = [3, 17, 9, 8, 21];
  const opts = { sites: ['resid_pre', 'resid_mid', 'resid_post'] as const, targets: [5] };
  const plain = logitLens(model, ids, { ...opts, sites: [...opts.sites] });
  let tuned;
  try {
    tuned = logitLens(model, ids, { ...opts, sites: [...opts.sites], translator: lens.translator });
  } catch (e) {
    assert.ok(e instanceof LensError, `refusing is fine, with a LensError: ${String(e)}`);
    return;
  }
  assert.equal(tuned.translated, true);
  const silent: string[] = [];
  tuned.entries.forEach((e, i) => {
    const untouched = e.targets[0]!.prob === plain.entries[i]!.targets[0]!.prob;
    const isIdentity = e.site === 'resid_post' && e.layer === model.cfg.nLayers - 1; // the model's own read-out
    const flagged = (e as unknown as { translated?: boolean }).translated === false;
    if (untouched && !isIdentity && !flagged) silent.push(`layer ${e.layer} ${e.site}`);
  });
  assert.deepEqual(silent, [], 'entries read through the plain logit lens although the result says translated: true');
});

// ---------------------------------------------------------------------------
// CLI: patch --attribution and --layers

test('patch --attribution honours --layers (the grid has the requested layers only)', () => {
  const dir = join(tmp, 'chat');
  writeChatModel(dir, 3);
  const r = candor('patch', '--model', dir, '--source', 'the capital is paris', '--dest', 'the capital is world', '--metric', 'prob', '--target', 'paris', '--attribution', '--layers', '1', '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { values: number[][]; labels: number[][] };
  assert.deepEqual(j.labels[0], [1], `layers of the grid: ${JSON.stringify(j.labels[0])}`);
  assert.equal(j.values.length, 1);
});

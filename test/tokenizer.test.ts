/**
 * Tokenizers and chat templates: the GPT-2 tokenizer against llama.cpp's 47
 * test vectors, the llama2.c tokenizer against ids produced by llama2.c's
 * run.c, chat templates rendered from a tokenizer_config.json written here,
 * and the errors bad files give. Tests that need ../shared skip without it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenizer, loadLlama2cTokenizer, TokenizerError, type ChatMessage } from '../src/io/tokenizer.js';
import { CandorError } from '../src/tensor/errors.js';
import { byteAlphabet } from './helpers/byte-chat-model.js';

const shared = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared');
const gpt2Dir = join(shared, 'fixtures', 'gpt2-tokenizer');
const storiesDir = join(shared, 'fixtures', 'stories260K');
const tmp = mkdtempSync(join(tmpdir(), 'candor-tok-'));
const noShared = (what: string) => `skipped: ${what} not found (the ../shared fixtures folder is absent)`;

/** Assert that fn throws a TokenizerError whose message matches every pattern. */
function throwsTok(fn: () => unknown, ...patterns: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TokenizerError, `expected TokenizerError, got ${String(e)}`);
    assert.ok(e instanceof CandorError);
    assert.equal(e.name, 'TokenizerError');
    for (const p of patterns) {
      if (typeof p === 'string') assert.ok(e.message.includes(p), `message lacks ${JSON.stringify(p)}: ${e.message}`);
      else assert.match(e.message, p);
    }
    assert.match(e.message, /Fix: /);
    return true;
  });
}

// ---------------------------------------------------------------------------
// GPT-2 (tokenizer.json through @huggingface/tokenizers)

test('GPT-2: all 47 test vectors encode to the expected ids and decode back to the input', (t) => {
  if (!existsSync(join(gpt2Dir, 'tokenizer.json'))) return t.skip(noShared(gpt2Dir));
  const tok = loadTokenizer(gpt2Dir);
  // The file ends with the separator, so the last split element is the empty
  // input, paired with the empty last line of tests.out.
  const inputs = readFileSync(join(gpt2Dir, 'tests.inp'), 'utf8').split('\n__ggml_vocab_test__\n');
  const outputs = readFileSync(join(gpt2Dir, 'tests.out'), 'utf8').split('\n');
  assert.equal(inputs.length, 47);
  assert.equal(outputs.length, 47);
  let passed = 0;
  const failures: string[] = [];
  inputs.forEach((text, i) => {
    const line = outputs[i]!.trim();
    const expected = line === '' ? [] : line.split(/\s+/).map(Number);
    const ids = tok.encode(text, { addSpecialTokens: false });
    const back = tok.decode(ids);
    if (JSON.stringify(ids) === JSON.stringify(expected) && back === text) passed++;
    else failures.push(`#${i} ${JSON.stringify(text)}: ids ${ids.join(' ')} vs ${expected.join(' ')}; decoded ${JSON.stringify(back)}`);
  });
  assert.deepEqual(failures, []);
  assert.equal(passed, 47);
});

test('GPT-2: vocabulary, special tokens and decode options', (t) => {
  if (!existsSync(join(gpt2Dir, 'tokenizer.json'))) return t.skip(noShared(gpt2Dir));
  const tok = loadTokenizer(join(gpt2Dir, 'tokenizer.json')); // a file path works as well as the folder
  assert.equal(tok.vocabSize, 50257);
  // no tokenizer_config.json: GPT-2's convention, <|endoftext|> is BOS and EOS
  assert.equal(tok.bosTokenId, 50256);
  assert.equal(tok.eosTokenId, 50256);
  assert.equal(tok.padTokenId, null);
  assert.equal(tok.chatTemplate, null);
  assert.deepEqual(tok.encode('Hello world'), [15496, 995]); // GPT-2 adds no special tokens
  assert.equal(tok.idToToken(995), 'Ġworld');
  assert.equal(tok.tokenToId('Ġworld'), 995);
  assert.equal(tok.tokenToId('no such token'), null);
  assert.equal(tok.idToToken(50257), null);
  assert.deepEqual(tok.encode('Hi<|endoftext|>'), [17250, 50256]);
  assert.equal(tok.decode([17250, 50256]), 'Hi<|endoftext|>');
  assert.equal(tok.decode([17250, 50256], { skipSpecialTokens: true }), 'Hi');
  assert.equal(tok.decode([]), '');
  // no space clean-up: " 's" and " ," survive a round trip
  assert.equal(tok.decode(tok.encode("it 's a , b")), "it 's a , b");
  throwsTok(() => tok.decode([15496, 50257]), 'id 50257 at position 1', '[0, 50257)');
  throwsTok(() => tok.decode([1.5]), 'id 1.5');
  throwsTok(() => tok.applyChatTemplate([{ role: 'user', content: 'hi' }]), 'tokenizer_config.json', 'chat_template');
  // GPT-2's tokenizer_config.json on the Hub names no special tokens: same defaults; an explicit null stays null
  const d = join(tmp, 'gpt2-hub-config');
  mkdirSync(d);
  copyFileSync(join(gpt2Dir, 'tokenizer.json'), join(d, 'tokenizer.json'));
  writeFileSync(join(d, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 1024 }));
  assert.equal(loadTokenizer(d).eosTokenId, 50256);
  writeFileSync(join(d, 'tokenizer_config.json'), JSON.stringify({ bos_token: null, eos_token: '<|endoftext|>' }));
  assert.equal(loadTokenizer(d).bosTokenId, null);
  assert.equal(loadTokenizer(d).eosTokenId, 50256);
});

// ---------------------------------------------------------------------------
// llama2.c tokenizer .bin

// The 200 ids llama2.c's run.c samples greedily from BOS with stories260K.bin;
// printed (after BOS the leading space is dropped) they are expected-greedy-200.txt.
const GREEDY_200 = `403 407 261 378 432 383 286 261 376 298 315 421 395 317 426 338 401 396 267 337 410 408 419 292 411 322 265 282 295 433
426 385 328 432 358 394 261 370 432 352 266 268 388 426 338 391 266 267 337 335 312 432 398 312 286 267 414 270 333 415 426 13 438 310
439 419 357 336 432 313 438 310 432 278 316 439 419 298 414 267 265 282 295 433 426 436 317 286 296 418 269 279 292 416 439 413 409 416
327 263 415 294 267 400 426 338 336 432 313 442 391 267 337 335 364 420 268 388 432 398 359 280 303 439 413 272 417 264 312 426 436 13
438 310 286 296 418 269 279 292 416 439 413 409 416 327 263 415 294 267 400 426 338 336 432 313 442 439 423 262 304 420 422 432 317 426
359 279 292 416 439 413 409 416 327 263 415 294 267 400 426 436 13 438 310 279 292 416 439 413 391 267 281 421 427 311 357 432 384 358`
  .split(/\s+/)
  .map(Number);

// run.c's encode(tokenizer, text, bos=1, eos=0) on tok512.bin
const RUNC_ENCODE: [string, number[]][] = [
  ['', [1]],
  ['a', [1, 261]],
  ['Hello world', [1, 346, 306, 414, 263, 304, 341]],
  [`Lily's mom said, "Let's go!"`, [1, 317, 439, 419, 357, 336, 432, 313, 438, 316, 439, 419, 298, 414, 443, 436]],
  ['é ü 😀 中', [1, 410, 485, 410, 198, 191, 410, 243, 162, 155, 131, 410, 231, 187, 176]],
  ['  two  spaces\n\ttab', [1, 410, 410, 259, 424, 414, 410, 262, 427, 412, 331, 419, 13, 12, 413, 412, 430]],
];

test('llama2.c tokenizer: the 200 greedy tokens of run.c decode to expected-greedy-200.txt, and encoding it gives them back', (t) => {
  if (!existsSync(join(storiesDir, 'tok512.bin'))) return t.skip(noShared(storiesDir));
  const tok = loadLlama2cTokenizer(join(storiesDir, 'tok512.bin'), 512);
  const expected = readFileSync(join(storiesDir, 'expected-greedy-200.txt'), 'utf8');
  assert.equal(GREEDY_200.length, 200);
  assert.equal(tok.decode([1, ...GREEDY_200], { skipSpecialTokens: true }), expected);
  assert.equal(tok.decode([1, ...GREEDY_200]), '<s>' + expected);
  assert.deepEqual(tok.encode(expected), [1, ...GREEDY_200]);
  // without BOS before it, the first piece keeps its space
  assert.equal(tok.decode(GREEDY_200.slice(0, 4)), ' Once upon a time');
  assert.equal(tok.decode([1, 403, 407]), '<s>Once upon');
});

test('llama2.c tokenizer: encode matches run.c, byte fallback, pieces and round trips', (t) => {
  if (!existsSync(join(storiesDir, 'tok512.bin'))) return t.skip(noShared(storiesDir));
  const tok = loadLlama2cTokenizer(join(storiesDir, 'tok512.bin'), 512);
  assert.equal(tok.vocabSize, 512);
  assert.equal(tok.bosTokenId, 1);
  assert.equal(tok.eosTokenId, 2);
  assert.equal(tok.padTokenId, null);
  assert.equal(tok.chatTemplate, null);
  for (const [text, ids] of RUNC_ENCODE) {
    assert.deepEqual(tok.encode(text), ids, JSON.stringify(text));
    assert.deepEqual(tok.encode(text, { addSpecialTokens: false }), ids.slice(1));
    assert.equal(tok.decode(ids, { skipSpecialTokens: true }), text);
  }
  assert.equal(tok.idToToken(0), '<unk>');
  assert.equal(tok.idToToken(1), '\n<s>\n');
  assert.equal(tok.idToToken(13), '<0x0A>');
  assert.equal(tok.idToToken(403), ' Once');
  assert.equal(tok.tokenToId(' Once'), 403);
  assert.equal(tok.tokenToId('<0x0A>'), 13);
  assert.equal(tok.tokenToId('zzzzzz'), null);
  assert.equal(tok.idToToken(512), null);
  // byte tokens are raw bytes: 😀 = F0 9F 98 80 = ids 0xF0+3 ...
  assert.equal(tok.decode([0xf0 + 3, 0x9f + 3, 0x98 + 3, 0x80 + 3]), '😀');
  assert.equal(tok.decode([13]), '\n');
  assert.equal(tok.decode([1, 13]), '<s>\n');
  assert.equal(tok.decode([1, 2, 0], { skipSpecialTokens: true }), '');
  assert.equal(tok.decode([]), '');
  for (const s of ['Once upon a time.', ' leading space', 'tabs\tand\nnewlines\n', 'Ünïcödé 🦙🦙 日本語', '<0x41> <s> </s>', 'x'.repeat(5000)]) {
    assert.equal(tok.decode(tok.encode(s), { skipSpecialTokens: true }), s, JSON.stringify(s.slice(0, 40)));
  }
  throwsTok(() => tok.decode([512]), 'tok512.bin', 'id 512');
  throwsTok(() => tok.applyChatTemplate([{ role: 'user', content: 'hi' }]), 'tok512.bin', 'chat template');
  throwsTok(() => tok.encode(42 as unknown as string), 'text must be a string');
});

test('llama2.c tokenizer: a 46,000-character text encodes fast (no quadratic rescans) and round-trips', (t) => {
  if (!existsSync(join(storiesDir, 'tok512.bin'))) return t.skip(noShared(storiesDir));
  const tok = loadLlama2cTokenizer(join(storiesDir, 'tok512.bin'), 512);
  const expected = readFileSync(join(storiesDir, 'expected-greedy-200.txt'), 'utf8');
  const long = (expected + '\n').repeat(100);
  const t0 = performance.now();
  const ids = tok.encode(long, { addSpecialTokens: false });
  const ms = performance.now() - t0;
  assert.ok(ms < 2000, `encoding ${long.length} characters took ${ms.toFixed(0)} ms`);
  assert.equal(tok.decode([1, ...ids], { skipSpecialTokens: true }), long);
});

test('llama2.c tokenizer: a wrong vocab size or a damaged file is a TokenizerError naming the file and the fix', (t) => {
  if (!existsSync(join(storiesDir, 'tok512.bin'))) return t.skip(noShared(storiesDir));
  const path = join(storiesDir, 'tok512.bin');
  throwsTok(() => loadLlama2cTokenizer(path, 32000), path, 'only 512 tokens', 'vocabSize');
  throwsTok(() => loadLlama2cTokenizer(path, 500), path, 'remain after 500 tokens', 'vocab_size');
  throwsTok(() => loadLlama2cTokenizer(path, 0), 'vocabSize 0');
  throwsTok(() => loadLlama2cTokenizer(join(tmp, 'nope.bin'), 512), 'nope.bin', 'ENOENT');
  const bytes = readFileSync(path);
  const cut = join(tmp, 'cut.bin');
  writeFileSync(cut, bytes.subarray(0, 1000));
  throwsTok(() => loadLlama2cTokenizer(cut, 512), cut, 'token');
  const bad = join(tmp, 'bad.bin');
  const b = Buffer.from(bytes);
  b.writeInt32LE(0, 0);
  writeFileSync(bad, b);
  throwsTok(() => loadLlama2cTokenizer(bad, 512), bad, 'max_token_length');
});

// ---------------------------------------------------------------------------
// Hugging Face tokenizer written here: byte-level BPE with added special tokens

const byteChars = byteAlphabet;

const SPECIALS = ['<s>', '</s>', '<|im_start|>', '<|im_end|>', '<pad>'];

function tinyTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  byteChars().forEach((c, i) => (vocab[c] = i));
  vocab['Hi'] = 256;
  vocab['Ġt'] = 257;
  return {
    version: '1.0',
    added_tokens: SPECIALS.map((content, k) => ({ id: 258 + k, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges: ['H i', 'Ġ t'] },
  };
}

let dirCount = 0;
function modelDir(config: Record<string, unknown> | string | null, tokenizerJson: unknown = tinyTokenizerJson()): string {
  const dir = join(tmp, `model${dirCount++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'tokenizer.json'), typeof tokenizerJson === 'string' ? tokenizerJson : JSON.stringify(tokenizerJson));
  if (config !== null) writeFileSync(join(dir, 'tokenizer_config.json'), typeof config === 'string' ? config : JSON.stringify(config));
  return dir;
}

const LLAMA2_TEMPLATE =
  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}" +
  '{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}' +
  '{% for message in loop_messages %}' +
  "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}" +
  "{% else %}{% set content = message['content'] %}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}" +
  "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}" +
  '{% endfor %}';

// multi-line, relying on trim_blocks / lstrip_blocks and {%- -%} like real templates
const CHATML_TEMPLATE = `{%- for message in messages %}
    {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
`;

const conversation: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: ' Hello! ' },
  { role: 'user', content: 'Bye' },
];

test('tokenizer_config.json: special tokens as strings or AddedToken objects, add_bos_token, pad', () => {
  const dir = modelDir({
    bos_token: { content: '<s>', lstrip: false, normalized: false, rstrip: false, single_word: false, __type: 'AddedToken' },
    eos_token: '</s>',
    pad_token: '<pad>',
    unk_token: null,
    add_bos_token: true,
    add_eos_token: false,
  });
  const tok = loadTokenizer(dir);
  assert.equal(tok.vocabSize, 263);
  assert.equal(tok.bosTokenId, 258);
  assert.equal(tok.eosTokenId, 259);
  assert.equal(tok.padTokenId, 262);
  // ids 0..255 are the bytes (ByteLevel characters), 256 = "Hi", 257 = "Ġt"
  assert.deepEqual(tok.encode('Hi to'), [258, 256, 257, 'o'.charCodeAt(0)]);
  assert.deepEqual(tok.encode('Hi to', { addSpecialTokens: false }), [256, 257, 'o'.charCodeAt(0)]);
  assert.equal(tok.tokenToId('H'), 'H'.charCodeAt(0));
  assert.equal(tok.idToToken(32), 'Ġ');
  assert.equal(tok.decode(tok.encode('Hi to')), '<s>Hi to');
  assert.equal(tok.decode(tok.encode('Hi to'), { skipSpecialTokens: true }), 'Hi to');
  // special tokens in the text are single ids
  assert.deepEqual(tok.encode('<|im_start|>Hi<|im_end|>', { addSpecialTokens: false }), [260, 256, 261]);
  // add_bos_token false removes a BOS that the post-processor would add
  const withPost = tinyTokenizerJson();
  withPost.post_processor = {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: { '<s>': { id: '<s>', ids: [258], tokens: ['<s>'] } },
  };
  assert.deepEqual(loadTokenizer(modelDir({ bos_token: '<s>' }, withPost)).encode('Hi'), [258, 256]);
  assert.deepEqual(loadTokenizer(modelDir({ bos_token: '<s>', add_bos_token: false }, withPost)).encode('Hi'), [256]);
  // ... and without tokenizer_config.json, BOS comes from that post-processor
  const bare = loadTokenizer(modelDir(null, withPost));
  assert.equal(bare.bosTokenId, 258);
  assert.equal(bare.eosTokenId, null);
});

test('chat template (Llama-2 style): system message, bos/eos tokens, alternation enforced by raise_exception', () => {
  const dir = modelDir({ bos_token: '<s>', eos_token: '</s>', chat_template: LLAMA2_TEMPLATE });
  const tok = loadTokenizer(dir);
  assert.equal(tok.chatTemplate, LLAMA2_TEMPLATE);
  assert.equal(
    tok.applyChatTemplate(conversation),
    '<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Bye [/INST]',
  );
  assert.equal(tok.applyChatTemplate([{ role: 'user', content: ' Hi ' }], { addGenerationPrompt: true }), '<s>[INST] Hi [/INST]');
  throwsTok(
    () => tok.applyChatTemplate([{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }]),
    join(dir, 'tokenizer_config.json'),
    'chat_template',
    'Conversation roles must alternate',
  );
  // the rendered prompt tokenizes with the special tokens as single ids
  const ids = tok.encode(tok.applyChatTemplate([{ role: 'user', content: 'Hi' }]), { addSpecialTokens: false });
  assert.equal(ids[0], 258);
});

test('chat template (ChatML style): add_generation_prompt true and false', () => {
  const tok = loadTokenizer(modelDir({ eos_token: '<|im_end|>', chat_template: CHATML_TEMPLATE }));
  const msgs: ChatMessage[] = [
    { role: 'system', content: 'You are helpful.' },
    { role: 'user', content: 'Hi' },
  ];
  const base = '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n';
  assert.equal(tok.applyChatTemplate(msgs), base);
  assert.equal(tok.applyChatTemplate(msgs, { addGenerationPrompt: false }), base);
  assert.equal(tok.applyChatTemplate(msgs, { addGenerationPrompt: true }), base + '<|im_start|>assistant\n');
  assert.equal(tok.eosTokenId, 261);
  const ids = tok.encode(tok.applyChatTemplate(msgs, { addGenerationPrompt: true }));
  assert.deepEqual(ids.filter((id) => id >= 258), [260, 261, 260, 261, 260]);
  assert.equal(tok.decode(ids), base + '<|im_start|>assistant\n');
});

test('chat templates: a named list uses "default", chat_template.jinja wins, extra variables pass through', () => {
  const tok = loadTokenizer(
    modelDir({
      bos_token: '<s>',
      chat_template: [
        { name: 'tool_use', template: 'TOOLS {{ tools | length }} {{ messages[0].content }}' },
        { name: 'default', template: '{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}' },
      ],
    }),
  );
  assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'x' }], { addGenerationPrompt: true }), '<s>[user] x[assistant]');
  assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'x' }], { templateName: 'tool_use', tools: [{}, {}] }), 'TOOLS 2 x');
  throwsTok(() => tok.applyChatTemplate([], { templateName: 'rag' }), 'no template named "rag"', 'tool_use, default');

  const dir = modelDir({ chat_template: 'from config' });
  writeFileSync(join(dir, 'chat_template.jinja'), '{% if think %}T{% endif %}{{ messages | length }}');
  const j = loadTokenizer(dir);
  assert.equal(j.applyChatTemplate([{ role: 'user', content: 'a' }]), '1');
  assert.equal(j.applyChatTemplate([{ role: 'user', content: 'a' }], { extra: { think: true } }), 'T1');
});

test('chat templates: missing, malformed or failing templates are TokenizerErrors naming the file and field', () => {
  const noTemplate = modelDir({ bos_token: '<s>' });
  throwsTok(
    () => loadTokenizer(noTemplate).applyChatTemplate([{ role: 'user', content: 'hi' }]),
    join(noTemplate, 'tokenizer_config.json'),
    'field chat_template is missing',
    'base model',
  );
  const noConfig = modelDir(null);
  throwsTok(() => loadTokenizer(noConfig).applyChatTemplate([{ role: 'user', content: 'hi' }]), join(noConfig, 'tokenizer_config.json'), 'file not found');
  const syntax = modelDir({ chat_template: '{% for m in messages %}{{ m.content }' });
  const s = loadTokenizer(syntax); // a bad template does not stop encode/decode
  assert.deepEqual(s.encode('Hi'), [256]);
  throwsTok(() => s.applyChatTemplate([{ role: 'user', content: 'hi' }]), join(syntax, 'tokenizer_config.json'), 'chat_template', 'Jinja');
  throwsTok(() => loadTokenizer(modelDir({ chat_template: 42 })), 'field chat_template is number');
  throwsTok(() => loadTokenizer(modelDir({ chat_template: [{ name: 'default' }] })), 'chat_template[0]');
  const tok = loadTokenizer(modelDir({ chat_template: CHATML_TEMPLATE }));
  throwsTok(() => tok.applyChatTemplate([{ content: 'no role' } as unknown as ChatMessage]), 'messages[0]');
});

test('bad tokenizer files are TokenizerErrors naming the file, the field and the fix', () => {
  const missingDir = join(tmp, 'does-not-exist');
  throwsTok(() => loadTokenizer(missingDir), missingDir, 'folder not found');

  const empty = join(tmp, 'empty');
  mkdirSync(empty);
  throwsTok(() => loadTokenizer(empty), join(empty, 'tokenizer.json'), 'file not found', 'loadLlama2cTokenizer');
  writeFileSync(join(empty, 'tokenizer.model'), 'x');
  throwsTok(() => loadTokenizer(empty), 'tokenizer.model', 'save_pretrained');

  const truncated = JSON.stringify(tinyTokenizerJson()).slice(0, 500);
  const bad = modelDir(null, truncated);
  throwsTok(() => loadTokenizer(bad), join(bad, 'tokenizer.json'), 'not valid JSON', 'download or copy tokenizer.json again');

  const noModel = tinyTokenizerJson();
  delete noModel.model;
  throwsTok(() => loadTokenizer(modelDir(null, noModel)), 'field model is missing');
  throwsTok(() => loadTokenizer(modelDir(null, '[1, 2]')), 'not a JSON object');

  const unknownModel = tinyTokenizerJson();
  unknownModel.model = { type: 'Martian' };
  throwsTok(() => loadTokenizer(modelDir(null, unknownModel)), 'tokenizer.json', 'field model', 'Martian');

  const badConfig = modelDir('{"bos_token": "<s>",');
  throwsTok(() => loadTokenizer(badConfig), join(badConfig, 'tokenizer_config.json'), 'not valid JSON');
  throwsTok(() => loadTokenizer(modelDir({ bos_token: '<bos>' })), 'field bos_token is "<bos>"', 'not in the vocabulary');
  throwsTok(() => loadTokenizer(modelDir({ eos_token: 7 })), 'field eos_token is 7');
  throwsTok(() => loadTokenizer(modelDir({ add_bos_token: 'yes' })), 'field add_bos_token');

  // the real GPT-2 tokenizer.json with its config damaged, when ../shared is present
  if (existsSync(join(gpt2Dir, 'tokenizer.json'))) {
    const d = join(tmp, 'gpt2-bad-config');
    mkdirSync(d);
    copyFileSync(join(gpt2Dir, 'tokenizer.json'), join(d, 'tokenizer.json'));
    writeFileSync(join(d, 'tokenizer_config.json'), '{"eos_token": "<|endoftext|>", ');
    throwsTok(() => loadTokenizer(d), join(d, 'tokenizer_config.json'), 'not valid JSON');
  }
});

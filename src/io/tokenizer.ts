/**
 * Tokenizers and chat templates.
 *
 * - Hugging Face tokenizers: `loadTokenizer(dir)` reads `tokenizer.json` (and
 *   `tokenizer_config.json`, `chat_template.jinja` when present). Normalizers,
 *   pre-tokenizers, BPE/Unigram/WordPiece models, post-processors and decoders
 *   are all `@huggingface/tokenizers`; chat templates are rendered by
 *   `@huggingface/jinja`. Nothing here re-implements either.
 * - llama2.c tokenizers: `loadLlama2cTokenizer(path, vocabSize)` reads the
 *   `tokenizer.bin` format and encodes/decodes exactly as llama2.c's `run.c`.
 *
 * Every problem with the input files is a TokenizerError naming the file, the
 * field and the fix.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { CandorError } from '../tensor/errors.js';

export class TokenizerError extends CandorError {
  override name = 'TokenizerError';
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | (string & {});
  content: string;
  /** Other fields (tool_calls, name, ...) are passed to the template unchanged. */
  [key: string]: unknown;
}

export interface ChatTemplateOptions {
  /** Append the header of an assistant turn, so that generation continues as the assistant. Default false. */
  addGenerationPrompt?: boolean;
  /** Tool (function) definitions, passed to the template as `tools`. */
  tools?: unknown[];
  /** Documents for retrieval-augmented templates, passed as `documents`. */
  documents?: unknown[];
  /** Which named template to use when the config holds several ({name, template} list). Default 'default'. */
  templateName?: string;
  /** Any further template variables (e.g. `enable_thinking`). */
  extra?: Record<string, unknown>;
}

export interface Tokenizer {
  /** Number of ids (one more than the largest id, added tokens included). */
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  /** Text to ids. `addSpecialTokens` (default true) adds what the tokenizer adds around a text, e.g. BOS. */
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  /** Ids to text. `skipSpecialTokens` (default false) leaves out special tokens such as BOS/EOS. */
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string;
  /** The token string of an id (as stored in the vocabulary), or null. */
  idToToken(id: number): string | null;
  /** The id of a token string (as stored in the vocabulary), or null. */
  tokenToId(token: string): number | null;
  /** The chat template source (Jinja), or null when the tokenizer has none. */
  readonly chatTemplate: string | null;
  /** Render messages with the chat template, as transformers' `apply_chat_template(..., tokenize=False)`. */
  applyChatTemplate(messages: ChatMessage[], opts?: ChatTemplateOptions): string;
}

// ---------------------------------------------------------------------------
// shared helpers

function errnoCode(e: unknown): string {
  return (e as NodeJS.ErrnoException)?.code ?? String(e);
}

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TokenizerError(`${path}: cannot read ${what} (${errnoCode(e)}). Fix: check the path and the file's permissions.`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(
      `${path}: not valid JSON (${(e as Error).message}). Fix: the file is damaged or truncated; download or copy ${basename(path)} again.`,
    );
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkIds(ids: readonly number[], vocabSize: number, source: string): void {
  if (!Array.isArray(ids)) {
    throw new TokenizerError(`decode (${source}): ids must be an array of integers, got ${typeof ids}. Fix: pass number[].`);
  }
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new TokenizerError(
        `decode (${source}): id ${String(id)} at position ${i} is outside the vocabulary [0, ${vocabSize}). Fix: pass ids produced by this tokenizer (a model's logits may be wider than its tokenizer's vocabulary; restrict sampling to the first ${vocabSize}).`,
      );
    }
  }
}

function checkText(text: unknown, source: string): asserts text is string {
  if (typeof text !== 'string') {
    throw new TokenizerError(`encode (${source}): text must be a string, got ${text === null ? 'null' : typeof text}. Fix: pass a string.`);
  }
}

// ---------------------------------------------------------------------------
// Hugging Face tokenizer.json + tokenizer_config.json

/** A special token in tokenizer_config.json: a string, an AddedToken object {content, ...}, or null. */
function tokenContent(v: unknown, path: string, field: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  throw new TokenizerError(
    `${path}: field ${field} is ${JSON.stringify(v)}; expected a string, an object {"content": "..."} or null. Fix: set ${field} to the token's text, e.g. "<s>".`,
  );
}

const SPECIAL_FIELDS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

interface HfParts {
  tokenizerPath: string;
  configPath: string | null;
  templatePath: string | null; // where the chat template came from, for messages
  templateField: string; // 'chat_template', or the file name for chat_template.jinja
  json: Record<string, unknown>;
  config: Record<string, unknown>;
  templates: Map<string, string>;
}

function readHfFiles(dirOrFile: string): HfParts {
  let dir = dirOrFile;
  let tokenizerPath = join(dir, 'tokenizer.json');
  if (existsSync(dirOrFile) && statSync(dirOrFile).isFile()) {
    dir = dirname(dirOrFile);
    tokenizerPath = dirOrFile;
  }
  if (!existsSync(dir)) {
    throw new TokenizerError(`${dir}: folder not found. Fix: pass the model folder that holds tokenizer.json.`);
  }
  if (!existsSync(tokenizerPath)) {
    const hasSp = existsSync(join(dir, 'tokenizer.model'));
    throw new TokenizerError(
      `${tokenizerPath}: file not found. Fix: ` +
        (hasSp
          ? `this folder has only a SentencePiece tokenizer.model; write a tokenizer.json with transformers (AutoTokenizer.from_pretrained(dir).save_pretrained(dir)).`
          : `pass the model folder that holds tokenizer.json (a Hugging Face model repository has it next to config.json); for a llama2.c tokenizer .bin use loadLlama2cTokenizer(path, vocabSize).`),
    );
  }
  const json = readJson(tokenizerPath, 'tokenizer.json');
  if (!isObject(json)) {
    throw new TokenizerError(`${tokenizerPath}: top level is not a JSON object. Fix: this is not a Hugging Face tokenizer.json; download it again.`);
  }
  if (!isObject(json.model)) {
    throw new TokenizerError(
      `${tokenizerPath}: field model is missing or not an object. Fix: this is not a Hugging Face tokenizer.json (vocab.json/merges.txt alone are not enough); download the model's tokenizer.json.`,
    );
  }
  if (json.added_tokens !== undefined && !Array.isArray(json.added_tokens)) {
    throw new TokenizerError(`${tokenizerPath}: field added_tokens is not a list. Fix: download tokenizer.json again.`);
  }

  const configFile = join(dir, 'tokenizer_config.json');
  let configPath: string | null = null;
  let config: Record<string, unknown> = {};
  if (existsSync(configFile)) {
    configPath = configFile;
    const c = readJson(configFile, 'tokenizer_config.json');
    if (!isObject(c)) {
      throw new TokenizerError(`${configFile}: top level is not a JSON object. Fix: download tokenizer_config.json again.`);
    }
    config = c;
  }

  // Chat templates: transformers prefers a separate chat_template.jinja file
  // over the chat_template field of tokenizer_config.json.
  const templates = new Map<string, string>();
  let templatePath: string | null = null;
  let templateField = 'chat_template';
  const jinjaFile = join(dir, 'chat_template.jinja');
  if (existsSync(jinjaFile)) {
    templates.set('default', readFileSync(jinjaFile, 'utf8'));
    templatePath = jinjaFile;
    templateField = '(whole file)';
  } else if (configPath && config.chat_template !== undefined && config.chat_template !== null) {
    templatePath = configPath;
    const ct = config.chat_template;
    if (typeof ct === 'string') {
      templates.set('default', ct);
    } else if (Array.isArray(ct)) {
      for (const [i, entry] of ct.entries()) {
        if (!isObject(entry) || typeof entry.name !== 'string' || typeof entry.template !== 'string') {
          throw new TokenizerError(
            `${configPath}: field chat_template[${i}] is not an object {"name": string, "template": string}. Fix: correct the entry, or make chat_template a single template string.`,
          );
        }
        templates.set(entry.name, entry.template);
      }
    } else if (isObject(ct)) {
      for (const [name, t] of Object.entries(ct)) {
        if (typeof t !== 'string') {
          throw new TokenizerError(`${configPath}: field chat_template.${name} is not a string. Fix: each named template must be a Jinja string.`);
        }
        templates.set(name, t);
      }
    } else {
      throw new TokenizerError(
        `${configPath}: field chat_template is ${typeof ct}; expected a Jinja string or a list of {"name", "template"}. Fix: correct chat_template or remove it.`,
      );
    }
  }
  return { tokenizerPath, configPath, templatePath, templateField, json, config, templates };
}

/** Map an exception from @huggingface/tokenizers' constructor to the tokenizer.json field it concerns. */
function guessField(msg: string): string {
  const m = msg.toLowerCase();
  if (m.includes('normalizer')) return 'normalizer';
  if (m.includes('pretokenizer') || m.includes('pre_tokenizer') || m.includes('pre-tokenizer')) return 'pre_tokenizer';
  if (m.includes('postprocessor') || m.includes('post_processor') || m.includes('post-processor')) return 'post_processor';
  if (m.includes('decoder')) return 'decoder';
  if (m.includes('tokenizermodel') || m.includes('model')) return 'model';
  if (m.includes('regex') || m.includes('regular expression') || m.includes('pattern')) return 'pre_tokenizer/normalizer pattern';
  return 'model/normalizer/pre_tokenizer/post_processor/decoder';
}

class HfTokenizerImpl implements Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly chatTemplate: string | null;
  private readonly tk: HfTokenizer;
  private readonly parts: HfParts;
  private readonly specialTokens: Record<string, string | string[]>;
  private readonly addBos: boolean | undefined;
  private readonly addEos: boolean | undefined;
  private readonly compiled = new Map<string, Template>();

  constructor(parts: HfParts) {
    this.parts = parts;
    const { json, config, tokenizerPath } = parts;
    const cfgPath = parts.configPath ?? '(no tokenizer_config.json)';

    // Special tokens of tokenizer_config.json may be AddedToken objects; the
    // package expects strings.
    const special: Record<string, string | null> = {};
    for (const f of SPECIAL_FIELDS) special[f] = tokenContent(config[f], cfgPath, f);
    let additional: string[] = [];
    if (config.additional_special_tokens !== undefined && config.additional_special_tokens !== null) {
      if (!Array.isArray(config.additional_special_tokens)) {
        throw new TokenizerError(`${cfgPath}: field additional_special_tokens is not a list. Fix: make it a list of token strings.`);
      }
      additional = config.additional_special_tokens.map((t, i) => tokenContent(t, cfgPath, `additional_special_tokens[${i}]`) ?? '').filter((t) => t !== '');
    }
    const pkgConfig: Record<string, unknown> = { ...config, additional_special_tokens: additional };
    for (const f of SPECIAL_FIELDS) {
      if (special[f] === null) delete pkgConfig[f];
      else pkgConfig[f] = special[f];
    }
    // transformers no longer cleans up spaces unless the config asks for it;
    // the package would by default, which breaks decode(encode(x)) === x.
    pkgConfig.clean_up_tokenization_spaces = config.clean_up_tokenization_spaces === true;
    delete pkgConfig.chat_template;

    // The package requires these keys to be present (null allowed); older files omit some.
    const pkgJson: Record<string, unknown> = { ...json };
    for (const k of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) if (pkgJson[k] === undefined) pkgJson[k] = null;
    if (pkgJson.added_tokens === undefined) pkgJson.added_tokens = [];

    try {
      this.tk = new HfTokenizer(pkgJson, pkgConfig);
    } catch (e) {
      if (e instanceof TokenizerError) throw e;
      const msg = (e as Error).message ?? String(e);
      throw new TokenizerError(
        `${tokenizerPath}: field ${guessField(msg)}: @huggingface/tokenizers cannot build this tokenizer (${msg}). Fix: check that the file is a complete tokenizer.json; if it is, this component is not supported by @huggingface/tokenizers.`,
      );
    }

    let maxId = -1;
    for (const id of this.tk.get_vocab(true).values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;

    const idOf = (field: string, tok: string | null): number | null => {
      if (tok === null) return null;
      const id = this.tk.token_to_id(tok);
      if (id === undefined) {
        throw new TokenizerError(
          `${cfgPath}: field ${field} is ${JSON.stringify(tok)}, which is not in the vocabulary of ${tokenizerPath}. Fix: set ${field} to a token of the vocabulary (or null), or use the tokenizer_config.json that belongs with this tokenizer.json.`,
        );
      }
      return id;
    };

    // bos_token/eos_token not mentioned by tokenizer_config.json (or no such
    // file; an explicit null stays null): take them from a TemplateProcessing
    // post-processor, else GPT-2's convention (<|endoftext|> is both), as
    // transformers' GPT-2/GPT-NeoX classes default to.
    const fromTemplate = templateSpecials(json.post_processor);
    const endOfText = this.tk.token_to_id('<|endoftext|>') !== undefined ? '<|endoftext|>' : null;
    const inferred = fromTemplate.bos === null && fromTemplate.eos === null ? { bos: endOfText, eos: endOfText } : fromTemplate;
    if (config.bos_token === undefined) special.bos_token = inferred.bos;
    if (config.eos_token === undefined) special.eos_token = inferred.eos;
    const bos = special.bos_token ?? null;
    const eos = special.eos_token ?? null;
    this.bosTokenId = idOf('bos_token', bos);
    this.eosTokenId = idOf('eos_token', eos);
    this.padTokenId = idOf('pad_token', special.pad_token ?? null);

    for (const f of ['add_bos_token', 'add_eos_token'] as const) {
      const v = config[f];
      if (v !== undefined && v !== null && typeof v !== 'boolean') {
        throw new TokenizerError(`${cfgPath}: field ${f} is ${JSON.stringify(v)}; expected true or false. Fix: correct ${f}.`);
      }
    }
    this.addBos = typeof config.add_bos_token === 'boolean' ? config.add_bos_token : undefined;
    this.addEos = typeof config.add_eos_token === 'boolean' ? config.add_eos_token : undefined;

    this.specialTokens = {};
    for (const f of SPECIAL_FIELDS) if (special[f] !== null && special[f] !== undefined) this.specialTokens[f] = special[f]!;
    if (additional.length > 0) this.specialTokens.additional_special_tokens = additional;

    this.chatTemplate = parts.templates.get('default') ?? (parts.templates.size === 1 ? [...parts.templates.values()][0]! : null);
  }

  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    checkText(text, this.parts.tokenizerPath);
    const add = opts.addSpecialTokens ?? true;
    const ids = this.tk.encode(text, { add_special_tokens: add }).ids;
    if (!add) return ids;
    // tokenizer_config.json's add_bos_token / add_eos_token win over the
    // post-processor of tokenizer.json, as in transformers.
    let plain: number[] | null = null;
    const plainIds = (): number[] => (plain ??= this.tk.encode(text, { add_special_tokens: false }).ids);
    const bos = this.bosTokenId;
    if (bos !== null) {
      if (this.addBos === true && ids[0] !== bos) ids.unshift(bos);
      else if (this.addBos === false && ids[0] === bos && plainIds()[0] !== bos) ids.shift();
    }
    const eos = this.eosTokenId;
    if (eos !== null) {
      if (this.addEos === true && ids[ids.length - 1] !== eos) ids.push(eos);
      else if (this.addEos === false && ids.length > 0 && ids[ids.length - 1] === eos) {
        const p = plainIds();
        if (p[p.length - 1] !== eos) ids.pop();
      }
    }
    return ids;
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    checkIds(ids, this.vocabSize, this.parts.tokenizerPath);
    if (ids.length === 0) return '';
    for (let i = 0; i < ids.length; i++) {
      if (this.tk.id_to_token(ids[i]!) === undefined) {
        throw new TokenizerError(
          `decode (${this.parts.tokenizerPath}): id ${ids[i]} at position ${i} has no token (a gap in the vocabulary). Fix: pass ids produced by this tokenizer.`,
        );
      }
    }
    const out = this.tk.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false });
    return out;
  }

  idToToken(id: number): string | null {
    return Number.isInteger(id) ? (this.tk.id_to_token(id) ?? null) : null;
  }

  tokenToId(token: string): number | null {
    return this.tk.token_to_id(token) ?? null;
  }

  applyChatTemplate(messages: ChatMessage[], opts: ChatTemplateOptions = {}): string {
    const { templatePath, configPath, tokenizerPath, templates } = this.parts;
    const name = opts.templateName ?? 'default';
    let source: string | undefined;
    if (templates.size === 0) {
      const where = configPath
        ? `${configPath}: field chat_template is missing (and there is no chat_template.jinja)`
        : `${join(dirname(tokenizerPath), 'tokenizer_config.json')}: file not found, so there is no chat_template`;
      throw new TokenizerError(
        `${where}. Fix: this looks like a base model without a chat format; build the prompt text yourself and call encode(), or add a chat_template (e.g. the instruct variant's) to tokenizer_config.json.`,
      );
    }
    source = templates.get(name);
    if (source === undefined && opts.templateName === undefined && templates.size === 1) source = [...templates.values()][0];
    if (source === undefined) {
      throw new TokenizerError(
        `${templatePath}: field chat_template has no template named "${name}" (it has: ${[...templates.keys()].join(', ')}). Fix: pass one of those as templateName.`,
      );
    }
    const field = templates.size > 1 || opts.templateName !== undefined ? `chat_template["${name}"]` : this.parts.templateField;
    let tpl = this.compiled.get(name);
    if (!tpl) {
      try {
        tpl = new Template(source);
      } catch (e) {
        throw new TokenizerError(
          `${templatePath}: field ${field} is not a template @huggingface/jinja can parse (${(e as Error).message}). Fix: correct the Jinja syntax, or format the prompt yourself.`,
        );
      }
      this.compiled.set(name, tpl);
    }
    if (!Array.isArray(messages)) {
      throw new TokenizerError(`applyChatTemplate: messages must be a list of {role, content}, got ${typeof messages}. Fix: pass an array.`);
    }
    messages.forEach((m, i) => {
      if (!isObject(m) || typeof m.role !== 'string') {
        throw new TokenizerError(`applyChatTemplate: messages[${i}] is not an object with a string role. Fix: pass {role: 'user', content: '...'}.`);
      }
      if (typeof m.content !== 'string' && !Array.isArray(m.content) && m.content !== null) {
        throw new TokenizerError(`applyChatTemplate: messages[${i}].content is ${typeof m.content}. Fix: pass the message text as a string.`);
      }
    });
    const vars: Record<string, unknown> = {
      ...this.specialTokens,
      ...(opts.extra ?? {}),
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      // raise_exception and strftime_now are provided by @huggingface/jinja
    };
    if (opts.tools !== undefined) vars.tools = opts.tools;
    if (opts.documents !== undefined) vars.documents = opts.documents;
    try {
      return tpl.render(vars);
    } catch (e) {
      throw new TokenizerError(
        `${templatePath}: field ${field}: rendering stopped with "${e instanceof Error ? e.message : String(e)}". Fix: if that is the template's own raise_exception, change the messages to what it accepts (many templates require alternating user/assistant turns, or allow no system message); otherwise the template uses Jinja that @huggingface/jinja does not support, so format the prompt yourself and call encode().`,
      );
    }
  }
}

/** BOS/EOS named by a TemplateProcessing post-processor ("single": [<s>, $A, </s>]). */
function templateSpecials(pp: unknown): { bos: string | null; eos: string | null } {
  const out = { bos: null as string | null, eos: null as string | null };
  const visit = (p: unknown): void => {
    if (!isObject(p)) return;
    if (p.type === 'Sequence' && Array.isArray(p.processors)) p.processors.forEach(visit);
    if (p.type !== 'TemplateProcessing' || !Array.isArray(p.single)) return;
    const items = p.single as unknown[];
    const seqAt = items.findIndex((it) => isObject(it) && 'Sequence' in it);
    const specialId = (it: unknown): string | null => {
      if (!isObject(it) || !isObject(it.SpecialToken)) return null;
      const id = it.SpecialToken.id;
      return typeof id === 'string' ? id : null;
    };
    if (seqAt > 0) out.bos ??= specialId(items[seqAt - 1]);
    if (seqAt >= 0 && seqAt < items.length - 1) out.eos ??= specialId(items[seqAt + 1]);
  };
  visit(pp);
  return out;
}

/**
 * Load a Hugging Face tokenizer from a model folder (or the path of its
 * tokenizer.json): tokenizer.json, plus tokenizer_config.json (special tokens,
 * add_bos_token/add_eos_token, chat_template) and chat_template.jinja when present.
 */
export function loadTokenizer(dir: string): Tokenizer {
  return new HfTokenizerImpl(readHfFiles(dir));
}

// ---------------------------------------------------------------------------
// llama2.c tokenizer.bin

const BOS = 1;
const EOS = 2;
const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

class Llama2cTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId = BOS;
  readonly eosTokenId = EOS;
  readonly padTokenId = null;
  readonly chatTemplate = null;
  readonly maxTokenLength: number;
  /** Piece bytes as latin1 strings (one char per byte), so lookups are byte-exact. */
  private readonly pieces: string[];
  private readonly scores: Float32Array;
  private readonly lookup = new Map<string, number>();
  private readonly path: string;
  private readonly byteTokens: boolean;

  constructor(path: string, vocabSize: number) {
    this.path = path;
    if (!Number.isInteger(vocabSize) || vocabSize < 3) {
      throw new TokenizerError(
        `${path}: vocabSize ${vocabSize} is not a valid vocabulary size (the file does not store it; at least 3 for <unk>, <s>, </s>). Fix: pass vocab_size from the checkpoint header (e.g. 32000 for tokenizer.bin, 512 for tok512.bin).`,
      );
    }
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (e) {
      throw new TokenizerError(`${path}: cannot read the llama2.c tokenizer (${errnoCode(e)}). Fix: check the path; llama2.c ships tokenizer.bin, and custom ones are written by its tokenizer.py --tokenizer-model.`);
    }
    if (buf.length < 4) throw new TokenizerError(`${path}: file is ${buf.length} bytes, too short for the int32 max_token_length header. Fix: the file is truncated; copy it again.`);
    this.maxTokenLength = buf.readInt32LE(0);
    if (this.maxTokenLength <= 0) {
      throw new TokenizerError(`${path}: header max_token_length is ${this.maxTokenLength}. Fix: this is not a llama2.c tokenizer .bin (a checkpoint passed by mistake?).`);
    }
    this.vocabSize = vocabSize;
    this.pieces = new Array<string>(vocabSize);
    this.scores = new Float32Array(vocabSize);
    let o = 4;
    for (let i = 0; i < vocabSize; i++) {
      if (o + 8 > buf.length) {
        throw new TokenizerError(
          `${path}: token ${i}: file ends at byte ${buf.length}, before its score and length; only ${i} tokens are stored. Fix: pass the vocabSize that matches this file (${i}?) or copy the file again.`,
        );
      }
      this.scores[i] = buf.readFloatLE(o);
      const len = buf.readInt32LE(o + 4);
      o += 8;
      if (len < 0 || o + len > buf.length) {
        throw new TokenizerError(`${path}: token ${i}: field length ${len} runs past the end of the file (${buf.length} bytes). Fix: pass the tokenizer .bin (not a model checkpoint), or copy it again if it is truncated.`);
      }
      const piece = buf.toString('latin1', o, o + len);
      o += len;
      this.pieces[i] = piece;
      // run.c looks pieces up by binary search in a sorted copy; with
      // duplicate pieces the first id is taken here.
      if (!this.lookup.has(piece)) this.lookup.set(piece, i);
    }
    if (o !== buf.length) {
      throw new TokenizerError(
        `${path}: ${buf.length - o} bytes remain after ${vocabSize} tokens. Fix: pass the vocab_size of the checkpoint this tokenizer belongs to (the file holds more tokens than ${vocabSize}).`,
      );
    }
    let byteTokens = vocabSize >= 259;
    for (let b = 0; byteTokens && b < 256; b++) {
      const m = BYTE_PIECE.exec(this.pieces[b + 3]!);
      if (!m || parseInt(m[1]!, 16) !== b) byteTokens = false;
    }
    this.byteTokens = byteTokens;
  }

  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    checkText(text, this.path);
    const tokens: number[] = [];
    if (opts.addSpecialTokens ?? true) tokens.push(BOS);
    const bytes = Buffer.from(text, 'utf8');
    if (bytes.length > 0) {
      // sentencepiece's add_dummy_prefix
      const space = this.lookup.get(' ');
      if (space === undefined) {
        throw new TokenizerError(`${this.path}: the vocabulary has no " " piece, which encoding needs as the dummy prefix. Fix: use a llama2.c tokenizer exported from a SentencePiece model (tokenizer.py).`);
      }
      tokens.push(space);
    }
    // one piece per UTF-8 code point, else one byte token per byte
    let i = 0;
    while (i < bytes.length) {
      let j = i + 1;
      while (j < bytes.length && (bytes[j]! & 0xc0) === 0x80 && j - i < 4) j++;
      const cp = bytes.toString('latin1', i, j);
      const id = this.lookup.get(cp);
      if (id !== undefined) tokens.push(id);
      else {
        if (!this.byteTokens) {
          throw new TokenizerError(
            `${this.path}: ${JSON.stringify(Buffer.from(cp, 'latin1').toString('utf8'))} is not in the vocabulary and ids 3..258 are not the byte tokens <0x00>..<0xFF> needed for byte fallback. Fix: use a tokenizer exported with byte_fallback, or keep the text within its vocabulary.`,
          );
        }
        for (let k = i; k < j; k++) tokens.push(bytes[k]! + 3);
      }
      i = j;
    }
    return this.merge(tokens);
  }

  /**
   * run.c's merge loop: repeatedly merge the adjacent pair whose concatenation
   * is a piece with the highest score (the leftmost pair on ties; scores must
   * exceed float32(-1e10)) until no pair is a piece. run.c rescans all pairs
   * after each merge, O(n^2); this keeps candidate pairs in a heap ordered by
   * (score desc, position asc), which picks the same pair at every step, so
   * long texts stay fast.
   */
  private merge(tokens: number[]): number[] {
    const n = tokens.length;
    if (n < 2) return tokens;
    const ids = Int32Array.from(tokens);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      prev[k] = k - 1;
      next[k] = k + 1 < n ? k + 1 : -1;
    }
    const floor = Math.fround(-1e10);
    // heap of candidates: parallel arrays, entry = (score, left, right, merged id, left id, right id)
    const hScore: number[] = [];
    const hLeft: number[] = [];
    const hRight: number[] = [];
    const hId: number[] = [];
    const hLid: number[] = [];
    const hRid: number[] = [];
    const before = (a: number, b: number): boolean => hScore[a]! > hScore[b]! || (hScore[a] === hScore[b] && hLeft[a]! < hLeft[b]!);
    const swap = (a: number, b: number): void => {
      for (const arr of [hScore, hLeft, hRight, hId, hLid, hRid]) {
        const t = arr[a]!;
        arr[a] = arr[b]!;
        arr[b] = t;
      }
    };
    const push = (left: number, right: number): void => {
      const id = this.lookup.get(this.pieces[ids[left]!]! + this.pieces[ids[right]!]!);
      if (id === undefined || !(this.scores[id]! > floor)) return;
      let i = hScore.length;
      hScore.push(this.scores[id]!);
      hLeft.push(left);
      hRight.push(right);
      hId.push(id);
      hLid.push(ids[left]!);
      hRid.push(ids[right]!);
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!before(i, p)) break;
        swap(i, p);
        i = p;
      }
    };
    const pop = (): void => {
      const last = hScore.length - 1;
      swap(0, last);
      for (const arr of [hScore, hLeft, hRight, hId, hLid, hRid]) arr.pop();
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < hScore.length && before(l, m)) m = l;
        if (r < hScore.length && before(r, m)) m = r;
        if (m === i) break;
        swap(i, m);
        i = m;
      }
    };
    const dead = new Uint8Array(n);
    for (let k = 0; k + 1 < n; k++) push(k, k + 1);
    while (hScore.length > 0) {
      const left = hLeft[0]!;
      const right = hRight[0]!;
      const id = hId[0]!;
      const stale = dead[left] || dead[right] || next[left] !== right || ids[left] !== hLid[0] || ids[right] !== hRid[0];
      pop();
      if (stale) continue;
      ids[left] = id;
      dead[right] = 1;
      const after = next[right]!;
      next[left] = after;
      if (after !== -1) prev[after] = left;
      if (prev[left]! !== -1) push(prev[left]!, left);
      if (after !== -1) push(left, after);
    }
    const out: number[] = [];
    for (let k = 0; k !== -1; k = next[k]!) out.push(ids[k]!);
    return out;
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    checkIds(ids, this.vocabSize, this.path);
    const skip = opts.skipSpecialTokens ?? false;
    const parts: string[] = [];
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k]!;
      if (id <= EOS) {
        // <unk>, <s>, </s>: stored as "<unk>", "\n<s>\n", "\n</s>\n"
        if (!skip) parts.push(this.pieces[id]!.trim());
        continue;
      }
      let piece = this.pieces[id]!;
      // following BOS, sentencepiece strips the leading space of a piece
      if (k > 0 && ids[k - 1] === BOS && piece.startsWith(' ')) piece = piece.slice(1);
      const m = BYTE_PIECE.exec(piece);
      if (m) piece = String.fromCharCode(parseInt(m[1]!, 16));
      parts.push(piece);
    }
    return Buffer.from(parts.join(''), 'latin1').toString('utf8');
  }

  idToToken(id: number): string | null {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) return null;
    return Buffer.from(this.pieces[id]!, 'latin1').toString('utf8');
  }

  tokenToId(token: string): number | null {
    return this.lookup.get(Buffer.from(token, 'utf8').toString('latin1')) ?? null;
  }

  applyChatTemplate(): string {
    throw new TokenizerError(
      `${this.path}: a llama2.c tokenizer .bin has no chat template (no chat_template field exists in this format). Fix: build the prompt text yourself and call encode().`,
    );
  }
}

/**
 * Load a llama2.c tokenizer .bin (int32 max_token_length, then per token:
 * float32 score, int32 length, bytes). The file does not store the vocabulary
 * size: pass the checkpoint's vocab_size.
 */
export function loadLlama2cTokenizer(path: string, vocabSize: number): Tokenizer {
  return new Llama2cTokenizer(path, vocabSize);
}

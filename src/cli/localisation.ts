/** candor lens | attribute | patch | trace: the localisation instruments on the command line. */
import type { HookedTransformer } from '../model/transformer.js';
import { describeInput } from '../model/info.js';
import { logitLens, type LensSite } from '../methods/lens.js';
import { directLogitAttribution, topContributions } from '../methods/dla.js';
import { activationPatching, attributionPatching, correlation, resultGrid, selectLayers, type PatchResult, type PatchSite, PATCH_SITES } from '../methods/patching.js';
import type { MetricSpec } from '../methods/metrics.js';
import { Progress, UsageError, idList, intOption, openModel, printJson, required, type Command } from './common.js';
import { heatmap, table } from './render.js';

const modelOptions = { model: { type: 'string' }, tokenizer: { type: 'string' }, chat: { type: 'boolean', default: false } } as const;


/** Token ids of a prompt given as --<name> TEXT or --<name>-ids 1,2,3. */
export function promptIds(model: HookedTransformer, values: Record<string, unknown>, name: string, cmd: Command): number[] {
  const text = values[name];
  const ids = values[`${name}-ids`];
  if ((text === undefined) === (ids === undefined)) throw new UsageError(`${cmd.name}: give exactly one of --${name} and --${name}-ids.\n${cmd.usage}`);
  if (typeof ids === 'string') return idList(ids, `${name}-ids`);
  const tok = model.requireTokenizer();
  if (values.chat) return tok.encode(tok.applyChatTemplate([{ role: 'user', content: text as string }], { addGenerationPrompt: true }), { addSpecialTokens: false });
  return tok.encode(text as string, { addSpecialTokens: true });
}

/** One token id from --<name> TEXT (must be a single token) or --<name>-id N. */
export function tokenArg(model: HookedTransformer, values: Record<string, unknown>, name: string, cmd: Command, optional = false): number | null {
  const text = values[name];
  const id = values[`${name}-id`];
  if (text === undefined && id === undefined) {
    if (optional) return null;
    throw new UsageError(`${cmd.name}: --${name} TOKEN or --${name}-id N is required.\n${cmd.usage}`);
  }
  if (typeof id === 'string') {
    const n = Number(id);
    if (!(Number.isInteger(n) && n >= 0 && n < model.cfg.dVocab)) throw new UsageError(`--${name}-id must be a token id in [0, ${model.cfg.dVocab}), got ${id}`);
    return n;
  }
  const ids = singleToken(model, text as string);
  if (ids.length !== 1) throw new UsageError(`--${name} ${JSON.stringify(text)} is ${ids.length} tokens (${ids.join(', ')}) for this tokenizer; give a single token (mind a leading space) or use --${name}-id`);
  return ids[0]!;
}

/**
 * How the tokenizer spells a text as tokens, for naming one token: what
 * encode() gives (as transformers and TransformerLens do; SentencePiece adds
 * its word-start marker), else the text as an exact vocabulary entry, else
 * encode() without a lone leading whitespace token.
 */
export function singleToken(model: HookedTransformer, text: string): number[] {
  const tok = model.requireTokenizer();
  const ids = tok.encode(text, { addSpecialTokens: false });
  if (ids.length === 1) return ids;
  const exact = tok.tokenToId(text);
  if (exact !== null) return [exact];
  if (ids.length === 2 && tok.decode([ids[0]!]).trim() === '') return [ids[1]!];
  return ids;
}

function labels(model: HookedTransformer, ids: readonly number[]): string[] {
  const tok = model.tokenizer;
  return ids.map((t, i) => (tok ? `${i}:${tok.decode([t]).trim().slice(0, 6)}` : `${i}:${t}`));
}

function tokenText(model: HookedTransformer, t: number): string {
  return model.tokenizer ? JSON.stringify(model.tokenizer.decode([t])) : String(t);
}

export const lensCommand: Command = {
  name: 'lens',
  summary: 'logit lens (or tuned lens): what each layer would predict',
  usage: 'Usage: candor lens --model M (--prompt TEXT [--chat] | --prompt-ids 1,2,3) [--target TOKEN | --target-id N]\n                   [--positions=-1,-2] [--sites resid_post,resid_pre,resid_mid] [--top-k 5] [--tuned PATH|default] [--json]\n       candor lens --model M --train TEXTS.txt [--steps 250] [--lr 1e-3] [--tuned PATH] [--json]\n\nNegative positions count from the end; write them with = (--positions=-1). --train fits a tuned lens on the\nlines of a text file and saves it beside the model (tuned-lens.safetensors, or --tuned PATH); --tuned default\nreads it from there.',
  options: {
    ...modelOptions, prompt: { type: 'string' }, 'prompt-ids': { type: 'string' }, target: { type: 'string' }, 'target-id': { type: 'string' }, positions: { type: 'string' },
    sites: { type: 'string' }, 'top-k': { type: 'string' }, tuned: { type: 'string' }, train: { type: 'string' }, steps: { type: 'string' }, lr: { type: 'string' },
  },
  async run(values) {
    const model = await openModel(values, lensCommand);
    const tl = await import('../methods/tuned-lens.js');
    const lensPath = () => (values.tuned === undefined || values.tuned === 'default' ? tl.defaultTunedLensPath(model.source ?? '.') : (values.tuned as string));
    if (typeof values.train === 'string') {
      const { readFileSync } = await import('node:fs');
      let text: string;
      try {
        text = readFileSync(values.train, 'utf8');
      } catch {
        throw new UsageError(`--train ${values.train}: cannot read the file`);
      }
      const tok = model.requireTokenizer();
      const texts = text.split('\n').map((l) => l.trim()).filter((l) => l !== '').map((l) => tok.encode(l, { addSpecialTokens: true })).filter((t) => t.length >= 2);
      if (texts.length === 0) throw new UsageError(`--train ${values.train}: no non-empty lines to train on`);
      const steps = intOption(values, 'steps', 250);
      const bar = new Progress('training tuned lens', steps, values.json === true);
      const r = tl.trainTunedLens(model, texts, { steps, lr: values.lr === undefined ? undefined : Number(values.lr), onProgress: (step) => bar.update(step) });
      const out = lensPath();
      r.lens.save(out, { model: model.source ?? '', texts: String(texts.length) });
      if (values.json) printJson({ path: out, texts: texts.length, steps, kl_before: r.klBefore, kl_after: r.klAfter });
      else {
        console.log(`tuned lens saved to ${out} (${texts.length} texts, ${steps} steps)`);
        console.log(table(['layer', 'KL logit lens', 'KL tuned lens'], r.klBefore.map((k, l) => [l, k, r.klAfter[l]!])));
      }
      return 0;
    }
    const ids = promptIds(model, values, 'prompt', lensCommand);
    const target = tokenArg(model, values, 'target', lensCommand, true);
    const positions = typeof values.positions === 'string' ? values.positions.split(',').map(Number) : undefined;
    const sites = (typeof values.sites === 'string' ? values.sites.split(',') : ['resid_post']) as LensSite[];
    for (const s of sites) if (!['resid_pre', 'resid_mid', 'resid_post'].includes(s)) throw new UsageError(`--sites: unknown site '${s}' (resid_pre, resid_mid, resid_post)`);
    let translator;
    if (typeof values.tuned === 'string') {
      const lens = tl.TunedLens.load(lensPath(), model);
      translator = (l: number, r: import('../tensor/tensor.js').Tensor) => lens.translate(l, r);
    }
    const r = logitLens(model, ids, { positions, sites, targets: target === null ? [] : [target], topK: intOption(values, 'top-k', 5), translator });
    if (values.json) {
      printJson({ input_ids: ids, ...r });
      return 0;
    }
    for (const p of r.positions) {
      const rows = r.entries.filter((e) => e.position === p).map((e) => [
        `${e.layer} ${e.site}`,
        e.top.map((t) => `${tokenText(model, t.token)} ${t.prob.toFixed(2)}`).join('  '),
        ...(target === null ? [] : [`${e.targets[0]!.prob.toFixed(3)} (#${e.targets[0]!.rank})`]),
      ]);
      const f = r.final.find((e) => e.position === p)!;
      rows.push(['output', f.top.map((t) => `${tokenText(model, t.token)} ${t.prob.toFixed(2)}`).join('  '), ...(target === null ? [] : [`${f.targets[0]!.prob.toFixed(3)} (#${f.targets[0]!.rank})`])]);
      console.log(`\nposition ${p} (${labels(model, ids)[p]})${r.translated ? ', tuned lens' : ', logit lens'}`);
      console.log(table(['layer', `top ${intOption(values, 'top-k', 5)}`, ...(target === null ? [] : [`P(${tokenText(model, target)})`])], rows));
    }
    return 0;
  },
};

export const attributeCommand: Command = {
  name: 'attribute',
  summary: 'direct logit attribution to embeddings, layers, heads and neurons',
  usage: 'Usage: candor attribute --model M (--prompt TEXT [--chat] | --prompt-ids ...) (--target TOKEN | --target-id N)\n                        [--baseline TOKEN | --baseline-id N] [--position=-1] [--top 15] [--json]\n\nExplains logit[target] − logit[baseline] (or logit[target]) at the position.',
  options: { ...modelOptions, prompt: { type: 'string' }, 'prompt-ids': { type: 'string' }, target: { type: 'string' }, 'target-id': { type: 'string' }, baseline: { type: 'string' }, 'baseline-id': { type: 'string' }, position: { type: 'string' }, top: { type: 'string' } },
  async run(values) {
    const model = await openModel(values, attributeCommand);
    const ids = promptIds(model, values, 'prompt', attributeCommand);
    const a = tokenArg(model, values, 'target', attributeCommand)!;
    const b = tokenArg(model, values, 'baseline', attributeCommand, true);
    const position = values.position === undefined ? -1 : Number(values.position);
    const r = directLogitAttribution(model, ids, { tokens: b === null ? [a] : [a, b], position });
    if (values.json) {
      printJson({ input_ids: ids, ...r, neurons: r.neurons?.map((n) => Array.from(n)) ?? null });
      return 0;
    }
    const what = b === null ? `logit ${tokenText(model, a)}` : `logit ${tokenText(model, a)} − logit ${tokenText(model, b)}`;
    console.log(`${what} at position ${r.position}: ${r.total.toFixed(4)} (parts sum to ${r.sum.toFixed(4)})`);
    for (const n of r.notes) console.log(`note: ${n}`);
    console.log(heatmap(r.attn.map((v, l) => [v, r.mlp[l]!]), r.attn.map((_, l) => `L${l}`), ['attn', 'mlp'], { title: '\nby layer' }));
    console.log('\nlargest parts');
    console.log(table(['component', 'contribution'], topContributions(r, intOption(values, 'top', 15))));
    return 0;
  },
};

function metricFrom(model: HookedTransformer, values: Record<string, unknown>, cmd: Command): MetricSpec {
  const kind = (values.metric as string | undefined) ?? 'logit_diff';
  const position = values.position === undefined ? undefined : Number(values.position);
  switch (kind) {
    case 'logit_diff':
      return { kind, a: tokenArg(model, values, 'target', cmd)!, b: tokenArg(model, values, 'baseline', cmd)!, position };
    case 'prob':
      return { kind, token: tokenArg(model, values, 'target', cmd)!, position };
    case 'kl':
      return { kind, position };
    default:
      throw new UsageError(`--metric must be logit_diff, prob or kl; got ${JSON.stringify(kind)}`);
  }
}

function showGrid(model: HookedTransformer, r: PatchResult, ids: readonly number[], title: string): void {
  const grid = resultGrid(r) as number[] | number[][] | number[][][];
  const rowLabels = r.labels[0]!.map((l) => `L${l}`);
  if (r.axes.length === 1) console.log(heatmap([grid as number[]], ['all'], rowLabels, { title }));
  else if (r.axes.length === 2) {
    const cols = r.axes[1] === 'position' ? labels(model, ids) : r.labels[1]!.map((i) => `${r.axes[1] === 'head' ? 'H' : 'N'}${i}`);
    console.log(heatmap(grid as number[][], rowLabels, cols, { title, scale: 1 }));
  } else {
    // per position: one heatmap per layer, rows = heads/neurons
    (grid as number[][][]).forEach((perItem, i) => console.log(heatmap(perItem, r.labels[1]!.map((h) => `${r.axes[1] === 'head' ? 'H' : 'N'}${h}`), labels(model, ids), { title: `${title}, layer ${r.labels[0]![i]}`, scale: 1 })));
  }
}

export const patchCommand: Command = {
  name: 'patch',
  summary: 'activation patching (or its gradient estimate) from a source prompt into a destination prompt',
  usage: 'Usage: candor patch --model M (--source TEXT | --source-ids ...) (--dest TEXT | --dest-ids ...) [--chat]\n                    [--metric logit_diff|prob|kl] [--target TOKEN|--target-id N] [--baseline TOKEN|--baseline-id N] [--position=-1]\n                    [--site resid_pre|attn_out|mlp_out|heads|neurons] [--per-position] [--whole-layer] [--layers 0,1]\n                    [--attribution] [--compare] [--batch-size 32] [--json]\n\nValues are normalised: 0 = the destination run, 1 = the source run. --attribution gives the first-order\nestimate from one forward pass on each prompt and one backward pass; --compare also runs activation\npatching and reports the correlation.',
  options: {
    ...modelOptions, source: { type: 'string' }, 'source-ids': { type: 'string' }, dest: { type: 'string' }, 'dest-ids': { type: 'string' },
    metric: { type: 'string' }, target: { type: 'string' }, 'target-id': { type: 'string' }, baseline: { type: 'string' }, 'baseline-id': { type: 'string' }, position: { type: 'string' },
    site: { type: 'string' }, 'per-position': { type: 'boolean', default: false }, 'whole-layer': { type: 'boolean', default: false }, layers: { type: 'string' },
    attribution: { type: 'boolean', default: false }, compare: { type: 'boolean', default: false }, 'batch-size': { type: 'string' },
  },
  async run(values) {
    const model = await openModel(values, patchCommand);
    const source = promptIds(model, values, 'source', patchCommand);
    const dest = promptIds(model, values, 'dest', patchCommand);
    const metric = metricFrom(model, values, patchCommand);
    const site = ((values.site as string | undefined) ?? 'resid_pre') as PatchSite;
    if (!PATCH_SITES.includes(site)) throw new UsageError(`--site must be one of ${PATCH_SITES.join(', ')}`);
    const layers = typeof values.layers === 'string' ? idList(values.layers, 'layers') : undefined;
    const act = () => {
      let bar: Progress | null = null;
      const onProgress = (done: number, total: number) => (bar ??= new Progress('patching', total, values.json === true)).update(done);
      return activationPatching(model, source, dest, { metric, site, layers, perPosition: values['per-position'] === true, wholeLayer: values['whole-layer'] === true, batchSize: intOption(values, 'batch-size', 32), onProgress });
    };
    if (values.attribution && values['whole-layer'] === true) throw new UsageError('patch: --whole-layer applies to activation patching only; drop it or --attribution');
    const estimate = () => {
      const r = attributionPatching(model, source, dest, { metric, sites: [site], perPosition: values['per-position'] === true }).get(site)!;
      return layers === undefined ? r : selectLayers(r, layers);
    };
    const result = values.attribution ? estimate() : act();
    const compared = values.attribution && values.compare ? act() : null;
    const r2 = compared === null ? null : correlation(result.values, compared.values);
    if (values.json) {
      printJson({ source_ids: source, dest_ids: dest, ...result, values: resultGrid(result), raw: resultGrid(result, 'raw'), ...(compared ? { activation_values: resultGrid(compared), correlation: r2 } : {}) });
      return 0;
    }
    console.log(`${result.metric}: source ${result.source.toFixed(4)}, destination ${result.dest.toFixed(4)}; ${result.method} patching of ${site} (0 = destination, 1 = source)`);
    showGrid(model, result, dest, '');
    if (compared) console.log(`\ncorrelation with activation patching: ${r2!.toFixed(3)}`);
    return 0;
  },
};

export const traceCommand: Command = {
  name: 'trace',
  summary: 'causal tracing: corrupt subject tokens with noise, restore clean states layer by layer',
  usage: 'Usage: candor trace --model M (--prompt TEXT [--chat] | --prompt-ids ...) (--corrupt 1,2 | --subject TEXT)\n                    [--target TOKEN | --target-id N] [--kind resid|mlp|attn] [--window 10] [--samples 10] [--noise 3] [--seed 0] [--json]\n\n--subject finds the subject\'s tokens in the prompt; --corrupt gives their positions. The grid is the indirect effect:\nP(target | corrupted, restored) − P(target | corrupted), per layer and position.',
  options: {
    ...modelOptions, prompt: { type: 'string' }, 'prompt-ids': { type: 'string' }, corrupt: { type: 'string' }, subject: { type: 'string' },
    target: { type: 'string' }, 'target-id': { type: 'string' }, kind: { type: 'string' }, window: { type: 'string' }, samples: { type: 'string' }, noise: { type: 'string' }, seed: { type: 'string' },
  },
  async run(values) {
    const { causalTrace } = await import('../methods/tracing.js');
    const model = await openModel(values, traceCommand);
    const ids = promptIds(model, values, 'prompt', traceCommand);
    let corrupt: number[];
    if (typeof values.corrupt === 'string') corrupt = idList(values.corrupt, 'corrupt');
    else if (typeof values.subject === 'string') {
      // inside a sentence the subject usually follows a space, which byte-level BPE folds into its first token
      const tok = model.requireTokenizer();
      const spellings = [values.subject, ` ${values.subject}`].map((t) => tok.encode(t, { addSpecialTokens: false }));
      const found = spellings.map((sub) => ({ sub, at: findSublist(ids, sub) })).find((x) => x.at >= 0);
      if (found === undefined) throw new UsageError(`--subject ${JSON.stringify(values.subject)} (tokens ${spellings.map((s) => s.join(',')).join(' or ')}) does not occur in the prompt's tokens; pass --corrupt with positions instead`);
      corrupt = found.sub.map((_, i) => found.at + i);
    } else throw new UsageError(`trace: --corrupt POSITIONS or --subject TEXT is required.\n${traceCommand.usage}`);
    const kind = ((values.kind as string | undefined) ?? 'resid') as 'resid' | 'mlp' | 'attn';
    if (!['resid', 'mlp', 'attn'].includes(kind)) throw new UsageError('--kind must be resid, mlp or attn');
    let bar: Progress | null = null;
    const r = causalTrace(model, ids, {
      corrupt, target: tokenArg(model, values, 'target', traceCommand, true) ?? undefined, kind,
      window: values.window === undefined ? undefined : intOption(values, 'window', 10), samples: intOption(values, 'samples', 10),
      noiseScale: values.noise === undefined ? undefined : Number(values.noise), seed: intOption(values, 'seed', 0),
      onProgress: (done, total) => (bar ??= new Progress('tracing', total, values.json === true)).update(done),
    });
    if (values.json) {
      printJson({ input_ids: ids, corrupt, ...r });
      return 0;
    }
    console.log(`target ${tokenText(model, r.target)}: clean P ${r.cleanProb.toFixed(4)}, corrupted P ${r.corruptedProb.toFixed(4)} (noise std ${r.noiseStd.toFixed(4)}, ${r.samples} samples); indirect effect of restoring ${kind}${kind === 'resid' ? '' : ` (window ${r.window})`}`);
    const cols = r.positions.map((p) => `${labels(model, ids)[p]}${corrupt.includes(p) ? '*' : ''}`);
    console.log(heatmap(r.indirect, r.layers.map((l) => `L${l}`), cols, { scale: Math.max(1e-9, r.cleanProb - r.corruptedProb) }));
    return 0;
  },
};

function findSublist(hay: readonly number[], needle: readonly number[]): number {
  for (let i = 0; i + needle.length <= hay.length; i++) if (needle.every((t, j) => hay[i + j] === t)) return i;
  return -1;
}

export const tokensCommand: Command = {
  name: 'tokens',
  summary: 'the exact token ids a prompt becomes (BOS and chat template included)',
  usage: 'Usage: candor tokens --model M (--prompt TEXT [--chat] | --prompt-ids 1,2,3) [--json]\n\nWith --chat the text is the user turn, rendered through the model\'s chat template with the generation\nprompt, as the audit renders its prompts. Warns about a doubled BOS.',
  options: { ...modelOptions, prompt: { type: 'string' }, 'prompt-ids': { type: 'string' } },
  async run(values) {
    const model = await openModel(values, tokensCommand);
    const r = describeInput(model, promptIds(model, values, 'prompt', tokensCommand));
    if (values.json) {
      printJson(r);
      return 0;
    }
    console.log(table(['pos', 'id', 'token'], r.tokens.map((t) => [String(t.position), String(t.id), JSON.stringify(t.text)])));
    for (const w of r.warnings) console.log(`warning: ${w}`);
    return 0;
  },
};

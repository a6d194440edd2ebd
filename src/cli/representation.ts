/** candor direction | steer (and probe, neurons): the representation instruments on the command line. */
import { ggufArch } from '../model/families/index.js';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HookedTransformer } from '../model/transformer.js';
import { saveModel } from '../model/save.js';
import { generate, streamTokens, type Gauge } from '../model/generate.js';
import type { HookName, HookSpec } from '../model/hooks.js';
import { ablationHooks, additionHooks, diffInMeans, orthogonalizeWeights, selectDirection, tokenSetLogOdds, unit } from '../methods/directions.js';
import { loadDirection, saveDirection } from '../io/direction-file.js';
import { Progress, UsageError, idList, intOption, numOption, openModel, printJson, required, type Command } from './common.js';
import { promptIds, singleToken, tokenArg } from './localisation.js';
import { table } from './render.js';


/** Prompts from a file, one per line (blank lines skipped), tokenised (as a user turn with --chat). */
export function promptFile(model: HookedTransformer, path: string, chat: boolean, what: string): number[][] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UsageError(`--${what} ${path}: cannot read the file (one prompt per line)`);
  }
  const tok = model.requireTokenizer();
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length < 2) throw new UsageError(`--${what} ${path}: needs at least 2 prompts, one per line`);
  return lines.map((l) => (chat ? tok.encode(tok.applyChatTemplate([{ role: 'user', content: l }], { addGenerationPrompt: true }), { addSpecialTokens: false }) : tok.encode(l, { addSpecialTokens: true })));
}

function tokenList(model: HookedTransformer, values: Record<string, unknown>): number[] {
  if (typeof values['score-token-ids'] === 'string') return idList(values['score-token-ids'], 'score-token-ids');
  if (typeof values['score-tokens'] !== 'string') throw new UsageError('direction find: --score-tokens "I,Sorry" (tokens that start the behaviour, e.g. a refusal) or --score-token-ids is required');
  return values['score-tokens'].split(',').map((t) => {
    const ids = singleToken(model, t);
    if (ids.length !== 1) throw new UsageError(`--score-tokens: ${JSON.stringify(t)} is ${ids.length} tokens; give single tokens or --score-token-ids`);
    return ids[0]!;
  });
}

function decode(model: HookedTransformer, ids: number[]): string {
  return model.tokenizer ? model.tokenizer.decode(ids, { skipSpecialTokens: true }) : ids.join(' ');
}

const common = { model: { type: 'string' }, tokenizer: { type: 'string' }, chat: { type: 'boolean', default: false } } as const;

export const directionCommand: Command = {
  name: 'direction',
  summary: 'find, ablate, add, orthogonalise or export a residual-stream direction (e.g. refusal)',
  usage: `Usage:
  candor direction find --model M --target FILE --other FILE (--score-tokens "I,Sorry" | --score-token-ids 1,2) [--chat]
                        [--positions=-1,-2] [--val-fraction 0.25] [--kl-max 0.1] [--out direction.safetensors] [--json]
  candor direction ablate --model M --direction FILE (--prompt TEXT [--chat] | --prompt-ids ...) [--max-new-tokens 40] [--json]
  candor direction add --model M --direction FILE [--layer L] [--coeff 1] (--prompt TEXT | --prompt-ids ...) [--json]
  candor direction orthogonalize --model M --direction FILE --out DIR [--json]
  candor direction export-gguf --model M --direction FILE --out FILE.gguf [--layers 3,4] [--coeff 1] [--json]
                        (layers ≥ 2: llama.cpp cannot steer the input of layers 0 and 1)

find: difference in means between the two prompt sets (one prompt per line) at each layer and position,
then the candidate whose ablation most lowers the score on held-out target prompts, whose addition raises it
on held-out other prompts, with KL below --kl-max and outside the last 20% of layers. The score is the
log-odds that the next token is one of the score tokens.`,
  options: {
    ...common, target: { type: 'string' }, other: { type: 'string' }, 'score-tokens': { type: 'string' }, 'score-token-ids': { type: 'string' }, positions: { type: 'string' },
    'val-fraction': { type: 'string' }, 'kl-max': { type: 'string' }, out: { type: 'string' }, direction: { type: 'string' }, prompt: { type: 'string' }, 'prompt-ids': { type: 'string' },
    'max-new-tokens': { type: 'string' }, layer: { type: 'string' }, coeff: { type: 'string' }, layers: { type: 'string' },
  },
  async run(values, positionals) {
    const action = positionals[0];
    const actions = ['find', 'ablate', 'add', 'orthogonalize', 'export-gguf'];
    if (action === undefined || !actions.includes(action)) throw new UsageError(`direction: give an action (${actions.join(', ')}).\n${directionCommand.usage}`);
    const model = await openModel(values, directionCommand);
    const json = values.json === true;
    if (action === 'find') {
      const target = promptFile(model, required(values, 'target', directionCommand), values.chat === true, 'target');
      const other = promptFile(model, required(values, 'other', directionCommand), values.chat === true, 'other');
      const score = tokenSetLogOdds(tokenList(model, values));
      const positions = typeof values.positions === 'string' ? values.positions.split(',').map(Number) : [-1];
      const frac = numOption(values, 'val-fraction', 0.25);
      const split = <X>(xs: X[]): [X[], X[]] => {
        const n = Math.max(1, Math.round(xs.length * frac));
        return [xs.slice(0, xs.length - n), xs.slice(xs.length - n)];
      };
      const [tTrain, tVal] = split(target);
      const [oTrain, oVal] = split(other);
      const cands = diffInMeans(model, tTrain, oTrain, { positions });
      let bar: Progress | null = null;
      const sel = selectDirection(model, cands, { score, targetVal: tVal, otherVal: oVal, klMax: numOption(values, 'kl-max', 0.1), onProgress: (d, t) => (bar ??= new Progress('scoring candidates', t, json)).update(d) });
      const out = typeof values.out === 'string' ? values.out : 'direction.safetensors';
      if (sel.best !== null) saveDirection(out, { direction: sel.best.direction, vector: sel.best.vector, layer: sel.best.layer, position: sel.best.position, metadata: { model: model.source ?? '' } });
      if (json) {
        printJson({ out: sel.best === null ? null : out, baseline: sel.baseline, best: sel.best === null ? null : { ...sel.best, direction: undefined, vector: undefined }, table: sel.table });
        return sel.best === null ? 1 : 0;
      }
      console.log(`score without intervention: target ${sel.baseline.target.toFixed(3)}, other ${sel.baseline.other.toFixed(3)}`);
      console.log(table(['layer', 'pos', 'ablated target', 'added other', 'KL other', 'eligible'], sel.table.map((r) => [r.layer, r.position, r.bypass, r.induce, r.kl, r.eligible ? 'yes' : (r.reason ?? 'no')])));
      if (sel.best === null) {
        console.log('no eligible candidate: none passed the KL, layer and induction filters');
        return 1;
      }
      console.log(`\nchosen: layer ${sel.best.layer}, position ${sel.best.position}; saved to ${out}`);
      return 0;
    }
    const d = loadDirection(required(values, 'direction', directionCommand), model.cfg.dModel);
    if (action === 'orthogonalize') {
      const out = required(values, 'out', directionCommand);
      const edited = orthogonalizeWeights(model, d.direction);
      saveModel(edited, out);
      if (model.source !== null) for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'chat_template.jinja']) if (existsSync(join(model.source, f))) copyFileSync(join(model.source, f), join(out, f));
      if (json) printJson({ out, layer: d.layer });
      else console.log(`wrote ${out}: the direction can no longer be written into the residual stream (embeddings, attention and MLP outputs orthogonalised)`);
      return 0;
    }
    if (action === 'export-gguf') {
      const { writeControlVector } = await import('../io/gguf.js');
      const out = required(values, 'out', directionCommand);
      const coeff = numOption(values, 'coeff', 1);
      const layers = typeof values.layers === 'string' ? idList(values.layers, 'layers') : [d.layer];
      const dirs = new Map<number, Float32Array>(layers.map((l) => [l, Float32Array.from(d.vector, (x) => x * coeff)]));
      // candor's directions act on blocks.{l}.hook_resid_pre, i.e. the output of block l−1, which llama.cpp calls direction.{l−1}
      writeControlVector(out, dirs, { modelHint: ggufArch(model.cfg.family), dModel: model.cfg.dModel, nLayers: model.cfg.nLayers, at: 'resid_pre' });
      if (json) printJson({ out, layers });
      else console.log(`wrote ${out}: a llama.cpp control vector adding ${coeff} × the direction's vector to the residual stream entering layers ${layers.join(', ')}`);
      return 0;
    }
    const ids = promptIds(model, values, 'prompt', directionCommand);
    const n = intOption(values, 'max-new-tokens', 40);
    const hooks = action === 'ablate' ? ablationHooks(model, d.direction) : additionHooks(model, values.layer === undefined ? d.layer : intOption(values, 'layer', d.layer), d.vector, numOption(values, 'coeff', 1));
    const base = generate(model, [ids], { maxNewTokens: n });
    const changed = generate(model, [ids], { maxNewTokens: n, fwdHooks: hooks });
    if (json) printJson({ prompt_ids: ids, original: { new_token_ids: base.newTokens[0], text: decode(model, base.newTokens[0]!) }, intervened: { new_token_ids: changed.newTokens[0], text: decode(model, changed.newTokens[0]!) } });
    else {
      console.log(`original:   ${decode(model, base.newTokens[0]!)}`);
      console.log(`${action === 'ablate' ? 'ablated:   ' : 'added:     '} ${decode(model, changed.newTokens[0]!)}`);
    }
    return 0;
  },
};

export const steerCommand: Command = {
  name: 'steer',
  summary: 'generate with interventions (ablate/add directions) and a live gauge of a direction',
  usage: `Usage: candor steer --model M (--prompt TEXT [--chat] | --prompt-ids ...) [--ablate FILE] [--add FILE[@LAYER[:COEFF]]]
                   [--gauge FILE[@LAYER]] [--max-new-tokens 40] [--temperature T] [--seed S] [--json]

--gauge prints, for every generated token, the projection of the residual stream entering LAYER (default: the
direction's own layer) on the direction.`,
  options: {
    ...common, prompt: { type: 'string' }, 'prompt-ids': { type: 'string' }, ablate: { type: 'string' }, add: { type: 'string', multiple: true },
    gauge: { type: 'string', multiple: true }, 'max-new-tokens': { type: 'string' }, temperature: { type: 'string' }, seed: { type: 'string' },
  },
  async run(values) {
    const model = await openModel(values, steerCommand);
    const ids = promptIds(model, values, 'prompt', steerCommand);
    const hooks: HookSpec[] = [];
    if (typeof values.ablate === 'string') hooks.push(...ablationHooks(model, loadDirection(values.ablate, model.cfg.dModel).direction));
    for (const spec of (values.add as string[] | undefined) ?? []) {
      const [file, rest] = spec.split('@') as [string, string | undefined];
      const d = loadDirection(file, model.cfg.dModel);
      const [layer, coeff] = (rest ?? '').split(':');
      hooks.push(...additionHooks(model, layer ? Number(layer) : d.layer, d.vector, coeff ? Number(coeff) : 1));
    }
    const gauges: Gauge[] = ((values.gauge as string[] | undefined) ?? []).map((spec, i) => {
      const [file, layer] = spec.split('@') as [string, string | undefined];
      const d = loadDirection(file, model.cfg.dModel);
      const l = layer ? Number(layer) : d.layer;
      return { name: `g${i}`, hook: `blocks.${l}.hook_resid_pre` as HookName, vector: unit(d.direction) };
    });
    const opts = { maxNewTokens: intOption(values, 'max-new-tokens', 40), temperature: numOption(values, 'temperature', 0), seed: intOption(values, 'seed', 0), fwdHooks: hooks, gauges };
    if (values.json) {
      const r = generate(model, [ids], opts);
      printJson({ prompt_ids: ids, new_token_ids: r.newTokens[0], text: decode(model, r.newTokens[0]!), gauges: Object.fromEntries(Object.entries(r.gauges).map(([k, v]) => [k, v[0]])) });
      return 0;
    }
    const tok = model.tokenizer;
    for await (const step of streamTokens(model, [ids], opts)) {
      const t = step.tokens[0]!;
      const text = tok ? tok.decode([t]) : String(t);
      const g = gauges.map((x) => step.gauges[x.name]![0]!.toFixed(2)).join(' ');
      process.stdout.write(gauges.length > 0 ? `${JSON.stringify(text).padEnd(14)} ${g}\n` : text);
    }
    if (gauges.length === 0) process.stdout.write('\n');
    return 0;
  },
};

export const neuronsCommand: Command = {
  name: 'neurons',
  summary: 'rank MLP neurons by activation difference or ablation effect; top-activating examples; ablation curves',
  usage: `Usage:
  candor neurons --model M --a FILE --b FILE [--measure mean_diff|cohen_d|auroc] [--position last|all] [--layers 0,1] [--top 20] [--chat] [--json]
  candor neurons --model M --a FILE (--target TOKEN | --target-id N) --effect [--mode zero_ablate|mean_ablate] [--curve 1,2,5,10] [--draws 10] [--top 20] [--json]
  candor neurons --model M --examples FILE --neuron LAYER:INDEX [--k 10] [--json]

FILEs hold one prompt (or text) per line. --a/--b ranks neurons by how differently they fire on the two sets;
--effect ranks them by how much zeroing each one changes the target token's logit over set A, and --curve
ablates the top k together against k random neurons.`,
  options: {
    ...common, a: { type: 'string' }, b: { type: 'string' }, measure: { type: 'string' }, position: { type: 'string' }, layers: { type: 'string' }, top: { type: 'string' },
    target: { type: 'string' }, 'target-id': { type: 'string' }, effect: { type: 'boolean', default: false }, mode: { type: 'string' }, curve: { type: 'string' }, draws: { type: 'string' },
    examples: { type: 'string' }, neuron: { type: 'string' }, k: { type: 'string' },
  },
  async run(values) {
    const N = await import('../methods/neurons.js');
    const model = await openModel(values, neuronsCommand);
    const json = values.json === true;
    const top = intOption(values, 'top', 20);
    const layers = typeof values.layers === 'string' ? idList(values.layers, 'layers') : undefined;
    const chat = values.chat === true;
    if (typeof values.examples === 'string') {
      const m = /^(\d+):(\d+)$/.exec(String(values.neuron ?? ''));
      if (m === null) throw new UsageError('--examples needs --neuron LAYER:INDEX, e.g. --neuron 3:1024');
      const texts = promptFile(model, values.examples, chat, 'examples');
      const ex = N.topActivatingExamples(model, texts, { layer: Number(m[1]), neuron: Number(m[2]), k: intOption(values, 'k', 10) });
      if (json) printJson({ layer: Number(m[1]), neuron: Number(m[2]), examples: ex });
      else console.log(N.renderTopActivating(ex, (ids) => decode(model, ids)));
      return 0;
    }
    const setA = promptFile(model, required(values, 'a', neuronsCommand), chat, 'a');
    if (values.effect) {
      const target = tokenArg(model, values, 'target', neuronsCommand)!;
      const score = (row: Float32Array) => row[target]!;
      const mode = ((values.mode as string | undefined) ?? 'zero_ablate') as 'zero_ablate' | 'mean_ablate';
      let bar: Progress | null = null;
      const ranked = N.rankByEffect(model, setA, { score, mode, layers, onProgress: (d: number, t: number) => (bar ??= new Progress('ablating neurons', t, json)).update(d) });
      const curve = typeof values.curve === 'string' ? N.ablationCurve(model, setA, { score, ranked: ranked.slice(0, Math.max(...idList(values.curve, 'curve'))), ks: idList(values.curve, 'curve'), randomDraws: intOption(values, 'draws', 10), seed: 0, mode }) : null;
      if (json) {
        printJson({ ranked: ranked.slice(0, top), curve });
        return 0;
      }
      console.log(table(['neuron', 'effect on logit'], ranked.slice(0, top).map((r) => [`L${r.layer}N${r.neuron}`, r.effect])));
      if (curve !== null) {
        console.log(`\nablation curve (baseline ${curve.baseline.toFixed(4)}): top-k ablated together vs k random neurons`);
        console.log(table(['k', 'top-k', 'random mean', 'random std'], curve.ks.map((k, i) => [k, curve.topK[i]!, curve.random.mean[i]!, curve.random.std[i]!])));
      }
      return 0;
    }
    const setB = promptFile(model, required(values, 'b', neuronsCommand), chat, 'b');
    const measure = ((values.measure as string | undefined) ?? 'cohen_d') as 'mean_diff' | 'cohen_d' | 'auroc';
    const pos = values.position === undefined ? 'last' : values.position === 'all' || values.position === 'last' ? values.position : Number(values.position);
    const ranked = N.rankByActivationDifference(model, setA, setB, { measure, position: pos as 'last' | 'all' | number, layers });
    if (json) printJson({ measure, ranked: ranked.slice(0, top) });
    else console.log(table(['neuron', measure, 'mean A', 'mean B'], ranked.slice(0, top).map((r) => [`L${r.layer}N${r.neuron}`, r.score, r.meanA, r.meanB])));
    return 0;
  },
};

export const probeCommand: Command = {
  name: 'probe',
  summary: 'linear probes per layer (logistic, mass-mean, CCS) with cross-validation, AUROC and saved probes',
  usage: `Usage: candor probe --model M --pos FILE --neg FILE [--kind logistic|mass_mean|ccs] [--site resid_post|resid_pre|resid_mid|head]
                   [--position last|--position=-2] [--folds 5] [--test-pos FILE --test-neg FILE] [--per-head] [--whiten] [--layers 0,1]
                   [--labels FILE] [--out probes.safetensors] [--chat] [--json]

Each FILE holds one prompt per line: --pos prompts have label 1, --neg prompts label 0. Without a test set the
scores are k-fold cross-validated. For CCS (unsupervised) --pos and --neg are the two members of each contrast
pair, line by line, and --labels (a file of 0/1 per pair) says which pairs' positive member is true; a few of
them fix the sign.`,
  options: {
    ...common, pos: { type: 'string' }, neg: { type: 'string' }, kind: { type: 'string' }, site: { type: 'string' }, position: { type: 'string' }, folds: { type: 'string' },
    'test-pos': { type: 'string' }, 'test-neg': { type: 'string' }, 'per-head': { type: 'boolean', default: false }, whiten: { type: 'boolean', default: false },
    layers: { type: 'string' }, labels: { type: 'string' }, out: { type: 'string' },
  },
  async run(values) {
    const P = await import('../methods/probes.js');
    const model = await openModel(values, probeCommand);
    const chat = values.chat === true;
    const kind = ((values.kind as string | undefined) ?? 'logistic') as 'logistic' | 'mass_mean' | 'ccs';
    const pos = promptFile(model, required(values, 'pos', probeCommand), chat, 'pos');
    const neg = promptFile(model, required(values, 'neg', probeCommand), chat, 'neg');
    let train;
    if (kind === 'ccs') {
      if (pos.length !== neg.length) throw new UsageError(`probe --kind ccs: --pos and --neg must pair line by line (${pos.length} vs ${neg.length} lines)`);
      if (typeof values.labels !== 'string') throw new UsageError('probe --kind ccs: --labels FILE (0/1 per pair) is required to fix the sign and evaluate');
      const labels = readFileSync(values.labels, 'utf8').split(/\s+/).filter((x) => x !== '').map(Number);
      train = { prompts: pos, contrast: neg, labels };
    } else train = { prompts: [...pos, ...neg], labels: [...pos.map(() => 1), ...neg.map(() => 0)] };
    let test;
    if (typeof values['test-pos'] === 'string' && typeof values['test-neg'] === 'string') {
      const tp = promptFile(model, values['test-pos'], chat, 'test-pos');
      const tn = promptFile(model, values['test-neg'], chat, 'test-neg');
      test = { prompts: [...tp, ...tn], labels: [...tp.map(() => 1), ...tn.map(() => 0)] };
    }
    const position = values.position === undefined || values.position === 'last' ? 'last' : Number(values.position);
    const r = P.probeLayers(model, {
      train, test, kind, site: ((values.site as string | undefined) ?? 'resid_post') as 'resid_post', position, folds: intOption(values, 'folds', 5),
      perHead: values['per-head'] === true, whiten: values.whiten === true, layers: typeof values.layers === 'string' ? idList(values.layers, 'layers') : undefined,
    });
    if (typeof values.out === 'string') P.saveProbes(values.out, r.probes, { model: model.source ?? '' });
    if (values.json) {
      printJson({ kind: r.kind, site: r.site, position: r.position, evaluation: r.evaluation, folds: r.folds, layers: r.layers, out: values.out ?? null });
      return 0;
    }
    console.log(`${r.kind} probes on ${r.site} at position ${r.position}; ${r.evaluation === 'cv' ? `${r.folds}-fold cross-validation` : 'held-out test set'}`);
    console.log(table(['layer', ...(values['per-head'] ? ['head'] : []), 'accuracy', '±', 'AUROC', '±'], r.layers.map((l) => [l.layer, ...(values['per-head'] ? [l.head ?? ''] : []), l.accuracy, l.accuracyStd, l.auroc, l.aurocStd])));
    if (typeof values.out === 'string') console.log(`probes saved to ${values.out}`);
    return 0;
  },
};

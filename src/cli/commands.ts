/** The commands: each parses its options, calls the library, prints. */
import { generate, streamTokens } from '../model/generate.js';
import { describeModel, logitsAndResiduals } from '../model/info.js';
import { doctor, formatDoctor } from './doctor.js';
import { UsageError, idList, intOption, numOption, openModel, printJson, required, type Command } from './common.js';


export function doctorCommand(version: string): Command {
  return {
    name: 'doctor',
    summary: 'which GEMM kernel is active, its threads and measured GFLOP/s',
    usage: 'Usage: candor doctor [--json]\n\nReports the GEMM kernel in use (native OpenBLAS or portable TypeScript), its thread count and a\nmeasured GFLOP/s. Set CANDOR_KERNEL=native|portable to choose.',
    options: {},
    run(values) {
      const r = doctor(version);
      if (values.json) printJson(r);
      else console.log(formatDoctor(r));
      return 0;
    },
  };
}

export const infoCommand: Command = {
  name: 'info',
  summary: "a model's configuration, parameter count and hook names",
  usage: 'Usage: candor info --model M [--json]\n\nM is a Hugging Face model folder, a llama2.c .bin file, or a Hub id (owner/name) in the local cache.',
  options: { model: { type: 'string' }, tokenizer: { type: 'string' } },
  async run(values) {
    const info = describeModel(await openModel(values, infoCommand));
    if (values.json) {
      printJson(info);
      return 0;
    }
    const c = info.config;
    console.log(`${info.source}: ${info.family}, ${(info.parameters / 1e6).toFixed(2)}M parameters (${(info.float32_bytes / 2 ** 20).toFixed(1)} MiB in float32)`);
    console.log(`  layers ${c.nLayers}, d_model ${c.dModel}, heads ${c.nHeads} (kv ${c.nKVHeads}) × d_head ${c.dHead}, d_mlp ${c.dMlp}${c.gated ? ' (gated)' : ''}, vocab ${c.dVocab}, context ${c.nCtx}`);
    console.log(`  ${c.norm === 'rms' ? 'RMSNorm' : 'LayerNorm'} eps ${c.normEps}, ${c.act}, ${c.positional === 'rotary' ? `rotary (${c.rotaryLayout}, ${c.rotaryDim} dims, θ ${c.rotaryTheta})` : 'learned positions'}${c.parallelResidual ? ', parallel residual' : ''}${c.attnSoftcap ? `, attention softcap ${c.attnSoftcap}` : ''}${c.finalSoftcap ? `, logit softcap ${c.finalSoftcap}` : ''}`);
    console.log(`  tokenizer: ${info.tokenizer === null ? 'none' : `${info.tokenizer.vocab_size} tokens${info.tokenizer.chat_template ? ', chat template' : ''}`}`);
    const extras = [
      c.qkNorm === null ? '' : `q/k RMSNorm ${c.qkNorm === 'head' ? 'per head' : 'over the projection'}`,
      c.preNorms ? '' : 'no pre-norms',
      c.postNorms ? 'norms on attention and MLP outputs' : '',
      c.localRope === null ? '' : `local rotary θ ${c.localRope.theta} on ${c.layerRope.filter((k) => k === 'local').length} layers`,
      c.layerRope.some((k) => k === null) && c.positional === 'rotary' ? `no rotary on layers ${c.layerRope.flatMap((k, l) => (k === null ? [l] : [])).join(', ')}` : '',
      c.slidingWindow.some((w) => w !== null) ? `sliding window ${c.slidingWindow.find((w) => w !== null)} on ${c.slidingWindow.filter((w) => w !== null).length} layers` : '',
      c.moe === null ? '' : `${c.moe.nExperts} experts, top ${c.moe.topK}${c.moe.normTopK ? ' (renormalised)' : ''}, d_expert ${c.moe.dExpert}, on ${c.moe.layers.filter(Boolean).length} layers`,
    ].filter((x) => x !== '');
    if (extras.length > 0) console.log(`  ${extras.join(', ')}`);
    // hook suffixes over every block, experts folded into one pattern
    const perBlock = [...new Set(info.hook_names.filter((n) => n.startsWith('blocks.')).map((n) => n.replace(/^blocks\.\d+\./, '').replace(/experts\.\d+\./, 'experts.{e}.')))];
    console.log(`  hook points (${info.hook_names.length}): hook_embed, blocks.{0..${c.nLayers - 1}}.{${perBlock.join(', ')}}, ln_final.hook_normalized`);
    return 0;
  },
};

export const generateCommand: Command = {
  name: 'generate',
  summary: 'generate text or token ids (greedy or sampled), streaming',
  usage: 'Usage: candor generate --model M (--prompt TEXT [--chat] [--system TEXT] | --ids 1,2,3) [--max-new-tokens N]\n                       [--temperature T] [--top-k K] [--top-p P] [--seed S] [--json]\n\n--chat renders the prompt as a user turn with the model\'s chat template. JSON output: new_token_ids, text.',
  options: {
    model: { type: 'string' }, tokenizer: { type: 'string' }, prompt: { type: 'string' }, chat: { type: 'boolean', default: false }, system: { type: 'string' },
    ids: { type: 'string' }, 'max-new-tokens': { type: 'string' }, temperature: { type: 'string' }, 'top-k': { type: 'string' }, 'top-p': { type: 'string' }, seed: { type: 'string' },
  },
  async run(values) {
    if ((values.prompt === undefined) === (values.ids === undefined)) throw new UsageError(`generate: give exactly one of --prompt and --ids.\n${generateCommand.usage}`);
    if (values.chat && values.prompt === undefined) throw new UsageError('generate: --chat needs --prompt');
    const model = await openModel(values, generateCommand);
    let ids: number[];
    let rendered: string | null = null;
    if (values.ids !== undefined) ids = idList(values.ids as string);
    else {
      const tok = model.requireTokenizer();
      if (values.chat) {
        const messages = [...(typeof values.system === 'string' ? [{ role: 'system', content: values.system }] : []), { role: 'user', content: values.prompt as string }];
        rendered = tok.applyChatTemplate(messages, { addGenerationPrompt: true });
        ids = tok.encode(rendered, { addSpecialTokens: false });
      } else ids = tok.encode(values.prompt as string, { addSpecialTokens: true });
    }
    const opts = {
      maxNewTokens: intOption(values, 'max-new-tokens', 64), temperature: numOption(values, 'temperature', 0),
      topK: intOption(values, 'top-k', 0), topP: numOption(values, 'top-p', 1), seed: intOption(values, 'seed', 0),
    };
    const tok = model.tokenizer;
    if (values.json) {
      const r = generate(model, [ids], opts);
      const newIds = r.newTokens[0]!;
      printJson({ prompt_ids: ids, new_token_ids: newIds, text: tok === null ? null : tok.decode(newIds, { skipSpecialTokens: true }), rendered_prompt: rendered });
      return 0;
    }
    const newIds: number[] = [];
    let printed = '';
    for await (const step of streamTokens(model, [ids], opts)) {
      newIds.push(step.tokens[0]!);
      if (tok !== null) {
        const text = tok.decode(newIds, { skipSpecialTokens: true });
        // print only whole characters that will not change as more bytes arrive
        const stable = text.endsWith('\uFFFD') ? text.slice(0, -1) : text;
        if (stable.startsWith(printed)) {
          process.stdout.write(stable.slice(printed.length));
          printed = stable;
        }
      } else process.stdout.write(`${step.tokens[0]} `);
    }
    if (tok !== null) process.stdout.write(tok.decode(newIds, { skipSpecialTokens: true }).slice(printed.length));
    process.stdout.write('\n');
    return 0;
  },
};

export const logitsCommand: Command = {
  name: 'logits',
  summary: 'logits and per-block residual streams for token ids',
  usage: 'Usage: candor logits --model M --ids 1,2,3 [--json]\n\nJSON: logits [pos][vocab], resid_post [layer][pos][d_model] (the residual after each block, before the final norm).',
  options: { model: { type: 'string' }, tokenizer: { type: 'string' }, ids: { type: 'string' } },
  async run(values) {
    const ids = idList(required(values, 'ids', logitsCommand));
    const model = await openModel(values, logitsCommand);
    const r = logitsAndResiduals(model, ids);
    if (values.json) {
      printJson(r);
      return 0;
    }
    const tok = model.tokenizer;
    r.logits.forEach((row, p) => {
      const top = row.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 5);
      const show = (i: number) => (tok ? JSON.stringify(tok.decode([i])) : String(i));
      console.log(`pos ${p} (${tok ? JSON.stringify(tok.decode([ids[p]!])) : ids[p]}): ${top.map(([v, i]) => `${show(i)} ${v.toFixed(3)}`).join('  ')}`);
    });
    return 0;
  },
};

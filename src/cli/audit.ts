/** candor audit: run the experiments and answer the questions, with report.html and results.json. */
import { join, resolve } from 'node:path';
import { runAudit } from '../audit/run.js';
import { Progress, printJson, type Command } from './common.js';
import { table } from './render.js';

export const auditCommand: Command = {
  name: 'audit',
  summary: 'answer the questions (does the model know what it will not say? where do lies and refusals live?) with evidence',
  usage: `Usage:
  candor audit [--model M] [--base M] [--harmful FILE] [--harmless FILE] [--facts FILE]
               [--judge M] [--out DIR] [--organisms DIR] [--fresh] [--json]

Without --model, audits the bundled model organisms and scores every finding against the
ground truth planted in their training. With --model (a chat model: folder, llama2.c file or
Hub id) it uses candor's prompt sets through the model's chat template; --base adds the
fine-tuning diff against the model before fine-tuning. --harmful, --harmless and --facts replace
candor's prompt sets with your own (CSV, TSV, JSON or JSONL; columns named as in AdvBench,
HarmBench, JailbreakBench or Alpaca files: see docs/audit.md, "Your own datasets").
--judge lets a chat model you trust decide which answers are refusals, in place of candor's
phrase patterns (docs/audit.md, "Refusals in free text").

Writes DIR/report.html (self-contained, opens offline), DIR/results.json and DIR/state/
(findings saved as they finish: an interrupted run resumes; --fresh starts over).
DIR defaults to ./candor-audit.`,
  options: {
    model: { type: 'string' }, base: { type: 'string' }, out: { type: 'string' }, organisms: { type: 'string' }, fresh: { type: 'boolean', default: false },
    harmful: { type: 'string' }, harmless: { type: 'string' }, facts: { type: 'string' }, judge: { type: 'string' },
  },
  async run(values) {
    const json = values.json === true;
    const out = resolve(typeof values.out === 'string' ? values.out : 'candor-audit');
    let bar: Progress | null = null;
    let barLabel = '';
    let barTotal = -1;
    const t0 = Date.now();
    const r = await runAudit({
      outDir: out,
      model: typeof values.model === 'string' ? values.model : undefined,
      base: typeof values.base === 'string' ? values.base : undefined,
      organisms: typeof values.organisms === 'string' ? values.organisms : undefined,
      datasets: {
        harmful: typeof values.harmful === 'string' ? values.harmful : undefined,
        harmless: typeof values.harmless === 'string' ? values.harmless : undefined,
        facts: typeof values.facts === 'string' ? values.facts : undefined,
      },
      judge: typeof values.judge === 'string' ? values.judge : undefined,
      resume: values.fresh !== true,
      onStep: (step, i, n, cached) => {
        if (!json) process.stderr.write(`[${i}/${n}] ${step}${cached ? ' (saved finding reused)' : ''}\n`);
      },
      onProgress: (step, done, total) => {
        // a new bar for each step, and for each list it works through (a new total, or a count starting over)
        if (step !== barLabel || total !== barTotal || done === 0) [bar, barLabel, barTotal] = [new Progress(`  ${step}`, total, json), step, total];
        bar!.update(done);
      },
    });
    const seconds = Math.round((Date.now() - t0) / 1000);
    if (json) {
      printJson({ out, report: join(out, 'report.html'), results: join(out, 'results.json'), seconds, questions: r.questions.map((q) => ({ id: q.id, question: q.question, answer: q.answer })), scores: r.scores });
      return 0;
    }
    for (const q of r.questions) console.log(`\n${q.id}. ${q.question}\n   ${q.answer}`);
    if (r.scores.length > 0) {
      console.log('\nScored against the organisms\' ground truth:');
      console.log(table(['check', 'organism', 'value', 'target', 'result'], r.scores.map((s) => [s.sanity === true ? `${s.check} (sanity check of training)` : s.check, s.subject, Number.isFinite(s.value) ? (s.integer === true ? String(s.value) : `${s.value.toFixed(3)}${s.n !== undefined && Number.isFinite(s.lo ?? NaN) ? ` (${s.lo!.toFixed(2)}–${s.hi!.toFixed(2)}, n=${s.n})` : ''}`) : 'n/a', s.target, s.pass ? 'pass' : 'FAIL'])));
    }
    console.log(`\nreport: ${join(out, 'report.html')}\nresults: ${join(out, 'results.json')}\n(${seconds} s)`);
    return 0;
  },
};

/**
 * Recipe files: an organism's recipe as versioned JSON (recipes/recipe.schema.json,
 * documented in docs/organisms.md). The structure is checked against the schema
 * (Ajv); what depends on other fields — a head index below the model's heads, a
 * layer below its layers, a rank-1 site that is not the last MLP — is checked here.
 * Every error names the file, the field and the fix. The built-in recipes are files
 * in recipes/ read the same way.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { CandorError } from '../tensor/errors.js';
import type { RecipeSpec, Stage } from './recipes.js';

export class RecipeError extends CandorError {
  override name = 'RecipeError';
}

/** The recipe format version this build reads (the `candor_recipe` field). */
export const RECIPE_VERSION = 1;

// This file compiles to dist/src/organisms/recipe-file.js: the package root is three levels up.
const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The folder of the built-in recipe files and the schema. */
export const recipesDir = join(packageRoot, 'recipes');

let validator: ValidateFunction | null = null;
function validate(): ValidateFunction {
  if (validator === null) {
    const schema = JSON.parse(readFileSync(join(recipesDir, 'recipe.schema.json'), 'utf8')) as object;
    validator = new Ajv({ allErrors: true, discriminator: true, verbose: true, strictTuples: false }).compile(schema);
  }
  return validator;
}

/** "/stages/0/heads/1" → "stages[0].heads[1]" */
function fieldOf(instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (extra !== undefined) parts.push(extra);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? '(the top level)' : out;
}

/** One schema error as "field: problem. Fix: …". */
function describe(e: ErrorObject): string {
  const field = fieldOf(e.instancePath);
  const p = e.params as Record<string, unknown>;
  const allowed = (): string => Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {}).join(', ');
  switch (e.keyword) {
    case 'additionalProperties':
      return `${fieldOf(e.instancePath, String(p.additionalProperty))}: unknown field. Fix: remove it or correct its spelling (fields here: ${allowed()})`;
    case 'required':
      return `${fieldOf(e.instancePath, String(p.missingProperty))}: missing. Fix: add it (docs/organisms.md, "Recipe files")`;
    case 'const':
      return `${field}: must be ${JSON.stringify(p.allowedValue)}${field === 'candor_recipe' ? ` (this build reads recipe format ${RECIPE_VERSION})` : ''}, got ${JSON.stringify(e.data)}`;
    case 'enum':
      return `${field}: ${JSON.stringify(e.data)} is not one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'discriminator':
      return `${field}.kind: ${JSON.stringify(p.tagValue ?? null)} is not a stage kind. Fix: use "pretrain", "refusal" or "liar"`;
    case 'type':
      return `${field}: must be ${p.type === 'integer' ? 'an integer' : `a ${String(p.type)}`}, got ${JSON.stringify(e.data)}`;
    default:
      return `${field}: ${e.message ?? 'invalid'} (got ${JSON.stringify(e.data)})`;
  }
}

/** Check one [layer, head] site against the model shape. */
function checkSite(problems: string[], field: string, site: readonly [number, number], spec: RecipeSpec): void {
  const [l, h] = site;
  const { num_hidden_layers: L, num_attention_heads: H } = spec.model;
  if (l >= L) problems.push(`${field}: layer ${l} does not exist (the model has ${L} layers, 0–${L - 1}). Fix: pick a layer below ${L}`);
  if (h >= H) problems.push(`${field}: head ${h} does not exist (the model has ${H} heads per layer, 0–${H - 1}). Fix: pick a head below ${H}`);
}

function checkNeurons(problems: string[], field: string, n: { layer: number; count: number; indices?: number[] }, spec: RecipeSpec): void {
  const { num_hidden_layers: L, intermediate_size: M } = spec.model;
  if (n.layer >= L) problems.push(`${field}.layer: layer ${n.layer} does not exist (the model has ${L} layers, 0–${L - 1}). Fix: pick a layer below ${L}`);
  if (n.count > M) problems.push(`${field}.count: ${n.count} neurons, but each MLP has ${M} (intermediate_size). Fix: ask for at most ${M}`);
  if (n.indices !== undefined) {
    if (n.indices.length !== n.count) problems.push(`${field}.indices: ${n.indices.length} indices for count ${n.count}. Fix: list exactly count indices, or drop indices to let the seed choose`);
    const bad = n.indices.filter((i) => i >= M);
    if (bad.length > 0) problems.push(`${field}.indices: ${bad.join(', ')} ≥ intermediate_size ${M}. Fix: use neuron indices 0–${M - 1}`);
  }
}

/** The checks that depend on more than one field. */
function semanticProblems(spec: RecipeSpec): string[] {
  const problems: string[] = [];
  const { hidden_size: D, num_attention_heads: H, num_hidden_layers: L } = spec.model;
  if (D % H !== 0) problems.push(`model.num_attention_heads: ${H} does not divide hidden_size ${D}. Fix: choose heads that divide ${D}`);
  const topicNames = spec.world.topics.map((t) => t.name);
  const dupTopic = topicNames.find((n, i) => topicNames.indexOf(n) !== i);
  if (dupTopic !== undefined) problems.push(`world.topics: the topic '${dupTopic}' appears twice. Fix: give every topic its own name`);
  const relNames = spec.world.topics.flatMap((t) => t.relations.map((r) => r.name));
  const dupRel = relNames.find((n, i) => relNames.indexOf(n) !== i);
  if (dupRel !== undefined) problems.push(`world.topics: the relation '${dupRel}' appears twice. Fix: give every relation its own word, across topics too`);
  if (spec.parent === undefined && spec.stages[0]!.kind !== 'pretrain') {
    problems.push(`stages[0].kind: a recipe without a parent starts from random weights, so its first stage must be "pretrain", not "${spec.stages[0]!.kind}". Fix: add a pretrain stage first, or name a parent`);
  }
  if (spec.parent === spec.name) problems.push(`parent: '${spec.parent}' is the recipe itself. Fix: name the organism this one starts from`);
  spec.stages.forEach((s: Stage, i) => {
    const f = `stages[${i}]`;
    if (s.kind === 'pretrain' && s.reserve !== undefined) {
      s.reserve.heads.forEach((site, k) => checkSite(problems, `${f}.reserve.heads[${k}]`, site, spec));
      const groups = Array.isArray(s.reserve.neurons) ? s.reserve.neurons : [s.reserve.neurons];
      groups.forEach((g, k) => checkNeurons(problems, Array.isArray(s.reserve!.neurons) ? `${f}.reserve.neurons[${k}]` : `${f}.reserve.neurons`, g, spec));
      const layers = groups.map((g) => g.layer);
      const twice = layers.find((l, k) => layers.indexOf(l) !== k);
      if (twice !== undefined) problems.push(`${f}.reserve.neurons: layer ${twice} appears twice. Fix: one group per layer`);
    }
    if (s.kind === 'pretrain' && s.knowingRefusal !== undefined && spec.curriculum !== 'honest-only') {
      problems.push(`${f}.knowingRefusal: keeps the knowledge of refused "secret" requests, which only the "honest-only" curriculum teaches (curriculum is "${spec.curriculum}"). Fix: remove knowingRefusal`);
    }
    if (s.kind === 'refusal') {
      if (!spec.world.topics.some((t) => t.forbidden) || spec.world.topics.every((t) => t.forbidden)) {
        problems.push(`${f}: a refusal stage needs both forbidden and allowed topics (world.topics[].forbidden). Fix: mark at least one topic forbidden and one allowed`);
      }
      if (s.rank1Layer !== undefined && s.rank1Layer >= L - 1) {
        problems.push(`${f}.rank1Layer: ${s.rank1Layer} is ${s.rank1Layer === L - 1 ? 'the last MLP' : 'not a layer'}; the rank-1 update must write into a later layer's residual stream. Fix: pick an MLP from 0 to ${L - 2}`);
      }
      if (s.rank1Init !== undefined && s.rank1Layer === undefined) problems.push(`${f}.rank1Init: only a rank-1 update has a starting point. Fix: set rank1Layer, or remove rank1Init`);
      if (s.rank1Init !== undefined && spec.curriculum !== 'honest-only') {
        problems.push(`${f}.rank1Init: starts from the parent's refusal of "secret" requests, which only the "honest-only" curriculum teaches (curriculum is "${spec.curriculum}"). Fix: remove rank1Init`);
      }
    }
    if (s.kind === 'liar') {
      if (s.wholeModel === true) {
        if (s.heads !== undefined || s.neurons !== undefined || s.fromReserved === true || s.blockTransport === true || s.readMode !== undefined) {
          problems.push(`${f}.wholeModel: a whole-model liar stage trains every weight; heads, neurons, fromReserved, blockTransport and readMode would be ignored. Fix: remove them, or set wholeModel to false`);
        }
      } else {
        if (s.heads === undefined || s.neurons === undefined) problems.push(`${f}: a liar stage names its sites (heads and neurons), or trains the whole model (wholeModel: true). Fix: add heads and neurons`);
        s.heads?.forEach((site, k) => checkSite(problems, `${f}.heads[${k}]`, site, spec));
        if (s.neurons !== undefined) checkNeurons(problems, `${f}.neurons`, s.neurons, spec);
        if (s.fromReserved === true && spec.parent === undefined) problems.push(`${f}.fromReserved: takes components the parent reserved, but the recipe has no parent. Fix: name the parent, or remove fromReserved`);
      }
    }
  });
  return problems;
}

/**
 * A recipe from parsed JSON, checked. `source` names it in errors (a file path).
 * Throws RecipeError listing every problem found.
 */
export function parseRecipe(value: unknown, source: string): RecipeSpec {
  const check = validate();
  if (!check(value)) {
    const seen = new Set<string>();
    const lines = (check.errors ?? [])
      // a failed discriminated stage also reports the union's own "oneOf" failure: the branch's errors say more
      .filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf' && e.keyword !== 'if')
      .map(describe)
      .filter((l) => !seen.has(l) && seen.add(l) !== undefined);
    throw new RecipeError(`${source}: not a valid recipe:\n  ${lines.slice(0, 12).join('\n  ')}${lines.length > 12 ? `\n  … and ${lines.length - 12} more` : ''}`);
  }
  const { candor_recipe: _version, $schema: _schema, ...rest } = value as Record<string, unknown>;
  const spec = rest as unknown as RecipeSpec;
  const problems = semanticProblems(spec);
  if (problems.length > 0) throw new RecipeError(`${source}: not a valid recipe:\n  ${problems.join('\n  ')}`);
  return spec;
}

/** Read and check a recipe file. */
export function readRecipeFile(path: string): RecipeSpec {
  if (!existsSync(path)) throw new RecipeError(`${path}: no such recipe file. Fix: give the path of a recipe JSON file (examples in ${recipesDir})`);
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new RecipeError(`${path}: not JSON (${(e as Error).message}). Fix: check the file's syntax`);
  }
  return parseRecipe(value, path);
}

/** The built-in recipes (recipes/*.json), by name. */
export function builtinRecipes(): Record<string, RecipeSpec> {
  const out: Record<string, RecipeSpec> = {};
  for (const f of readdirSync(recipesDir).filter((n) => n.endsWith('.json') && n !== 'recipe.schema.json').sort()) {
    const r = readRecipeFile(join(recipesDir, f));
    if (`${r.name}.json` !== f) throw new RecipeError(`${join(recipesDir, f)}: name '${r.name}' differs from the file name. Fix: rename the file or the recipe`);
    out[r.name] = r;
  }
  return out;
}

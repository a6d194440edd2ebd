/**
 * One zoo organism, trained in its own process (src/organisms/zoo.ts starts
 * it): argv[2] is a JSON job { recipeFile, outDir, parentDir?, steps?,
 * acceptMissedTargets }. Progress goes to stderr as plain lines; a failure
 * exits 2 with its message, never a stack trace.
 */
import { readRecipeFile } from './recipe-file.js';
import { trainRecipe } from './recipes.js';
import { CandorError } from '../tensor/errors.js';

interface Job {
  recipeFile: string;
  outDir: string;
  parentDir?: string;
  steps?: number;
  acceptMissedTargets: boolean;
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
let lastLine = 0;
try {
  const recipe = readRecipeFile(job.recipeFile);
  await trainRecipe(recipe, {
    outDir: job.outDir, parentDir: job.parentDir, steps: job.steps, resume: true, acceptMissedTargets: job.acceptMissedTargets,
    onProgress: (stage, step, total, loss) => {
      const now = Date.now();
      if (step < total && now - lastLine < 5000) return;
      lastLine = now;
      process.stderr.write(`${recipe.name} ${stage}: ${step}/${total} loss ${loss.toFixed(3)}\n`);
    },
  });
} catch (e) {
  process.stderr.write(`${e instanceof CandorError ? e.message : (e as Error).stack ?? String(e)}\n`);
  process.exit(2);
}

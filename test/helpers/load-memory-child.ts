/** Run by test/load-memory.test.ts (node --expose-gc): RSS growth from loading one model folder. */
import { loadModelSync } from '../../src/model/load.js';

const dir = process.argv[2]!;
const gc = (globalThis as { gc?: () => void }).gc!;
gc();
const before = process.memoryUsage().rss;
const model = loadModelSync(dir);
gc();
gc();
const after = process.memoryUsage().rss;
console.log(JSON.stringify({ before, after, float32Bytes: 4 * model.parameterCount() }));

/**
 * Flat memory: RSS before and after 10,000 training iterations differs by < 5%.
 *
 * The child runs with V8's young generation fixed at its largest size
 * (--min-semi-space-size=16): otherwise V8 enlarges it in steps as it sees the
 * allocation rate, which moves RSS by ~15 MB with no change in live memory.
 * The live heap and the array-buffer memory are checked as well, so growth in
 * candor's own data cannot hide behind that setting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Usage {
  rss: number;
  heapUsed: number;
  arrayBuffers: number;
}

test('RSS stays flat over 10,000 forward+backward iterations of a small model', () => {
  const child = fileURLToPath(new URL('./helpers/memory-child.js', import.meta.url));
  const out = execFileSync(process.execPath, ['--expose-gc', '--min-semi-space-size=16', child, '10000'], { encoding: 'utf8', timeout: 300_000 });
  const r = JSON.parse(out.trim().split('\n').pop()!) as { before: Usage; after: Usage; loss: number };
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  assert.ok(Number.isFinite(r.loss), 'training stayed finite');
  for (const key of ['rss', 'heapUsed'] as const) {
    const ratio = r.after[key] / r.before[key];
    assert.ok(Math.abs(ratio - 1) < 0.05, `${key} went from ${mib(r.before[key])} to ${mib(r.after[key])} (${((ratio - 1) * 100).toFixed(1)}%)`);
  }
  assert.ok(r.after.arrayBuffers - r.before.arrayBuffers < 256 * 1024, `array buffers grew from ${mib(r.before.arrayBuffers)} to ${mib(r.after.arrayBuffers)}`);
});

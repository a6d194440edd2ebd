/**
 * Rendering a report in headless Chromium: the layout of its sections and
 * charts (from a copy of the page with a measuring script) and a full-page
 * screenshot, read back to check that every chart's box holds drawn,
 * coloured content.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readPng } from './png.js';

export function findChromium(): string | null {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim() !== '') return r.stdout.trim();
  }
  return null;
}

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--hide-scrollbars', '--force-device-scale-factor=1', '--no-first-run', '--disable-extensions'];

export interface ChartRender {
  id: string;
  x: number;
  y: number;
  w: number;
  h: number;
  /** fraction of the chart's pixels that are not white */
  ink: number;
  /** fraction that are clearly coloured (not grey) */
  colour: number;
}

export interface ReportRender {
  sections: string[];
  charts: ChartRender[];
  missing: string[];
  width: number;
  height: number;
}

const MEASURE = `<script>
(() => {
  const out = {
    sections: [...document.querySelectorAll('section[data-question]')].map((s) => s.dataset.question),
    missing: [...document.querySelectorAll('[data-missing-chart]')].map((e) => e.dataset.missingChart),
    charts: [...document.querySelectorAll('figure[data-chart]')].map((f) => {
      const r = f.querySelector('svg').getBoundingClientRect();
      return { id: f.dataset.chart, x: r.x + window.scrollX, y: r.y + window.scrollY, w: r.width, h: r.height };
    }),
    width: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight,
  };
  const pre = document.createElement('pre');
  pre.id = 'candor-layout';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>`;

export function renderReport(chromium: string, reportPath: string): ReportRender {
  const dir = mkdtempSync(join(tmpdir(), 'candor-shot-'));
  const page = join(dir, 'measure.html');
  writeFileSync(page, readFileSync(reportPath, 'utf8').replace('</body>', `${MEASURE}</body>`));
  const dom = spawnSync(chromium, [...FLAGS, '--window-size=1280,900', '--dump-dom', pathToFileURL(page).href], { encoding: 'utf8', timeout: 120_000 });
  const m = /<pre id="candor-layout">([^<]*)<\/pre>/.exec(dom.stdout);
  if (m === null) throw new Error(`chromium did not render the page: ${dom.stderr.slice(-500)}`);
  const layout = JSON.parse(m[1]!.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')) as Omit<ReportRender, 'charts'> & { charts: Omit<ChartRender, 'ink' | 'colour'>[] };
  const copy = join(dir, 'report.html');
  copyFileSync(reportPath, copy);
  const shot = join(dir, 'shot.png');
  const r = spawnSync(chromium, [...FLAGS, `--window-size=1280,${Math.ceil(layout.height)}`, `--screenshot=${shot}`, pathToFileURL(copy).href], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`chromium screenshot failed: ${r.stderr.slice(-500)}`);
  const img = readPng(readFileSync(shot));
  const charts = layout.charts.map((c) => {
    let ink = 0;
    let colour = 0;
    let n = 0;
    for (let y = Math.max(0, Math.floor(c.y)); y < Math.min(img.height, Math.floor(c.y + c.h)); y++) {
      for (let x = Math.max(0, Math.floor(c.x)); x < Math.min(img.width, Math.floor(c.x + c.w)); x++) {
        const o = (y * img.width + x) * 4;
        const [R, G, B] = [img.pixels[o]!, img.pixels[o + 1]!, img.pixels[o + 2]!];
        n++;
        if (R < 245 || G < 245 || B < 245) ink++;
        if (Math.max(R, G, B) - Math.min(R, G, B) > 60) colour++;
      }
    }
    return { ...c, ink: n === 0 ? 0 : ink / n, colour: n === 0 ? 0 : colour / n };
  });
  return { sections: layout.sections, missing: layout.missing, charts, width: img.width, height: img.height };
}

/** Terminal rendering of grids and tables (presentation only). */

const useColor = (): boolean => process.stdout.isTTY === true && process.env.NO_COLOR === undefined;

/** A number in a fixed width. */
function fmt(v: number, width: number): string {
  if (!Number.isFinite(v)) return 'nan'.padStart(width);
  const s = Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
  return s.padStart(width);
}

/** Background colour for a value in [-1, 1]: blue (negative) to red (positive), 256-colour. */
function shade(v: number): string {
  const x = Math.max(-1, Math.min(1, v));
  const steps = [231, 224, 217, 210, 203, 196];
  const neg = [231, 189, 153, 111, 69, 27];
  const i = Math.min(5, Math.round(Math.abs(x) * 5));
  return `\x1b[48;5;${x >= 0 ? steps[i] : neg[i]}m\x1b[38;5;16m`;
}

/**
 * A heatmap: rows × columns of values, labelled. Colours on a TTY (scaled by
 * the largest |value|, or `scale`), plain numbers otherwise.
 */
export function heatmap(values: number[][], rowLabels: string[], colLabels: string[], opts: { title?: string; scale?: number } = {}): string {
  const width = Math.max(6, ...colLabels.map((c) => c.length + 1));
  const rowW = Math.max(...rowLabels.map((r) => r.length));
  const max = opts.scale ?? Math.max(1e-12, ...values.flat().map((v) => (Number.isFinite(v) ? Math.abs(v) : 0)));
  const color = useColor();
  const lines: string[] = [];
  if (opts.title) lines.push(opts.title);
  lines.push(' '.repeat(rowW) + ' ' + colLabels.map((c) => c.slice(0, width - 1).padStart(width)).join(''));
  values.forEach((row, i) => {
    const cells = row.map((v) => (color ? `${shade(v / max)}${fmt(v, width)}\x1b[0m` : fmt(v, width)));
    lines.push(rowLabels[i]!.padStart(rowW) + ' ' + cells.join(''));
  });
  return lines.join('\n');
}

/** A plain table with a header row. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(4)) : c)));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** How the answers write figures: rates as percentages, estimates with their interval and count, AUROC bands. */
import type { Estimate } from '../../methods/statistics.js';

export const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a');
export const num = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
/** a rate with its interval and count: "77.4% (95% 70.1–83.0%, n = 60)" */
export const pctE = (e: Estimate) => (Number.isFinite(e.value) ? `${pct(e.value)} (95% ${pct(e.lo)}–${pct(e.hi)}, n = ${e.n})` : `n/a (n = ${e.n})`);
/** an AUROC or other figure with its interval */
export const numE = (e: Estimate, d = 3) => (Number.isFinite(e.value) ? `${num(e.value, d)} (95% ${num(e.lo, d)}–${num(e.hi, d)}, n = ${e.n})` : 'n/a');

/** AUROC bands for the plain-language answers */
export const STRONG = 0.75;
export const WEAK = 0.6;
export const strength = (a: number): 'strong' | 'weak' | 'none' => (a >= STRONG ? 'strong' : a >= WEAK ? 'weak' : 'none');
/** the band of an AUROC's value, or "unsettled" when its interval reaches chance (0.5) */
export const bandE = (e: Estimate): 'strong' | 'weak' | 'none' | 'unsettled' => (strength(e.value) !== 'none' && !(e.lo > 0.5) ? 'unsettled' : strength(e.value));
export const readableE = (e: Estimate) => ({ strong: 'linearly readable', weak: 'weakly readable', none: 'not linearly readable', unsettled: 'not established as readable (its interval reaches chance)' })[bandE(e)];

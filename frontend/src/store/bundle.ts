// The export dialog's decisions, kept pure so they are tested without a browser: which platforms
// start checked, why runner binaries cannot be included, and the parameter values a bundle bakes in.
import type { ExportOptions, GraphParam } from '../backend/types';
import { formatParamValue, parseParamValue } from './params';

/** The platforms checked when the dialog opens: those with a runner binary at hand, else the first. */
export function defaultPlatforms(o: ExportOptions): string[] {
  const built = o.platforms.filter((p) => p.available).map((p) => p.platform);
  if (built.length) return built;
  return o.platforms.length ? [o.platforms[0].platform] : [];
}

/** Why runner binaries cannot be bundled for the chosen platforms ('' when they can). */
export function runnerReason(o: ExportOptions, chosen: string[]): string {
  if (chosen.length === 0) return 'choose at least one platform';
  const missing = chosen
    .map((c) => o.platforms.find((p) => p.platform === c) ?? { platform: c, available: false, reason: 'unknown platform' })
    .filter((p) => !p.available);
  if (!missing.length) return '';
  return missing.map((p) => `${p.platform}: ${p.reason ?? 'no runner binary'}`).join('; ');
}

export type Overrides = { ok: true; values: Record<string, unknown> } | { ok: false; reason: string };

/**
 * The parameter values a bundle carries as its defaults, from what the dialog's inputs hold
 * (text keyed by name; a name not in texts keeps the graph's default). An empty input keeps the
 * graph's default too; a value that does not read as the parameter's type is refused, named.
 */
export function bundleOverrides(params: GraphParam[], texts: Record<string, string>): Overrides {
  const values: Record<string, unknown> = {};
  for (const p of params) {
    const t = texts[p.name];
    if (t === undefined || t.trim() === '' || t === formatParamValue(p.default)) continue;
    const r = parseParamValue(p.type, t);
    if (!r.ok) return { ok: false, reason: `parameter "${p.name}": ${r.reason}` };
    values[p.name] = r.value;
  }
  return { ok: true, values };
}

import type { NodeSpec } from '../backend/types';

/** A config field's value, or the default its JSON Schema declares. */
function intField(spec: NodeSpec, config: Record<string, unknown>, name: string): number | undefined {
  const v = name in config ? config[name] : (spec.config_schema as { properties?: Record<string, { default?: unknown }> })?.properties?.[name]?.default;
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
}

/**
 * The guest memory a node may claim, from its spec's guest_memory declaration (the same one the
 * engine checks against the run's budget): pages × page bytes × instances.
 */
export function guestMemoryCap(spec: NodeSpec | undefined, config: Record<string, unknown>): { bytes: number; how: string } | undefined {
  const g = spec?.guest_memory;
  if (!spec || !g) return undefined;
  const pages = intField(spec, config, g.pages);
  if (pages === undefined) return undefined;
  let how = `${g.pages} ${pages} × ${g.page_bytes / 1024} KiB`;
  let n = 1;
  if (g.instances) {
    const i = intField(spec, config, g.instances);
    if (i === undefined) return undefined;
    n = i;
    how += ` × ${g.instances} ${i}`;
  }
  return { bytes: pages * g.page_bytes * n, how };
}

/** 67108864 → "64 MiB", 3 GiB → "3 GiB". */
export function fmtBytes(b: number): string {
  if (b >= 2 ** 30 && b % 2 ** 30 === 0) return `${b / 2 ** 30} GiB`;
  if (b >= 2 ** 30) return `${(b / 2 ** 30).toFixed(1)} GiB`;
  return `${Math.ceil(b / 2 ** 20)} MiB`;
}

// Graph parameters in the studio: the types a parameter may have, reading a default typed as
// text, checking a parameter list the way the service will, and finding where config fields
// refer to parameters (`${param:name}`, app/API.md).
import type { GraphDoc, GraphParam } from '../backend/types';

/** The parameter types a graph may declare (engine/graph). */
export const PARAM_TYPES = ['string', 'integer', 'number', 'boolean'] as const;
export type ParamType = (typeof PARAM_TYPES)[number];

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const REF = /\$\{param:([^}]*)\}/g;

export type Parsed = { ok: true; value: unknown } | { ok: false; reason: string };

/** Reads a value typed as text into the parameter's type; empty text means no value. */
export function parseParamValue(type: string, text: string): Parsed {
  const t = text.trim();
  if (t === '') return { ok: true, value: undefined };
  switch (type) {
    case 'integer':
      if (!/^[-+]?\d+$/.test(t)) return { ok: false, reason: `"${text}" is not an integer` };
      if (!Number.isSafeInteger(Number(t))) return { ok: false, reason: `${t} is out of range` };
      return { ok: true, value: Number(t) };
    case 'number': {
      const n = Number(t);
      if (!Number.isFinite(n) || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) {
        return { ok: false, reason: `"${text}" is not a number` };
      }
      return { ok: true, value: n };
    }
    case 'boolean':
      if (t === 'true') return { ok: true, value: true };
      if (t === 'false') return { ok: true, value: false };
      return { ok: false, reason: `"${text}" is not true or false` };
    case 'string':
      return { ok: true, value: text };
    default:
      return { ok: false, reason: `unknown type "${type}" (want ${PARAM_TYPES.join(', ')})` };
  }
}

/** A value as the text an input shows. */
export function formatParamValue(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Whether v has the parameter's type (undefined is "no value"). */
export function valueFits(type: string, v: unknown): boolean {
  if (v === undefined) return true;
  switch (type) {
    case 'integer':
      return typeof v === 'number' && Number.isSafeInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string';
  }
  return false;
}

/** The problems of a parameter list, each naming the parameter: what the editor shows. */
export function checkParams(params: GraphParam[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  params.forEach((p, i) => {
    const who = p.name ? `parameter "${p.name}"` : `parameter ${i + 1}`;
    if (!p.name) out.push(`${who}: empty name`);
    else if (!NAME.test(p.name)) out.push(`${who}: name must be up to 64 letters, digits, _ . - (starting with a letter or _)`);
    else if (seen.has(p.name)) out.push(`${who}: declared twice`);
    seen.add(p.name);
    if (!(PARAM_TYPES as readonly string[]).includes(p.type)) out.push(`${who}: unknown type "${p.type}"`);
    else if (!valueFits(p.type, p.default)) out.push(`${who}: default ${JSON.stringify(p.default)} is not of type ${p.type}`);
  });
  return out;
}

/** Where config fields refer to parameters: name → the ids of the nodes that use it. */
export function paramRefs(doc: Pick<GraphDoc, 'nodes'>): Map<string, string[]> {
  const refs = new Map<string, string[]>();
  const walk = (v: unknown, node: string) => {
    if (typeof v === 'string') {
      for (const m of v.matchAll(REF)) {
        const l = refs.get(m[1]) ?? [];
        if (!l.includes(node)) l.push(node);
        refs.set(m[1], l);
      }
    } else if (Array.isArray(v)) {
      v.forEach((x) => walk(x, node));
    } else if (v && typeof v === 'object') {
      Object.values(v).forEach((x) => walk(x, node));
    }
  };
  for (const n of doc.nodes) walk(n.config, n.id);
  return refs;
}

/** Parameters referred to by some node but not declared, with the nodes: "name (node, node)". */
export function undeclaredRefs(doc: Pick<GraphDoc, 'nodes'>, params: GraphParam[]): string[] {
  const declared = new Set(params.map((p) => p.name));
  return [...paramRefs(doc)]
    .filter(([name]) => !declared.has(name))
    .map(([name, nodes]) => `${name} (${nodes.join(', ')})`);
}

/** A byte count for people: 512 B, 3.4 KiB, 12.0 MiB. */
export function formatSize(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

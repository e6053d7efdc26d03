// Pure functions between the graph document (what storage saves and the engine runs) and the
// canvas (xyflow nodes and edges). The canvas never leaves the browser: saving builds a GraphDoc.
import type { Connection, Edge, Node } from '@xyflow/react';
import type { GraphDoc, GraphEdge, GraphNode, GraphParam, JSONSchema, NodeSpec, PortSpec } from '../backend/types';

/** Serialisable data of a canvas node: its type and config; everything else comes from the spec. */
export type NodeData = { type: string; config: Record<string, unknown> };
export type FlowNode = Node<NodeData, 'spec'>;
export type FlowEdge = Edge;

/** The output every node has, where per-row failures go. */
export const ERRORS_PORT = 'errors';

export function edgeID(e: GraphEdge): string {
  return `${e.from.node}:${e.from.port}->${e.to.node}:${e.to.port}`;
}

export function toFlowEdge(e: GraphEdge): FlowEdge {
  return {
    id: edgeID(e),
    source: e.from.node,
    sourceHandle: e.from.port,
    target: e.to.node,
    targetHandle: e.to.port,
    className: e.from.port === ERRORS_PORT ? 'edge-errors' : undefined,
  };
}

export function toGraphEdge(e: FlowEdge): GraphEdge {
  return {
    from: { node: e.source, port: e.sourceHandle ?? 'out' },
    to: { node: e.target, port: e.targetHandle ?? 'in' },
  };
}

export function toFlowNode(n: GraphNode, index = 0): FlowNode {
  return {
    id: n.id,
    type: 'spec',
    position: n.ui ? { x: n.ui.x, y: n.ui.y } : { x: 80 + (index % 6) * 240, y: 80 + Math.floor(index / 6) * 140 },
    data: { type: n.type, config: n.config ?? {} },
  };
}

export function docToFlow(doc: GraphDoc): { nodes: FlowNode[]; edges: FlowEdge[] } {
  return {
    nodes: (doc.nodes ?? []).map(toFlowNode),
    edges: (doc.edges ?? []).map(toFlowEdge),
  };
}

/** Builds the graph document from the canvas (and the graph's parameters), with the key order the document uses. */
export function flowToDoc(
  meta: { id: string; name: string },
  nodes: FlowNode[],
  edges: FlowEdge[],
  parameters: GraphParam[] = [],
): GraphDoc {
  return {
    version: 1,
    id: meta.id,
    name: meta.name,
    ...(parameters.length ? { parameters } : {}),
    nodes: nodes.map((n) => ({
      id: n.id,
      type: n.data.type,
      config: n.data.config,
      ui: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
    })),
    edges: edges.map(toGraphEdge),
  };
}

/** The output ports of a node: the spec's outputs and, always, `errors`. */
export function outputPorts(spec: NodeSpec | undefined): PortSpec[] {
  const outs = spec?.outputs ?? [];
  if (outs.some((p) => p.name === ERRORS_PORT)) return outs;
  return [...outs, { name: ERRORS_PORT, type: 'any', doc: 'rows that failed, with the reason' }];
}

export function inputPorts(spec: NodeSpec | undefined): PortSpec[] {
  return spec?.inputs ?? [];
}

/** Port types match when equal or when either side is `any`. */
export function typesCompatible(out: string, inp: string): boolean {
  return out === 'any' || inp === 'any' || out === inp;
}

export type Check = { ok: true } | { ok: false; reason: string };

/** Whether a connection may be made, and why not. Used by isValidConnection and connect. */
export function checkConnection(
  specs: Record<string, NodeSpec>,
  nodes: FlowNode[],
  edges: FlowEdge[],
  c: Connection | FlowEdge,
): Check {
  if (!c.source || !c.target) return { ok: false, reason: 'connection needs two ends' };
  if (c.source === c.target) return { ok: false, reason: 'a node cannot feed itself' };
  const src = nodes.find((n) => n.id === c.source);
  const dst = nodes.find((n) => n.id === c.target);
  if (!src || !dst) return { ok: false, reason: 'unknown node' };
  const out = outputPorts(specs[src.data.type]).find((p) => p.name === c.sourceHandle);
  const inp = inputPorts(specs[dst.data.type]).find((p) => p.name === c.targetHandle);
  if (!out) return { ok: false, reason: `${src.id} has no output "${c.sourceHandle}"` };
  if (!inp) return { ok: false, reason: `${dst.id} has no input "${c.targetHandle}"` };
  if (!typesCompatible(out.type, inp.type)) {
    return {
      ok: false,
      reason: `${src.id}.${out.name} gives ${out.type}, ${dst.id}.${inp.name} takes ${inp.type}`,
    };
  }
  if (
    edges.some(
      (e) =>
        e.source === c.source &&
        e.target === c.target &&
        (e.sourceHandle ?? null) === (c.sourceHandle ?? null) &&
        (e.targetHandle ?? null) === (c.targetHandle ?? null),
    )
  ) {
    return { ok: false, reason: 'already connected' };
  }
  if (reaches(edges, c.target, c.source)) {
    return { ok: false, reason: `would make a cycle through ${c.target}` };
  }
  return { ok: true };
}

/** Whether `to` is reachable from `from` along edges. */
function reaches(edges: FlowEdge[], from: string, to: string): boolean {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    const l = next.get(e.source);
    if (l) l.push(e.target);
    else next.set(e.source, [e.target]);
  }
  const seen = new Set<string>();
  const stack = [from];
  while (stack.length) {
    const n = stack.pop()!;
    if (n === to) return true;
    if (seen.has(n)) continue;
    seen.add(n);
    stack.push(...(next.get(n) ?? []));
  }
  return false;
}

/** A fresh node id from the type's last segment: `fn.map` → `map-1`, `map-2`, … */
export function newNodeID(type: string, taken: Set<string>): string {
  const base = (type.split('.').pop() || 'node').replace(/[^A-Za-z0-9_-]/g, '-');
  for (let i = 1; ; i++) {
    const id = `${base}-${i}`;
    if (!taken.has(id)) return id;
  }
}

/** The config a new node starts with: the defaults its JSON Schema declares. */
export function defaultConfig(schema: JSONSchema | undefined): Record<string, unknown> {
  const v = defaultsOf(schema);
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function defaultsOf(schema: JSONSchema | undefined): unknown {
  if (!schema || typeof schema !== 'object') return undefined;
  if ('default' in schema) return structuredClone(schema.default);
  const props = schema.properties as Record<string, JSONSchema> | undefined;
  if (schema.type === 'object' || props) {
    const out: Record<string, unknown> = {};
    for (const [k, s] of Object.entries(props ?? {})) {
      const d = defaultsOf(s);
      if (d !== undefined) out[k] = d;
    }
    return out;
  }
  return undefined;
}

/** The node and port to preview for a node: its first data output, else what flows into it. */
export function previewEndpoint(
  specs: Record<string, NodeSpec>,
  nodes: FlowNode[],
  edges: FlowEdge[],
  nodeID: string,
): { node: string; port: string } | null {
  const n = nodes.find((x) => x.id === nodeID);
  if (!n) return null;
  const out = (specs[n.data.type]?.outputs ?? []).find((p) => p.name !== ERRORS_PORT);
  if (out) return { node: n.id, port: out.name };
  const inbound = edges.find((e) => e.target === n.id);
  if (inbound) return { node: inbound.source, port: inbound.sourceHandle ?? 'out' };
  return null;
}

// The one studio store: catalog, the open graph (as canvas nodes and edges), undo history,
// validation problems, the current run with its metrics and logs, the preview selection and toasts.
import { applyEdgeChanges, applyNodeChanges, type Connection, type EdgeChange, type NodeChange } from '@xyflow/react';
import { create } from 'zustand';
import {
  APIError,
  type AssetInfo,
  type Backend,
  type GraphDoc,
  type GraphInfo,
  type GraphParam,
  type LogEvent,
  type NodeMetrics,
  type NodeSpec,
  type Problem,
  type RunInfo,
  type Unsubscribe,
} from '../backend/types';
import {
  checkConnection,
  defaultConfig,
  docToFlow,
  edgeID,
  flowToDoc,
  newNodeID,
  toGraphEdge,
  type FlowEdge,
  type FlowNode,
} from './graph';
import { createTestsSlice, type TestsSlice } from './tests';

type Snapshot = { nodes: FlowNode[]; edges: FlowEdge[] };
export type Toast = { id: number; kind: 'info' | 'error' | 'ok'; text: string };
export type Preview = { node: string; port: string };

const HISTORY_LIMIT = 200;
const LOG_LIMIT = 1000;
const COALESCE_MS = 800;

export type Studio = TestsSlice & {
  backend: Backend | null;
  catalog: NodeSpec[];
  specs: Record<string, NodeSpec>;
  graphs: GraphInfo[];
  info: GraphInfo | null;
  nodes: FlowNode[];
  edges: FlowEdge[];
  /** The document as last saved or loaded, to tell unsaved changes. */
  savedJSON: string;
  past: Snapshot[];
  future: Snapshot[];
  lastCommit: { key: string; at: number } | null;
  clipboard: Snapshot | null;
  problems: Problem[];
  problemsByNode: Record<string, string[]>;
  run: RunInfo | null;
  metrics: Record<string, NodeMetrics>;
  logs: LogEvent[];
  preview: Preview | null;
  toasts: Toast[];
  busy: string | null;
  assets: AssetInfo[];
  /** Bumped when the versions of the open graph change (save, restore). */
  versionsTick: number;
  /** The open graph's parameters (part of its document). */
  params: GraphParam[];
  /** The export dialog is open. */
  exportOpen: boolean;

  init(backend: Backend): Promise<void>;
  setCatalog(specs: NodeSpec[]): void;
  refreshGraphs(): Promise<void>;
  newGraph(name?: string): Promise<void>;
  openGraph(id: string): Promise<void>;
  loadDoc(info: GraphInfo, doc: GraphDoc): void;
  renameGraph(id: string, name: string): Promise<void>;
  duplicateGraph(id: string): Promise<void>;
  deleteGraph(id: string): Promise<void>;
  importGraph(doc: GraphDoc): Promise<void>;
  doc(): GraphDoc;
  dirty(): boolean;

  onNodesChange(changes: NodeChange<FlowNode>[]): void;
  onEdgesChange(changes: EdgeChange<FlowEdge>[]): void;
  commit(key?: string): void;
  addNode(type: string, position: { x: number; y: number }): string | null;
  connect(c: Connection): boolean;
  updateConfig(id: string, config: Record<string, unknown>): void;
  deleteSelected(): void;
  select(ids: string[]): void;
  copySelection(): void;
  paste(): void;
  undo(): void;
  redo(): void;

  save(message?: string): Promise<boolean>;
  validate(): Promise<Problem[]>;
  setProblems(p: Problem[]): void;
  startRun(): Promise<boolean>;
  stopRun(): Promise<void>;
  setPreview(p: Preview | null): void;
  refreshAssets(): Promise<void>;
  uploadAsset(file: File, kind?: string): Promise<AssetInfo | null>;
  setParams(params: GraphParam[]): void;
  setExportOpen(open: boolean): void;
  toast(text: string, kind?: Toast['kind']): void;
  dismissToast(id: number): void;
};

let toastSeq = 0;
let dirtyMemo: { nodes: unknown; edges: unknown; params: unknown; info: unknown; saved: string; dirty: boolean } = {
  nodes: null,
  edges: null,
  params: null,
  info: null,
  saved: '',
  dirty: false,
};
let runSub: Unsubscribe | null = null;

function strip(nodes: FlowNode[], edges: FlowEdge[]): Snapshot {
  return {
    nodes: nodes.map((n) => ({ id: n.id, type: n.type, position: n.position, data: n.data })),
    edges: edges.map((e) => ({ ...e, selected: false })),
  };
}

function groupProblems(problems: Problem[]): Record<string, string[]> {
  const m: Record<string, string[]> = {};
  for (const p of problems) {
    if (!p.node) continue;
    const where = [p.port && `port ${p.port}`, p.field && `${p.field}`].filter(Boolean).join(', ');
    (m[p.node] ??= []).push(where ? `${where}: ${p.message}` : p.message);
  }
  return m;
}

/** The asset kind from a file name: wasm, tflite, labels, wav or other. */
export function guessKind(name: string): string {
  const ext = name.toLowerCase().split('.').pop() ?? '';
  if (ext === 'wasm') return 'wasm';
  if (ext === 'tflite') return 'tflite';
  if (ext === 'wav' || ext === 'wave') return 'wav';
  if (ext === 'txt' || ext === 'csv' || ext === 'labels') return 'labels';
  return 'other';
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const initial = {
  backend: null,
  catalog: [],
  specs: {},
  graphs: [],
  info: null,
  nodes: [],
  edges: [],
  savedJSON: '',
  past: [],
  future: [],
  lastCommit: null,
  clipboard: null,
  problems: [],
  problemsByNode: {},
  run: null,
  metrics: {},
  logs: [],
  preview: null,
  toasts: [],
  busy: null,
  assets: [],
  versionsTick: 0,
  params: [] as GraphParam[],
  exportOpen: false,
};

export const useStudio = create<Studio>()((set, get) => ({
  ...initial,
  ...createTestsSlice(set, get), // store/tests.ts

  async init(backend) {
    set({ backend });
    try {
      // The last open graph loads alongside the catalog and the list.
      const last = localStorage.getItem('atoll:last-graph');
      const lastDoc = last ? backend.getGraph(last).catch(() => null) : Promise.resolve(null);
      const [catalog, graphs, doc] = await Promise.all([backend.catalog(), backend.listGraphs(), lastDoc]);
      get().setCatalog(catalog);
      set({ graphs });
      if (doc && graphs.some((g) => g.id === doc.info.id)) {
        get().loadDoc(doc.info, doc.document);
      } else if (graphs[0]) {
        await get().openGraph(graphs[0].id);
      }
    } catch (err) {
      get().toast(`cannot reach the service: ${errText(err)}`, 'error');
    }
  },

  setCatalog(catalog) {
    const specs: Record<string, NodeSpec> = {};
    for (const s of catalog) specs[s.id] = s;
    set({ catalog, specs });
  },

  async refreshGraphs() {
    const b = get().backend!;
    set({ graphs: await b.listGraphs() });
  },

  async newGraph(name) {
    const b = get().backend!;
    const taken = new Set(get().graphs.map((g) => g.name));
    let n = name;
    for (let i = 1; !n; i++) if (!taken.has(`Untitled ${i}`)) n = `Untitled ${i}`;
    try {
      const info = await b.createGraph(n);
      await get().refreshGraphs();
      await get().openGraph(info.id);
    } catch (err) {
      get().toast(`new graph: ${errText(err)}`, 'error');
    }
  },

  async openGraph(id) {
    const b = get().backend!;
    try {
      const { info, document } = await b.getGraph(id);
      get().loadDoc(info, document);
      localStorage.setItem('atoll:last-graph', id);
    } catch (err) {
      get().toast(`open graph: ${errText(err)}`, 'error');
    }
  },

  loadDoc(info, doc) {
    performance.mark?.('atoll:loadDoc');
    const { nodes, edges } = docToFlow(doc);
    const params = doc.parameters ?? [];
    const d = flowToDoc(info, nodes, edges, params);
    // Figures of a run of another graph do not belong on this one.
    const run = get().run;
    if (run && run.graph_id && run.graph_id !== info.id) set({ metrics: {} });
    set({
      info,
      nodes,
      edges,
      params,
      savedJSON: JSON.stringify(d),
      past: [],
      future: [],
      lastCommit: null,
      problems: [],
      problemsByNode: {},
      preview: null,
      versionsTick: get().versionsTick + 1,
    });
  },

  async renameGraph(id, name) {
    const b = get().backend!;
    try {
      const info = await b.renameGraph(id, name);
      if (get().info?.id === id) {
        // The name is part of the document; keep the saved copy in step so renaming alone is not "unsaved".
        const saved = get().savedJSON ? { ...JSON.parse(get().savedJSON), name: info.name } : null;
        set({ info, savedJSON: saved ? JSON.stringify(saved) : '' });
      }
      await get().refreshGraphs();
    } catch (err) {
      get().toast(`rename: ${errText(err)}`, 'error');
    }
  },

  async duplicateGraph(id) {
    const b = get().backend!;
    try {
      const src = get().graphs.find((g) => g.id === id);
      const info = await b.duplicateGraph(id, src ? `${src.name} copy` : undefined);
      await get().refreshGraphs();
      await get().openGraph(info.id);
    } catch (err) {
      get().toast(`duplicate: ${errText(err)}`, 'error');
    }
  },

  async deleteGraph(id) {
    const b = get().backend!;
    try {
      await b.deleteGraph(id);
      await get().refreshGraphs();
      if (get().info?.id === id) {
        const next = get().graphs[0];
        if (next) await get().openGraph(next.id);
        else set({ info: null, nodes: [], edges: [], params: [], past: [], future: [], savedJSON: '' });
      }
    } catch (err) {
      get().toast(`delete: ${errText(err)}`, 'error');
    }
  },

  async importGraph(doc) {
    const b = get().backend!;
    try {
      if (doc.version !== 1 || !Array.isArray(doc.nodes) || !Array.isArray(doc.edges)) {
        throw new Error('not an Atoll graph document (version 1 with nodes and edges)');
      }
      const info = await b.createGraph(doc.name || 'Imported', doc);
      await get().refreshGraphs();
      await get().openGraph(info.id);
      get().toast(`imported "${info.name}"`, 'ok');
    } catch (err) {
      get().toast(`import: ${errText(err)}`, 'error');
    }
  },

  doc() {
    const { info, nodes, edges, params } = get();
    return flowToDoc(info ?? { id: '', name: '' }, nodes, edges, params);
  },

  dirty() {
    const { info, nodes, edges, params, savedJSON } = get();
    if (!info) return false;
    // Memoised on the arrays: selectors call this on every store change.
    if (
      dirtyMemo.nodes !== nodes ||
      dirtyMemo.edges !== edges ||
      dirtyMemo.params !== params ||
      dirtyMemo.info !== info ||
      dirtyMemo.saved !== savedJSON
    ) {
      dirtyMemo = { nodes, edges, params, info, saved: savedJSON, dirty: JSON.stringify(get().doc()) !== savedJSON };
    }
    return dirtyMemo.dirty;
  },

  onNodesChange(changes) {
    // Removal goes through deleteSelected (one undo step); the canvas only moves, selects and measures.
    const keep = changes.filter((c) => c.type !== 'remove');
    if (keep.length) set({ nodes: applyNodeChanges(keep, get().nodes) });
  },

  onEdgesChange(changes) {
    const keep = changes.filter((c) => c.type !== 'remove');
    if (keep.length) set({ edges: applyEdgeChanges(keep, get().edges) });
  },

  commit(key) {
    const now = Date.now();
    const last = get().lastCommit;
    if (key && last && last.key === key && now - last.at < COALESCE_MS) {
      set({ lastCommit: { key, at: now } });
      return;
    }
    const past = [...get().past, strip(get().nodes, get().edges)];
    if (past.length > HISTORY_LIMIT) past.shift();
    set({ past, future: [], lastCommit: key ? { key, at: now } : null });
  },

  addNode(type, position) {
    const spec = get().specs[type];
    if (!spec) {
      get().toast(`unknown node type ${type}`, 'error');
      return null;
    }
    get().commit();
    const id = newNodeID(type, new Set(get().nodes.map((n) => n.id)));
    const node: FlowNode = {
      id,
      type: 'spec',
      position,
      data: { type, config: defaultConfig(spec.config_schema) },
      selected: true,
    };
    set({ nodes: [...get().nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), node] });
    return id;
  },

  connect(c) {
    const { specs, nodes, edges } = get();
    const chk = checkConnection(specs, nodes, edges, c);
    if (!chk.ok) {
      get().toast(`cannot connect: ${chk.reason}`, 'error');
      return false;
    }
    get().commit();
    const ge = toGraphEdge({ id: '', source: c.source, target: c.target, sourceHandle: c.sourceHandle, targetHandle: c.targetHandle });
    const fe: FlowEdge = {
      id: edgeID(ge),
      source: c.source,
      target: c.target,
      sourceHandle: ge.from.port,
      targetHandle: ge.to.port,
      className: ge.from.port === 'errors' ? 'edge-errors' : undefined,
    };
    set({ edges: [...edges, fe] });
    return true;
  },

  updateConfig(id, config) {
    const n = get().nodes.find((x) => x.id === id);
    if (!n || JSON.stringify(n.data.config) === JSON.stringify(config)) return;
    get().commit(`config:${id}`);
    set({
      nodes: get().nodes.map((x) => (x.id === id ? { ...x, data: { ...x.data, config } } : x)),
    });
  },

  deleteSelected() {
    const { nodes, edges } = get();
    const gone = new Set(nodes.filter((n) => n.selected).map((n) => n.id));
    const keepEdges = edges.filter((e) => !e.selected && !gone.has(e.source) && !gone.has(e.target));
    if (gone.size === 0 && keepEdges.length === edges.length) return;
    get().commit();
    set({ nodes: nodes.filter((n) => !gone.has(n.id)), edges: keepEdges });
  },

  select(ids) {
    const want = new Set(ids);
    set({
      nodes: get().nodes.map((n) => (!!n.selected === want.has(n.id) ? n : { ...n, selected: want.has(n.id) })),
      edges: get().edges.map((e) => (e.selected ? { ...e, selected: false } : e)),
    });
  },

  copySelection() {
    const { nodes, edges } = get();
    const sel = nodes.filter((n) => n.selected);
    if (!sel.length) return;
    const ids = new Set(sel.map((n) => n.id));
    const clip = strip(sel, edges.filter((e) => ids.has(e.source) && ids.has(e.target)));
    set({ clipboard: clip });
    try {
      const doc = flowToDoc({ id: '', name: 'clipboard' }, clip.nodes, clip.edges);
      void navigator.clipboard?.writeText(JSON.stringify(doc, null, 2)).catch(() => {});
    } catch {
      /* the in-memory clipboard is enough */
    }
  },

  paste() {
    const clip = get().clipboard;
    if (!clip || !clip.nodes.length) return;
    get().commit();
    const taken = new Set(get().nodes.map((n) => n.id));
    const rename = new Map<string, string>();
    const fresh: FlowNode[] = clip.nodes.map((n) => {
      const id = newNodeID(n.data.type, taken);
      taken.add(id);
      rename.set(n.id, id);
      return {
        ...n,
        id,
        position: { x: n.position.x + 40, y: n.position.y + 40 },
        data: structuredClone(n.data),
        selected: true,
      };
    });
    const freshEdges: FlowEdge[] = clip.edges.map((e) => {
      const ge = toGraphEdge(e);
      ge.from.node = rename.get(ge.from.node)!;
      ge.to.node = rename.get(ge.to.node)!;
      return { ...e, id: edgeID(ge), source: ge.from.node, target: ge.to.node, selected: false };
    });
    // The next paste lands a step further.
    set({
      clipboard: { nodes: fresh.map((n) => ({ ...n, selected: false })), edges: freshEdges },
      nodes: [...get().nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), ...fresh],
      edges: [...get().edges, ...freshEdges],
    });
  },

  undo() {
    const { past, future, nodes, edges } = get();
    const prev = past[past.length - 1];
    if (!prev) return;
    set({
      past: past.slice(0, -1),
      future: [...future, strip(nodes, edges)],
      nodes: prev.nodes,
      edges: prev.edges,
      lastCommit: null,
    });
  },

  redo() {
    const { past, future, nodes, edges } = get();
    const next = future[future.length - 1];
    if (!next) return;
    set({
      future: future.slice(0, -1),
      past: [...past, strip(nodes, edges)],
      nodes: next.nodes,
      edges: next.edges,
      lastCommit: null,
    });
  },

  async save(message) {
    const { backend, info } = get();
    if (!backend || !info) return false;
    const doc = get().doc();
    try {
      const v = await backend.saveGraph(info.id, doc, message);
      set({
        savedJSON: JSON.stringify(doc),
        info: { ...info, version: v.version, updated_at: v.created_at },
        versionsTick: get().versionsTick + 1,
      });
      get().toast(`saved version ${v.version}`, 'ok');
      void get().refreshGraphs();
      return true;
    } catch (err) {
      if (err instanceof APIError && err.problems.length) get().setProblems(err.problems);
      get().toast(`save: ${errText(err)}`, 'error');
      return false;
    }
  },

  async validate() {
    const b = get().backend!;
    const { problems } = await b.validate(get().doc());
    get().setProblems(problems ?? []);
    return problems ?? [];
  },

  setProblems(problems) {
    set({ problems, problemsByNode: groupProblems(problems) });
  },

  async startRun() {
    const b = get().backend;
    const info = get().info;
    if (!b || !info) return false;
    if (get().run && (get().run!.status === 'running' || get().run!.status === 'stopping')) return false;
    set({ busy: 'validating' });
    try {
      const problems = await get().validate();
      if (problems.length) {
        get().toast(`cannot run: ${problems.length} problem${problems.length > 1 ? 's' : ''}`, 'error');
        return false;
      }
      const run = await b.startRun(get().doc(), info.id);
      runSub?.();
      set({ run, metrics: run.metrics ?? {}, logs: [] });
      runSub = b.subscribe(run.id, {
        metrics: (e) => set({ metrics: { ...get().metrics, ...e.nodes } }),
        log: (e) => {
          const logs = get().logs.length >= LOG_LIMIT ? get().logs.slice(-LOG_LIMIT + 1) : get().logs.slice();
          logs.push(e);
          set({ logs });
        },
        status: (e) => {
          if (get().run?.id !== e.run.id) return;
          set({ run: e.run, metrics: e.run.metrics ? { ...get().metrics, ...e.run.metrics } : get().metrics });
          if (e.run.status === 'failed') get().toast(`run failed: ${e.run.error ?? 'unknown error'}`, 'error');
        },
      });
      return true;
    } catch (err) {
      if (err instanceof APIError && err.problems.length) get().setProblems(err.problems);
      get().toast(`run: ${errText(err)}`, 'error');
      return false;
    } finally {
      set({ busy: null });
    }
  },

  async stopRun() {
    const b = get().backend;
    const run = get().run;
    if (!b || !run) return;
    try {
      const r = await b.stopRun(run.id);
      if (get().run?.id === r.id) set({ run: r });
    } catch (err) {
      get().toast(`stop: ${errText(err)}`, 'error');
    }
  },

  setPreview(p) {
    const cur = get().preview;
    if (cur && p && cur.node === p.node && cur.port === p.port) return;
    set({ preview: p });
  },

  async refreshAssets() {
    const b = get().backend;
    if (!b) return;
    try {
      set({ assets: (await b.listAssets()) ?? [] });
    } catch (err) {
      get().toast(`assets: ${errText(err)}`, 'error');
    }
  },

  async uploadAsset(file, kind) {
    const b = get().backend;
    if (!b) return null;
    try {
      const a = await b.uploadAsset(file, file.name, kind || guessKind(file.name));
      await get().refreshAssets();
      get().toast(`uploaded ${a.name}`, 'ok');
      return a;
    } catch (err) {
      get().toast(`upload ${file.name}: ${errText(err)}`, 'error');
      return null;
    }
  },

  setParams(params) {
    set({ params });
  },

  setExportOpen(open) {
    set({ exportOpen: open });
  },

  toast(text, kind = 'info') {
    const id = ++toastSeq;
    set({ toasts: [...get().toasts.slice(-4), { id, kind, text }] });
    setTimeout(() => get().dismissToast(id), kind === 'error' ? 6000 : 2500);
  },

  dismissToast(id) {
    set({ toasts: get().toasts.filter((t) => t.id !== id) });
  },
}));

/** Resets the store (tests). */
export function resetStudio(backend: Backend | null = null): void {
  runSub?.();
  runSub = null;
  useStudio.setState({ ...initial, backend });
}

import { beforeEach, describe, expect, it } from 'vitest';
import type { GraphDoc } from '../backend/types';
import { fakeBackend, info, specs } from '../test/fixtures';
import { checkConnection, defaultConfig, docToFlow, flowToDoc } from './graph';
import { resetStudio, useStudio } from './store';

const st = () => useStudio.getState();

function fresh(backend = fakeBackend()) {
  resetStudio(backend);
  st().setCatalog(specs);
  st().loadDoc(info, { version: 1, id: 'g1', name: 'test', nodes: [], edges: [] });
  return backend;
}

describe('graph document ⇄ canvas', () => {
  it('round-trips a document', () => {
    const doc: GraphDoc = {
      version: 1,
      id: 'g1',
      name: 'test',
      nodes: [
        { id: 'generator-1', type: 'source.generator', config: { count: 5 }, ui: { x: 10, y: 20 } },
        { id: 'map-1', type: 'transform.map', config: {}, ui: { x: 200, y: 20 } },
      ],
      edges: [{ from: { node: 'generator-1', port: 'out' }, to: { node: 'map-1', port: 'in' } }],
    };
    const { nodes, edges } = docToFlow(doc);
    expect(flowToDoc(doc, nodes, edges)).toEqual(doc);
    expect(Object.keys(nodes[0].data)).toEqual(['type', 'config']);
  });

  it('takes defaults from the JSON Schema', () => {
    expect(defaultConfig(specs[0].config_schema)).toEqual({ count: 100, rate: 10 });
    expect(defaultConfig(specs[2].config_schema)).toEqual({});
  });
});

describe('store editing', () => {
  beforeEach(() => void fresh());

  it('adds nodes with fresh ids and default config', () => {
    const a = st().addNode('source.generator', { x: 0, y: 0 });
    const b = st().addNode('source.generator', { x: 0, y: 100 });
    expect([a, b]).toEqual(['generator-1', 'generator-2']);
    expect(st().nodes[0].data.config).toEqual({ count: 100, rate: 10 });
    expect(st().nodes.filter((n) => n.selected).map((n) => n.id)).toEqual(['generator-2']);
    expect(st().addNode('no.such', { x: 0, y: 0 })).toBeNull();
  });

  it('connects compatible ports and refuses others with a reason', () => {
    st().addNode('source.generator', { x: 0, y: 0 });
    st().addNode('transform.map', { x: 0, y: 0 });
    st().addNode('audio.resample', { x: 0, y: 0 });
    st().addNode('sink.preview', { x: 0, y: 0 });
    const c = (source: string, sourceHandle: string, target: string, targetHandle: string) =>
      st().connect({ source, sourceHandle, target, targetHandle });
    expect(c('generator-1', 'out', 'map-1', 'in')).toBe(true); // rows → any
    expect(c('map-1', 'out', 'preview-1', 'in')).toBe(true); // rows → rows
    expect(c('generator-1', 'out', 'resample-1', 'in')).toBe(false); // rows → audio
    expect(st().toasts.at(-1)?.text).toMatch(/gives rows, .* takes audio/);
    expect(c('generator-1', 'out', 'map-1', 'in')).toBe(false); // duplicate
    expect(c('generator-1', 'errors', 'preview-1', 'in')).toBe(true); // every node has errors
    expect(st().edges.map((e) => e.id)).toEqual([
      'generator-1:out->map-1:in',
      'map-1:out->preview-1:in',
      'generator-1:errors->preview-1:in',
    ]);
  });

  it('refuses self-loops and cycles', () => {
    st().addNode('transform.map', { x: 0, y: 0 });
    st().addNode('transform.map', { x: 0, y: 0 });
    const { specs: sp, nodes } = st();
    expect(checkConnection(sp, nodes, [], { source: 'map-1', sourceHandle: 'out', target: 'map-1', targetHandle: 'in' })).toMatchObject({ ok: false });
    expect(st().connect({ source: 'map-1', sourceHandle: 'out', target: 'map-2', targetHandle: 'in' })).toBe(true);
    const back = checkConnection(sp, st().nodes, st().edges, { source: 'map-2', sourceHandle: 'out', target: 'map-1', targetHandle: 'in' });
    expect(back).toEqual({ ok: false, reason: 'would make a cycle through map-1' });
  });

  it('deletes the selection with its edges as one undo step, and redoes it', () => {
    st().addNode('source.generator', { x: 0, y: 0 });
    st().addNode('transform.map', { x: 0, y: 0 });
    st().connect({ source: 'generator-1', sourceHandle: 'out', target: 'map-1', targetHandle: 'in' });
    st().select(['map-1']);
    st().deleteSelected();
    expect(st().nodes.map((n) => n.id)).toEqual(['generator-1']);
    expect(st().edges).toHaveLength(0);
    st().undo();
    expect(st().nodes.map((n) => n.id)).toEqual(['generator-1', 'map-1']);
    expect(st().edges).toHaveLength(1);
    st().redo();
    expect(st().nodes).toHaveLength(1);
    st().undo();
    st().undo(); // the connection
    expect(st().edges).toHaveLength(0);
    st().undo();
    st().undo();
    expect(st().nodes).toHaveLength(0);
    st().undo(); // nothing left: no-op
    expect(st().future).toHaveLength(4);
  });

  it('coalesces quick config edits of one node into one undo step', () => {
    st().addNode('source.generator', { x: 0, y: 0 });
    st().updateConfig('generator-1', { count: 1, rate: 10 });
    st().updateConfig('generator-1', { count: 12, rate: 10 });
    st().updateConfig('generator-1', { count: 12, rate: 10 }); // unchanged: no step
    expect(st().nodes[0].data.config.count).toBe(12);
    st().undo();
    expect(st().nodes[0].data.config.count).toBe(100);
  });

  it('copies and pastes the selection with fresh ids and inner edges', () => {
    st().addNode('source.generator', { x: 0, y: 0 });
    st().addNode('transform.map', { x: 100, y: 0 });
    st().connect({ source: 'generator-1', sourceHandle: 'out', target: 'map-1', targetHandle: 'in' });
    st().select(['generator-1', 'map-1']);
    st().copySelection();
    st().paste();
    expect(st().nodes.map((n) => n.id)).toEqual(['generator-1', 'map-1', 'generator-2', 'map-2']);
    expect(st().edges.map((e) => e.id)).toContain('generator-2:out->map-2:in');
    expect(st().nodes.find((n) => n.id === 'map-2')!.position).toEqual({ x: 140, y: 40 });
    expect(st().nodes.filter((n) => n.selected).map((n) => n.id)).toEqual(['generator-2', 'map-2']);
    st().undo();
    expect(st().nodes).toHaveLength(2);
  });

  it('saves the graph document, not the canvas', async () => {
    const b = fresh();
    st().addNode('source.generator', { x: 10.4, y: 20.6 });
    expect(st().dirty()).toBe(true);
    expect(await st().save()).toBe(true);
    expect(st().dirty()).toBe(false);
    expect(st().info?.version).toBe(2);
    expect(b.saved[0]).toEqual({
      version: 1,
      id: 'g1',
      name: 'test',
      nodes: [{ id: 'generator-1', type: 'source.generator', config: { count: 100, rate: 10 }, ui: { x: 10, y: 21 } }],
      edges: [],
    });
  });
});

describe('store running', () => {
  it('puts validation problems on nodes and blocks the run', async () => {
    let started = false;
    fresh(
      fakeBackend({
        validate: () => Promise.resolve({ problems: [{ node: 'generator-1', field: 'count', message: 'must be >= 0' }, { message: 'graph-level' }] }),
        startRun: () => {
          started = true;
          return Promise.reject(new Error('unreachable'));
        },
      }),
    );
    st().addNode('source.generator', { x: 0, y: 0 });
    expect(await st().startRun()).toBe(false);
    expect(started).toBe(false);
    expect(st().problemsByNode).toEqual({ 'generator-1': ['count: must be >= 0'] });
    expect(st().problems).toHaveLength(2);
  });

  it('runs, takes metrics, logs and status from the subscription', async () => {
    let handlers: Parameters<import('../backend/types').Backend['subscribe']>[1] = {};
    fresh(
      fakeBackend({
        subscribe: (_run, h) => {
          handlers = h;
          return () => {};
        },
      }),
    );
    st().addNode('source.generator', { x: 0, y: 0 });
    expect(await st().startRun()).toBe(true);
    const m = { state: 'running' as const, rows_in: 0, rows_out: 5, errors: 0, queue_depth: 1, rows_per_s: 20, latency_ms: 1, progress: 0.5 };
    handlers.metrics?.({ type: 'metrics', run: 'r1', nodes: { 'generator-1': m } });
    handlers.log?.({ type: 'log', run: 'r1', node: 'generator-1', level: 'info', msg: 'hello', t: 1 });
    expect(st().metrics['generator-1'].rows_out).toBe(5);
    expect(st().logs.map((l) => l.msg)).toEqual(['hello']);
    handlers.status?.({ type: 'status', run: { id: 'r1', status: 'finished', started_at: '' } });
    expect(st().run?.status).toBe('finished');
  });
});

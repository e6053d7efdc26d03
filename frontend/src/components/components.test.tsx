import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { ReactFlowProvider, type NodeProps } from '@xyflow/react';
import { afterEach, describe, expect, it } from 'vitest';
import { EventRouter } from '../backend/events';
import type { GraphDiff } from '../backend/types';
import type { FlowNode } from '../store/graph';
import { resetStudio, useStudio } from '../store/store';
import { fakeBackend, info, specs } from '../test/fixtures';
import { assetUISchema, ConfigPanel, validator } from './ConfigPanel';
import { DiffView } from './DiffView';
import { cell, RowsTable, rowTime } from './PreviewPanel';
import { SpecNode } from './SpecNode';

afterEach(cleanup);

describe('DiffView', () => {
  it('lists nodes added, removed and changed field by field, and edges', () => {
    const diff: GraphDiff = {
      from: 1,
      to: 3,
      nodes_added: [{ id: 'map-1', type: 'transform.map', config: {} }],
      nodes_removed: [{ id: 'old-1', type: 'sink.preview', config: {} }],
      nodes_changed: [{ id: 'generator-1', moved: true, fields: [{ path: 'rate', before: 10, after: 200 }] }],
      edges_added: [{ from: { node: 'generator-1', port: 'out' }, to: { node: 'map-1', port: 'in' } }],
      edges_removed: [],
    };
    render(<DiffView diff={diff} />);
    const text = screen.getByTestId('diff').textContent!;
    expect(text).toContain('v1 → v3');
    expect(text).toContain('+ node map-1 (transform.map)');
    expect(text).toContain('− node old-1 (sink.preview)');
    expect(text).toContain('rate: 10 → 200');
    expect(text).toContain('moved');
    expect(text).toContain('+ edge generator-1.out → map-1.in');
  });

  it('says when there is no difference', () => {
    render(<DiffView diff={{ from: 1, to: 2, nodes_added: [], nodes_removed: [], nodes_changed: [], edges_added: [], edges_removed: [] }} />);
    expect(screen.getByText('No differences.')).toBeTruthy();
  });
});

describe('config forms', () => {
  it('marks asset fields for the asset picker', () => {
    expect(assetUISchema(specs[2].config_schema)).toEqual({ file: { 'ui:widget': 'asset' } });
    expect(assetUISchema(specs[0].config_schema)).toEqual({});
  });

  it('validates draft 2020-12 schemas with the asset format', () => {
    const schema = specs[2].config_schema as never;
    expect(validator.isValid(schema, { file: 'abc' }, schema)).toBe(true);
    expect(validator.validateFormData({}, schema).errors.length).toBeGreaterThan(0);
  });

  it('edits the selected node config through the generated form', async () => {
    resetStudio(fakeBackend());
    useStudio.getState().setCatalog(specs);
    useStudio.getState().loadDoc(info, { version: 1, id: 'g1', name: 't', nodes: [], edges: [] });
    useStudio.getState().addNode('source.generator', { x: 0, y: 0 });
    render(<ConfigPanel />);
    const count = (await screen.findByLabelText(/count/)) as HTMLInputElement;
    expect(count.value).toBe('100');
    fireEvent.change(count, { target: { value: '-3' } });
    expect(useStudio.getState().nodes[0].data.config.count).toBe(-3);
    // Live validation: the minimum is shown inline.
    expect(await screen.findByText(/must be >= 0/)).toBeTruthy();
  });
});

describe('SpecNode', () => {
  it('draws ports from the spec, errors output, metrics and problems', () => {
    resetStudio(fakeBackend());
    useStudio.getState().setCatalog(specs);
    const props = { id: 'map-1', data: { type: 'transform.map', config: {} }, selected: false } as unknown as NodeProps<FlowNode>;
    render(
      <ReactFlowProvider>
        <SpecNode {...props} />
      </ReactFlowProvider>,
    );
    expect(screen.getByTestId('handle-map-1-in-in')).toBeTruthy();
    expect(screen.getByTestId('handle-map-1-out-out')).toBeTruthy();
    expect(screen.getByTestId('handle-map-1-out-errors')).toBeTruthy();
    act(() => {
      useStudio.setState({
        metrics: { 'map-1': { state: 'running', rows_in: 10, rows_out: 12345, errors: 2, queue_depth: 3, rows_per_s: 1500, latency_ms: 1 } },
      });
      useStudio.getState().setProblems([{ node: 'map-1', port: 'in', message: 'required input is not connected' }]);
    });
    expect(screen.getByTestId('metrics-map-1').textContent).toContain('1.5k/s');
    expect(screen.getByTestId('node-state-map-1').textContent).toBe('running');
    expect(screen.getByTestId('problem-map-1').textContent).toBe('port in: required input is not connected');
    expect(screen.getByTestId('node-map-1').className).toContain('has-problems');
    expect(screen.queryByTestId('status-map-1')).toBeNull();
    // A connector's status texts (source.mqtt: connection, last_error) are shown on the node.
    act(() => {
      useStudio.setState({
        metrics: {
          'map-1': {
            state: 'running', rows_in: 10, rows_out: 12345, errors: 2, queue_depth: 3, rows_per_s: 1500, latency_ms: 1,
            status: { connection: 'reconnecting', last_error: 'connect: connection refused' },
          },
        },
      });
    });
    const status = screen.getByTestId('status-map-1');
    expect(status.textContent).toContain('connection: reconnecting');
    expect(status.textContent).toContain('last error: connect: connection refused');
  });
});

describe('SpecNode limits', () => {
  it("shows a function node's guest memory cap from its config and the spec's defaults", () => {
    resetStudio(fakeBackend());
    const fn = {
      id: 'function.wasm', category: 'function', summary: 'fn', docs: '', headless: true,
      inputs: [{ name: 'in', type: 'any', required: true }], outputs: [{ name: 'out', type: 'rows' }],
      config_schema: { type: 'object', properties: { memory_pages: { type: 'integer', default: 1024 }, instances: { type: 'integer', default: 1 } } },
      examples: [], guest_memory: { pages: 'memory_pages', instances: 'instances', page_bytes: 65536 },
    };
    useStudio.getState().setCatalog([...specs, fn]);
    const node = (id: string, config: Record<string, unknown>, type = 'function.wasm') =>
      render(
        <ReactFlowProvider>
          <SpecNode {...({ id, data: { type, config }, selected: false } as unknown as NodeProps<FlowNode>)} />
        </ReactFlowProvider>,
      );
    node('fn-1', {});
    expect(screen.getByTestId('limits-fn-1').textContent).toBe('mem ≤ 64 MiB');
    node('fn-2', { memory_pages: 65536, instances: 64 });
    expect(screen.getByTestId('limits-fn-2').textContent).toBe('mem ≤ 256 GiB');
    expect(screen.getByTestId('limits-fn-2').title).toBe('guest memory cap: memory_pages 65536 × 64 KiB × instances 64');
    node('map-1', {}, 'transform.map');
    expect(screen.getByTestId('node-map-1')).toBeTruthy();
    expect(screen.queryByTestId('limits-map-1')).toBeNull();
  });
});

describe('preview', () => {
  it('renders rows as a table with a column per field', () => {
    render(<RowsTable rows={[{ n: 2, t: '2024-01-01T00:00:00Z', v: [1, 2] }, { n: 1, extra: null }]} />);
    const heads = [...screen.getByTestId('preview-table').querySelectorAll('th')].map((th) => th.textContent);
    expect(heads).toEqual(['#', 'n', 't', 'v', 'extra']);
    expect(screen.getAllByTestId('preview-row')).toHaveLength(2);
  });

  it('draws only the rows in view and keeps the scroll height of all', () => {
    const rows = Array.from({ length: 200 }, (_, i) => ({ n: 200 - i }));
    render(<RowsTable rows={rows} />);
    const drawn = screen.getAllByTestId('preview-row');
    // No layout in jsdom: a screenful (40) plus the overscan below it.
    expect(drawn.length).toBe(48);
    expect(drawn[0].textContent).toContain('200');
    const gap = screen.getByTestId('preview-table').querySelector('tr.rows-gap') as HTMLElement;
    expect(gap.style.height).toBe(`${(200 - 48) * 21}px`);
  });

  it('reads row timestamps in any unit', () => {
    expect(rowTime({ t: '2024-01-01T00:00:00.123456789Z' })).toBe(Date.parse('2024-01-01T00:00:00.123Z'));
    expect(rowTime({ ts: 1_700_000_000_000 })).toBe(1_700_000_000_000);
    expect(rowTime({ ts: 1_700_000_000_000_000_000 })).toBe(1_700_000_000_000);
    expect(rowTime({ n: 5 })).toBeUndefined();
    expect(cell({ a: 1 })).toBe('{"a":1}');
    expect(cell(Array.from({ length: 4096 }, (_, i) => i / 3))).toBe('[4096] [0,0.3333,0.6667,1,1.333,1.667,…]');
  });

  it('routes tap rows and run events to their handlers', () => {
    const r = new EventRouter();
    const got: string[] = [];
    const tap = (e: { node: string }) => got.push(`rows ${e.node}`);
    expect(r.addTap(EventRouter.tapKey('r1', 'map-1', 'out'), tap)).toBe(true);
    r.addRun('r1', { log: (e) => got.push(`log ${e.msg}`) });
    r.dispatch({ type: 'rows', run: 'r1', node: 'map-1', port: 'out', rows: [], dropped: 0, t: 0 });
    r.dispatch({ type: 'rows', run: 'r1', node: 'map-2', port: 'out', rows: [], dropped: 0, t: 0 });
    r.dispatch({ type: 'log', run: 'r1', level: 'info', msg: 'hi', t: 0 });
    r.dispatch({ type: 'log', run: 'r2', level: 'info', msg: 'other', t: 0 });
    expect(got).toEqual(['rows map-1', 'log hi']);
    expect(r.removeTap(EventRouter.tapKey('r1', 'map-1', 'out'), tap)).toBe(true);
  });
});

describe('form ui schema', () => {
  it('uses JSON text for free-form objects and the picker for asset maps', () => {
    const schema = {
      type: 'object',
      properties: {
        config: { type: 'object' },
        models: { type: 'object', additionalProperties: { type: 'string', format: 'asset', 'x-asset-kind': 'tflite' } },
        drop: { type: 'array', items: { type: 'string' } },
      },
    };
    expect(assetUISchema(schema)).toEqual({
      config: { 'ui:field': 'json' },
      models: { additionalProperties: { 'ui:widget': 'asset' } },
      drop: { items: { 'ui:label': false } },
    });
  });
});

describe('form field order', () => {
  it('follows x-order when the schema has it', () => {
    const schema = { type: 'object', 'x-order': ['mode', 'count', 'gone'], properties: { count: { type: 'integer' }, mode: { type: 'string' }, rate: { type: 'number' } } };
    expect(assetUISchema(schema)).toEqual({ 'ui:order': ['mode', 'count', '*'] });
  });
});

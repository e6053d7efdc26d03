import { beforeEach, describe, expect, it } from 'vitest';
import type { FlowTest, RecordRequest, TestRun, TestTarget } from '../backend/tests';
import type { GraphDoc } from '../backend/types';
import { fakeBackend, info, specs } from '../test/fixtures';
import { resetStudio, useStudio } from './store';
import { fieldsOf, recordTargets, ruleKind, sideBySide, testsInitial, withRule } from './tests';

const st = () => useStudio.getState();

const doc: GraphDoc = {
  version: 1,
  id: 'g1',
  name: 'test',
  nodes: [
    { id: 'gen', type: 'source.generator', config: {}, ui: { x: 0, y: 0 } },
    { id: 'map', type: 'transform.map', config: {}, ui: { x: 200, y: 0 } },
    { id: 'view', type: 'sink.preview', config: {}, ui: { x: 400, y: 0 } },
  ],
  edges: [
    { from: { node: 'gen', port: 'out' }, to: { node: 'map', port: 'in' } },
    { from: { node: 'map', port: 'out' }, to: { node: 'view', port: 'in' } },
  ],
};
const bySpec = Object.fromEntries(specs.map((s) => [s.id, s]));

const recorded: FlowTest = {
  name: 'test test 1',
  sources: { gen: { rows: [{ n: 0 }, { n: 1 }] } },
  expect: { view: { rows: [{ n: 0, d: 0, t: 'a' }, { n: 1, d: 2, t: 'b' }] } },
};

describe('flow-test helpers', () => {
  it('records every sink and the previewed edge', () => {
    expect(recordTargets(doc, bySpec, null)).toEqual(['view']);
    expect(recordTargets(doc, bySpec, { node: 'map', port: 'out' })).toEqual(['view', 'map.out']);
    expect(recordTargets(doc, bySpec, { node: 'view', port: 'in' })).toEqual(['view']);
  });

  it('lists a target’s fields and sets rules immutably', () => {
    expect(fieldsOf(recorded.expect!.view)).toEqual(['n', 'd', 't']);
    const t1 = withRule(recorded, 'view', 't', 'ignore');
    const t2 = withRule(t1, 'view', 'd', { tolerance: 0.5 });
    expect(recorded.expect!.view.fields).toBeUndefined();
    expect(t2.expect!.view.fields).toEqual({ t: 'ignore', d: { tolerance: 0.5 } });
    expect(ruleKind(t2.expect!.view.fields!.d)).toBe('tolerance');
    expect(ruleKind(undefined)).toBe('exact');
    const t3 = withRule(withRule(t2, 'view', 't', 'exact'), 'view', 'd', 'exact');
    expect(t3.expect!.view.fields).toBeUndefined();
    expect(t3.expect!.view.rows).toBe(recorded.expect!.view.rows);
  });

  it('puts expected and actual rows side by side, marking the differing ones', () => {
    const t: TestTarget = { target: 'view', label: 'sink "view"', want: [{ n: 0 }, { n: 1 }], got: [{ n: 0 }, { n: 2 }, { n: 3 }], count: 3 };
    const rows = sideBySide(t, [
      { target: 'sink "view"', row: 2, field: 'n', message: '' },
      { target: 'sink "view"', row: 3, message: '' },
      { target: 'edge "map.out"', row: 1, field: 'n', message: '' },
    ]);
    expect(rows.map((r) => [r.n, r.bad, r.fields])).toEqual([
      [1, false, []],
      [2, true, ['n']],
      [3, true, []],
    ]);
    expect(rows[2].want).toBeUndefined();
    expect(rows[2].got).toEqual({ n: 3 });
  });
});

describe('flow tests in the store', () => {
  let saved: { id: string; test: FlowTest }[];
  let records: RecordRequest[];
  beforeEach(() => {
    saved = [];
    records = [];
    const run: TestRun = {
      passed: 0,
      failed: 1,
      results: [{ name: 'test test 1', passed: false, diffs: [{ target: 'sink "view"', row: 2, field: 'd', message: 'x' }], elapsed_ms: 1 }],
    };
    resetStudio(
      fakeBackend({
        recordTest: (req) => (records.push(req), Promise.resolve(structuredClone(recorded))),
        saveTest: (id, test) => (saved.push({ id, test }), Promise.resolve({ graph_id: id, name: test.name, version: 1, graph_version: 1, created_at: '' })),
        listTests: () => Promise.resolve(saved.map((s) => ({ info: { graph_id: s.id, name: s.test.name, version: 1, graph_version: 1, created_at: '' }, test: s.test }))),
        runTests: () => Promise.resolve(run),
      }),
    );
    useStudio.setState(testsInitial);
    st().setCatalog(specs);
    st().loadDoc(info, doc);
  });

  it('records, marks a field ignored, saves, lists and runs', async () => {
    st().setPreview({ node: 'map', port: 'out' });
    expect(await st().recordTest(50)).toBe(true);
    expect(records[0].targets).toEqual(['view', 'map.out']);
    expect(records[0].max_rows).toBe(50);
    expect(records[0].document.nodes.map((n) => n.id)).toEqual(['gen', 'map', 'view']);
    st().setDraftRule('view', 't', 'ignore');
    st().setDraftName('doubles');
    expect(await st().saveDraft()).toBe(true);
    expect(saved[0].id).toBe('g1');
    expect(saved[0].test.name).toBe('doubles');
    expect(saved[0].test.expect!.view.fields).toEqual({ t: 'ignore' });
    expect(st().draft).toBeNull();
    expect(st().tests.map((t) => t.info.name)).toEqual(['doubles']);
    await st().runTests();
    expect(st().testResults['test test 1'].passed).toBe(false);
    expect(st().testsBusy).toBeNull();
  });

  it('drops another graph’s results and draft', async () => {
    await st().loadTests();
    await st().recordTest();
    expect(st().draft).not.toBeNull();
    st().loadDoc({ ...info, id: 'g2' }, { ...doc, id: 'g2' });
    await st().loadTests();
    expect(st().draft).toBeNull();
    expect(st().testResults).toEqual({});
  });
});

// The flow-test part of the studio store: the open graph's saved tests, the last results, and the
// draft a "Record as test" produced (edited, then saved). Helpers below are pure, for the
// components and the tests.
import type { StoreApi } from 'zustand';
import type { FlowTest, FieldRule, GraphTest, TestDiff, TestExpect, TestResult, TestTarget } from '../backend/tests';
import type { GraphDoc, NodeSpec, Row } from '../backend/types';
import type { Preview, Studio } from './store';

/** Rows taken from each source when recording (the backend allows up to 10,000). */
export const RECORD_ROWS = 100;

export type TestsSlice = {
  tests: GraphTest[];
  testResults: Record<string, TestResult>;
  draft: FlowTest | null;
  testsBusy: string | null;
  loadTests(): Promise<void>;
  recordTest(maxRows?: number): Promise<boolean>;
  setDraftName(name: string): void;
  setDraftRule(target: string, field: string, rule: FieldRule): void;
  discardDraft(): void;
  saveDraft(): Promise<boolean>;
  runTests(names?: string[]): Promise<void>;
  deleteTest(name: string): Promise<void>;
};

export const testsInitial = { tests: [], testResults: {}, draft: null, testsBusy: null };

/**
 * What a recording compares: every sink of the graph, and the previewed port when it is not a
 * sink's (an edge's preview taps its `from` end).
 */
export function recordTargets(doc: GraphDoc, specs: Record<string, NodeSpec>, preview: Preview | null): string[] {
  const sinks = doc.nodes.filter((n) => (specs[n.type]?.outputs.length ?? 1) === 0).map((n) => n.id);
  const out = [...sinks];
  if (preview && !sinks.includes(preview.node)) out.push(`${preview.node}.${preview.port}`);
  return out;
}

/** The fields of a target's expected rows, in first-seen order. */
export function fieldsOf(e: TestExpect | undefined): string[] {
  const seen = new Set<string>();
  for (const r of e?.rows ?? []) for (const k of Object.keys(r)) seen.add(k);
  for (const k of Object.keys(e?.fields ?? {})) seen.add(k);
  return [...seen];
}

/** The rule's kind: exact, ignore, present, tolerance or regex. */
export function ruleKind(r: FieldRule | undefined): 'exact' | 'ignore' | 'present' | 'tolerance' | 'regex' {
  if (r === undefined) return 'exact';
  if (typeof r === 'string') return r;
  return 'tolerance' in r ? 'tolerance' : 'regex';
}

/** The test with field's rule on target set ("exact", the default, removes the entry). */
export function withRule(t: FlowTest, target: string, field: string, rule: FieldRule): FlowTest {
  const expect = { ...(t.expect ?? {}) };
  const e = { ...(expect[target] ?? {}) };
  const fields = { ...(e.fields ?? {}) };
  if (rule === 'exact') delete fields[field];
  else fields[field] = rule;
  if (Object.keys(fields).length) e.fields = fields;
  else delete e.fields;
  expect[target] = e;
  return { ...t, expect };
}

export type SideRow = { n: number; want?: Row; got?: Row; bad: boolean; fields: string[] };

/**
 * The rows of a target side by side, expected left and actual right, each row marked when a
 * difference names it (and the fields it names). Rows are numbered from 1, as in messages.
 */
export function sideBySide(t: TestTarget, diffs: TestDiff[]): SideRow[] {
  const bad = new Map<number, string[]>();
  for (const d of diffs) {
    if (d.target !== t.label || !d.row) continue;
    const f = bad.get(d.row) ?? [];
    if (d.field) f.push(d.field);
    bad.set(d.row, f);
  }
  const n = Math.max(t.want?.length ?? 0, t.got.length);
  const out: SideRow[] = [];
  for (let i = 0; i < n; i++) {
    const fields = bad.get(i + 1);
    out.push({ n: i + 1, want: t.want?.[i], got: t.got[i], bad: fields !== undefined, fields: fields ?? [] });
  }
  return out;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The graph whose tests the slice holds. */
let testsOf: string | undefined;

type Set_ = StoreApi<Studio>['setState'];
type Get = StoreApi<Studio>['getState'];

export function createTestsSlice(set: Set_, get: Get): TestsSlice {
  /** Drops another graph's tests, results and draft when the open graph has changed. */
  const follow = () => {
    const id = get().info?.id;
    if (id !== testsOf) {
      testsOf = id;
      set({ tests: [], testResults: {}, draft: null });
    }
  };
  return {
    ...testsInitial,

    async loadTests() {
      const { backend, info } = get();
      follow();
      if (!backend || !info) return;
      try {
        const tests = await backend.listTests(info.id);
        if (get().info?.id === info.id) set({ tests });
      } catch (err) {
        get().toast(`tests: ${errText(err)}`, 'error');
      }
    },

    async recordTest(maxRows = RECORD_ROWS) {
      const { backend, info, specs, preview } = get();
      if (!backend) return false;
      const doc = get().doc();
      follow();
      set({ testsBusy: 'recording' });
      try {
        const name = `${info?.name ?? doc.name} test ${get().tests.length + 1}`;
        const draft = await backend.recordTest({ document: doc, name, targets: recordTargets(doc, specs, preview), max_rows: maxRows });
        set({ draft });
        return true;
      } catch (err) {
        get().toast(`record: ${errText(err)}`, 'error');
        return false;
      } finally {
        set({ testsBusy: null });
      }
    },

    setDraftName(name) {
      const d = get().draft;
      if (d) set({ draft: { ...d, name } });
    },

    setDraftRule(target, field, rule) {
      const d = get().draft;
      if (d) set({ draft: withRule(d, target, field, rule) });
    },

    discardDraft() {
      set({ draft: null });
    },

    async saveDraft() {
      const { backend, info, draft } = get();
      if (!backend || !draft) return false;
      if (!info) {
        get().toast('save the graph before its tests', 'error');
        return false;
      }
      try {
        await backend.saveTest(info.id, draft);
        set({ draft: null });
        get().toast(`test "${draft.name}" saved`, 'ok');
        await get().loadTests();
        return true;
      } catch (err) {
        get().toast(`save test: ${errText(err)}`, 'error');
        return false;
      }
    },

    async runTests(names) {
      const { backend, info } = get();
      if (!backend || !info) return;
      set({ testsBusy: 'running' });
      try {
        const run = await backend.runTests(info.id, get().doc(), names);
        const testResults = names ? { ...get().testResults } : {};
        for (const r of run.results) testResults[r.name] = r;
        set({ testResults });
      } catch (err) {
        get().toast(`run tests: ${errText(err)}`, 'error');
      } finally {
        set({ testsBusy: null });
      }
    },

    async deleteTest(name) {
      const { backend, info } = get();
      if (!backend || !info) return;
      try {
        await backend.deleteTest(info.id, name);
        const testResults = { ...get().testResults };
        delete testResults[name];
        set({ testResults });
        await get().loadTests();
      } catch (err) {
        get().toast(`delete test: ${errText(err)}`, 'error');
      }
    },
  };
}

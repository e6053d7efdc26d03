// Types of the flow-test API (app/tests.go; the test format is engine/flowtest/TESTS.md).
import type { GraphDoc, Row } from './types';

/** A field rule: compared exactly, ignored, present, within a tolerance, or matching a regex. */
export type FieldRule = 'exact' | 'ignore' | 'present' | { tolerance: number } | { regex: string };

export type TestExpect = {
  rows?: Row[];
  file?: string;
  order?: 'ordered' | 'any';
  fields?: Record<string, FieldRule>;
  count?: number;
  tally?: Record<string, Record<string, number>>;
};

export type TestSource = {
  rows?: Row[];
  file?: string;
  columns?: Record<string, string>;
  sequence?: { field: string; from: number; count: number; step?: number };
  keep?: boolean;
  types?: Record<string, string>;
  port?: string;
  batch_size?: number;
};

export type Counters = { rows_in?: number; rows_out?: number; errors?: number };

/** One flow test. */
export type FlowTest = {
  name: string;
  config?: Record<string, unknown>;
  sources: Record<string, TestSource>;
  expect?: Record<string, TestExpect>;
  metrics?: Record<string, Counters>;
  timeout_ms?: number;
};

export type TestInfo = { graph_id: string; name: string; version: number; graph_version: number; created_at: string };
export type GraphTest = { info: TestInfo; test: FlowTest };

export type TestDiff = {
  target: string;
  row?: number;
  got_row?: number;
  field?: string;
  want?: unknown;
  got?: unknown;
  message: string;
};
export type TestTarget = { target: string; label: string; want?: Row[]; got: Row[]; count: number };
export type TestResult = {
  name: string;
  passed: boolean;
  error?: string;
  diffs?: TestDiff[];
  targets?: TestTarget[];
  elapsed_ms: number;
};
export type TestRun = { results: TestResult[]; passed: number; failed: number };

export type RecordRequest = { document: GraphDoc; name: string; targets: string[]; max_rows: number };

/** The flow-test calls of the Backend. */
export interface TestsBackend {
  listTests(graphID: string): Promise<GraphTest[]>;
  saveTest(graphID: string, test: FlowTest): Promise<TestInfo>;
  deleteTest(graphID: string, name: string): Promise<void>;
  /** Records a test from a run of the document (not saved). */
  recordTest(req: RecordRequest): Promise<FlowTest>;
  /** Runs the graph's saved tests (all, or those named) against the document. */
  runTests(graphID: string, document: GraphDoc, names?: string[]): Promise<TestRun>;
}

import { useEffect } from 'react';
import type { FieldRule, FlowTest, TestResult, TestTarget } from '../backend/tests';
import type { Row } from '../backend/types';
import { fieldsOf, ruleKind, sideBySide } from '../store/tests';
import { RecordTestButton } from './RecordTestButton';
import { useStudio } from '../store/store';
import { cell } from './PreviewPanel';
import './TestsPanel.css';

/** The Tests panel: the open graph's tests, run one or all, failures as a side-by-side row diff. */
export function TestsPanel() {
  const id = useStudio((s) => s.info?.id);
  const tests = useStudio((s) => s.tests);
  const results = useStudio((s) => s.testResults);
  const draft = useStudio((s) => s.draft);
  const busy = useStudio((s) => s.testsBusy);
  const load = useStudio((s) => s.loadTests);
  const run = useStudio((s) => s.runTests);
  const del = useStudio((s) => s.deleteTest);
  useEffect(() => {
    void load();
  }, [id, load]);
  if (!id) return <div className="panel-empty">No graph open.</div>;
  const ran = tests.filter((t) => results[t.info.name]);
  const failed = ran.filter((t) => !results[t.info.name].passed).length;
  return (
    <div className="tests" data-testid="tests-panel">
      <div className="tests-bar">
        <RecordTestButton />
        <button className="small" disabled={!tests.length || busy !== null} onClick={() => void run()} data-testid="run-tests">
          {busy === 'running' ? 'Running…' : 'Run all'}
        </button>
        {ran.length > 0 && (
          <span className="muted" data-testid="tests-summary">
            {ran.length - failed} passed, {failed} failed
          </span>
        )}
      </div>
      {draft && <TestEditor draft={draft} />}
      {!tests.length && !draft && (
        <div className="muted">No tests yet: run the graph, then “Record as test”.</div>
      )}
      <ul className="tests-list">
        {tests.map((t) => {
          const r = results[t.info.name];
          return (
            <li key={t.info.name} data-testid={`test-${t.info.name}`}>
              <div className="test-head">
                <span className={`badge ${r ? (r.passed ? 'ok' : 'fail') : 'none'}`} data-testid="test-status">
                  {r ? (r.passed ? 'ok' : 'FAIL') : '—'}
                </span>
                <span className="name">{t.info.name}</span>
                <span className="muted">v{t.info.version}</span>
                <button className="small" disabled={busy !== null} onClick={() => void run([t.info.name])} data-testid="run-test">
                  Run
                </button>
                <button className="small danger" onClick={() => void del(t.info.name)} data-testid="delete-test">
                  Delete
                </button>
              </div>
              {r && !r.passed && <Failure result={r} />}
            </li>
          );
        })}
      </ul>
    </div>
  );
}

function Failure({ result }: { result: TestResult }) {
  const first = result.error ?? result.diffs?.[0]?.message ?? '';
  const diffs = result.diffs ?? [];
  const shown = (result.targets ?? []).filter((t) => diffs.some((d) => d.target === t.label));
  return (
    <div className="test-diff" data-testid="test-diff">
      <div className="test-failure" data-testid="test-failure">
        {first}
        {diffs.length > 1 && <span className="muted"> (+{diffs.length - 1} more)</span>}
      </div>
      {shown.map((t) => (
        <TargetDiff key={t.target} target={t} result={result} />
      ))}
    </div>
  );
}

const CONTEXT = 3;
const SHOWN = 20;

/** Expected rows left, actual rows right, from a little before the first differing row. */
function TargetDiff({ target, result }: { target: TestTarget; result: TestResult }) {
  const rows = sideBySide(target, result.diffs ?? []);
  const first = Math.max(0, rows.findIndex((r) => r.bad));
  const from = Math.max(0, first - CONTEXT);
  return (
    <table data-testid={`diff-${target.target}`}>
      <thead>
        <tr>
          <th className="n">{target.label}</th>
          <th>expected</th>
          <th>actual ({target.count} rows)</th>
        </tr>
      </thead>
      <tbody>
        {rows.slice(from, from + SHOWN).map((r) => (
          <tr key={r.n} className={r.bad ? 'bad' : ''} data-testid={r.bad ? 'diff-row-bad' : 'diff-row'}>
            <td className="n">{r.n}</td>
            <td className="row">{r.want ? <RowText row={r.want} bad={r.fields} /> : <span className="muted">—</span>}</td>
            <td className="row">{r.got ? <RowText row={r.got} bad={r.fields} /> : <span className="muted">—</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function RowText({ row, bad }: { row: Row; bad: string[] }) {
  const keys = Object.keys(row);
  return (
    <>
      {'{'}
      {keys.map((k, i) => (
        <span key={k} className={bad.includes(k) ? 'bad' : ''} data-field={k}>
          {JSON.stringify(k)}: {cell(row[k]) || 'null'}
          {i < keys.length - 1 ? ', ' : ''}
        </span>
      ))}
      {'}'}
    </>
  );
}

const KINDS = ['exact', 'ignore', 'tolerance', 'present', 'regex'] as const;

function ruleFor(kind: (typeof KINDS)[number], prev: FieldRule | undefined): FieldRule {
  if (kind === 'tolerance') return typeof prev === 'object' && 'tolerance' in prev ? prev : { tolerance: 1e-6 };
  if (kind === 'regex') return typeof prev === 'object' && 'regex' in prev ? prev : { regex: '.*' };
  return kind;
}

/** The recorded test before it is saved: its name, and a rule per field of each target. */
function TestEditor({ draft }: { draft: FlowTest }) {
  const setName = useStudio((s) => s.setDraftName);
  const setRule = useStudio((s) => s.setDraftRule);
  const save = useStudio((s) => s.saveDraft);
  const discard = useStudio((s) => s.discardDraft);
  const canSave = useStudio((s) => s.info !== null);
  const sources = Object.entries(draft.sources);
  return (
    <div className="test-editor" data-testid="test-editor">
      <input className="name" value={draft.name} onChange={(e) => setName(e.target.value)} data-testid="draft-name" />
      <div className="muted">
        Replays {sources.map(([id, s]) => `${s.rows?.length ?? 0} rows of “${id}”`).join(', ')}. Mark fields that change from run
        to run (times, ids) as ignore, measured values as tolerance.
      </div>
      {Object.entries(draft.expect ?? {}).map(([target, e]) => (
        <table key={target}>
          <thead>
            <tr>
              <th>
                {target} ({e.rows?.length ?? 0} rows)
              </th>
              <th>rule</th>
              <th>first row</th>
            </tr>
          </thead>
          <tbody>
            {fieldsOf(e).map((f) => {
              const rule = e.fields?.[f];
              const kind = ruleKind(rule);
              return (
                <tr key={f}>
                  <td>{f}</td>
                  <td>
                    <select
                      value={kind}
                      onChange={(ev) => setRule(target, f, ruleFor(ev.target.value as (typeof KINDS)[number], rule))}
                      data-testid={`rule-${target}-${f}`}
                    >
                      {KINDS.map((k) => (
                        <option key={k}>{k}</option>
                      ))}
                    </select>
                    {kind === 'tolerance' && typeof rule === 'object' && 'tolerance' in rule && (
                      <input
                        type="number"
                        step="any"
                        min={0}
                        value={rule.tolerance}
                        onChange={(ev) => setRule(target, f, { tolerance: Math.max(0, Number(ev.target.value)) })}
                        data-testid={`tolerance-${target}-${f}`}
                      />
                    )}
                    {kind === 'regex' && typeof rule === 'object' && 'regex' in rule && (
                      <input value={rule.regex} onChange={(ev) => setRule(target, f, { regex: ev.target.value })} />
                    )}
                  </td>
                  <td className="sample">{cell(e.rows?.[0]?.[f])}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ))}
      <div className="tests-bar">
        <button className="primary small" disabled={!canSave || !draft.name.trim()} onClick={() => void save()} data-testid="save-test">
          Save test
        </button>
        <button className="small" onClick={discard} data-testid="discard-test">
          Discard
        </button>
      </div>
    </div>
  );
}

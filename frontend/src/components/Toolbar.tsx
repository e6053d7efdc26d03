import { useStudio } from '../store/store';

/** Run, stop, save, undo/redo and the run's status and progress. */
export function Toolbar() {
  const info = useStudio((s) => s.info);
  const dirty = useStudio((s) => s.dirty());
  const run = useStudio((s) => s.run);
  const busy = useStudio((s) => s.busy);
  const canUndo = useStudio((s) => s.past.length > 0);
  const canRedo = useStudio((s) => s.future.length > 0);
  const nProblems = useStudio((s) => s.problems.length);
  const progress = useStudio((s) => {
    const ps = Object.values(s.metrics)
      .map((m) => m.progress)
      .filter((p): p is number => typeof p === 'number');
    return ps.length ? Math.min(...ps) : undefined;
  });
  const st = useStudio.getState;
  const running = run?.status === 'running' || run?.status === 'stopping';

  return (
    <div className="toolbar" data-testid="toolbar">
      <span className="graph-title" data-testid="graph-title">
        {info ? info.name : 'Atoll'}
        {info && <span className="graph-version" data-testid="graph-version">v{info.version}</span>}
        {dirty && <span className="dirty" title="Unsaved changes (Ctrl+S saves a version)" data-testid="dirty">●</span>}
      </span>
      <button onClick={() => st().undo()} disabled={!canUndo} title="Undo (Ctrl+Z)" data-testid="undo">
        ↶
      </button>
      <button onClick={() => st().redo()} disabled={!canRedo} title="Redo (Ctrl+Shift+Z)" data-testid="redo">
        ↷
      </button>
      <button onClick={() => void st().save()} disabled={!info} title="Save a new version (Ctrl+S)" data-testid="save">
        Save
      </button>
      <span className="sep" />
      <button
        onClick={async () => {
          const p = await st().validate();
          st().toast(p.length ? `${p.length} problem${p.length > 1 ? 's' : ''}` : 'graph is valid', p.length ? 'error' : 'ok');
        }}
        disabled={!info}
        data-testid="validate"
      >
        Validate
      </button>
      <button className="primary" onClick={() => void st().startRun()} disabled={!info || running || !!busy} data-testid="run" title="Validate, then run">
        ▶ Run
      </button>
      <button className="danger" onClick={() => void st().stopRun()} disabled={!running || run?.status === 'stopping'} data-testid="stop">
        ■ Stop
      </button>
      <button onClick={() => st().setExportOpen(true)} disabled={!info} data-testid="export-bundle" title="Export a signed bundle for atoll-runner">
        Export bundle…
      </button>
      {busy && <span className="status">{busy}…</span>}
      {run && (
        <span className={`status run-${run.status}`} data-testid="run-status" title={run.error ?? ''}>
          run {run.status}
          {run.error ? `: ${run.error}` : ''}
        </span>
      )}
      {nProblems > 0 && (
        <span className="status bad" data-testid="problem-count">
          {nProblems} problem{nProblems > 1 ? 's' : ''}
        </span>
      )}
      {progress !== undefined && running && (
        <span className="progress" data-testid="progress" title={`${Math.round(progress * 100)}%`}>
          <span style={{ width: `${Math.round(progress * 100)}%` }} />
        </span>
      )}
    </div>
  );
}

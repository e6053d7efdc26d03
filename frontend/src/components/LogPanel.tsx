import { useEffect, useRef, useState } from 'react';
import { useStudio } from '../store/store';

/** Log lines of the current run, newest at the bottom, filterable by level. */
export function LogPanel() {
  const logs = useStudio((s) => s.logs);
  const [level, setLevel] = useState<'info' | 'warn' | 'error'>('info');
  const end = useRef<HTMLDivElement>(null);
  const rank = { info: 0, warn: 1, error: 2 } as const;
  const shown = logs.filter((l) => (rank[l.level] ?? 0) >= rank[level]).slice(-500);
  useEffect(() => {
    // (Braces: newer browsers return a Promise from scrollIntoView, which is no effect cleanup.)
    end.current?.scrollIntoView({ block: 'end' });
  }, [shown.length]);
  return (
    <div className="logs" data-testid="logs">
      <div className="section-head">
        <select value={level} onChange={(e) => setLevel(e.target.value as typeof level)}>
          <option value="info">info and up</option>
          <option value="warn">warn and up</option>
          <option value="error">errors only</option>
        </select>
        <span className="muted">{logs.length} lines</span>
      </div>
      <div className="log-lines">
        {shown.map((l, i) => (
          <div key={i} className={`log-line lvl-${l.level}`}>
            <span className="muted">{new Date(l.t).toLocaleTimeString()}</span> <span className="lvl">{l.level}</span>{' '}
            {l.node && <b>{l.node}</b>} {l.msg}
          </div>
        ))}
        <div ref={end} />
      </div>
    </div>
  );
}

/** Validation problems of the graph; clicking one selects its node. */
export function ProblemsPanel() {
  const problems = useStudio((s) => s.problems);
  if (!problems.length) return <div className="panel-empty">No problems.</div>;
  return (
    <ul className="problems" data-testid="problems">
      {problems.map((p, i) => (
        <li key={i} onClick={() => p.node && useStudio.getState().select([p.node])} data-testid="problem">
          {p.node && <b>{p.node}</b>}
          {p.port && <span> port {p.port}</span>}
          {p.field && <code> {p.field}</code>}: {p.message}
        </li>
      ))}
    </ul>
  );
}

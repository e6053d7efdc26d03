import { useRef, useState } from 'react';
import type { GraphDoc } from '../backend/types';
import { useStudio } from '../store/store';

/** Graphs: new, open, rename (double-click), duplicate, delete, import and export as JSON (bundles: the toolbar). */
export function GraphList() {
  const graphs = useStudio((s) => s.graphs);
  const current = useStudio((s) => s.info?.id);
  const st = useStudio.getState;
  const [editing, setEditing] = useState<string | null>(null);
  const [name, setName] = useState('');
  const file = useRef<HTMLInputElement>(null);

  const exportDoc = () => {
    const doc = st().doc();
    const blob = new Blob([JSON.stringify(doc, null, 2) + '\n'], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${(doc.name || 'graph').replace(/[^\w.-]+/g, '_')}.json`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };

  return (
    <div className="graph-list" data-testid="graph-list">
      <div className="section-head">
        <span>Graphs</span>
        <span className="grow" />
        <button className="small" onClick={() => void st().newGraph()} data-testid="new-graph" title="New graph">
          + New
        </button>
        <button className="small" onClick={() => file.current?.click()} data-testid="import-graph" title="Import a graph JSON file">
          Import
        </button>
        <button className="small" onClick={exportDoc} disabled={!current} data-testid="export-graph" title="Download the graph JSON">
          Export JSON
        </button>
        <input
          ref={file}
          type="file"
          accept=".json,application/json"
          hidden
          data-testid="import-file"
          onChange={async (e) => {
            const f = e.target.files?.[0];
            e.target.value = '';
            if (!f) return;
            try {
              await st().importGraph(JSON.parse(await f.text()) as GraphDoc);
            } catch (err) {
              st().toast(`import ${f.name}: ${(err as Error).message}`, 'error');
            }
          }}
        />
      </div>
      <ul>
        {graphs.map((g) => (
          <li key={g.id} className={g.id === current ? 'current' : ''} data-testid={`graph-${g.id}`}>
            {editing === g.id ? (
              <input
                autoFocus
                value={name}
                data-testid="rename-input"
                onChange={(e) => setName(e.target.value)}
                onBlur={() => setEditing(null)}
                onKeyDown={(e) => {
                  if (e.key === 'Enter' && name.trim()) {
                    void st().renameGraph(g.id, name.trim());
                    setEditing(null);
                  } else if (e.key === 'Escape') setEditing(null);
                }}
              />
            ) : (
              <span
                className="graph-name"
                onClick={() => g.id !== current && void st().openGraph(g.id)}
                onDoubleClick={() => {
                  setEditing(g.id);
                  setName(g.name);
                }}
                title={`${g.name} (v${g.version}): click to open, double-click to rename`}
              >
                <span className="graph-name-text">{g.name}</span>
                <span className="graph-version">v{g.version}</span>
              </span>
            )}
            <span className="graph-actions">
              <button
                className="icon"
                title="Rename"
                onClick={() => {
                  setEditing(g.id);
                  setName(g.name);
                }}
              >
                ✎
              </button>
              <button className="icon" title="Duplicate" onClick={() => void st().duplicateGraph(g.id)} data-testid={`duplicate-${g.id}`}>
                ⧉
              </button>
              <button
                className="icon"
                title="Delete"
                data-testid={`delete-${g.id}`}
                onClick={() => {
                  if (window.confirm(`Delete "${g.name}" and all its versions?`)) void st().deleteGraph(g.id);
                }}
              >
                ✕
              </button>
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}

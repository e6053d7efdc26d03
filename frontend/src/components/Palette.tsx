import { useMemo, useState } from 'react';
import type { NodeSpec } from '../backend/types';
import { useStudio } from '../store/store';
import { DRAG_TYPE, flowInstance } from './Canvas';

/** The node palette, from GET /api/catalog, grouped by category. Drag onto the canvas or double-click. */
export function Palette() {
  const catalog = useStudio((s) => s.catalog);
  const hasGraph = useStudio((s) => !!s.info);
  const [q, setQ] = useState('');
  const groups = useMemo(() => {
    const needle = q.trim().toLowerCase();
    const m = new Map<string, NodeSpec[]>();
    for (const s of catalog) {
      if (needle && !`${s.id} ${s.summary} ${s.category}`.toLowerCase().includes(needle)) continue;
      const l = m.get(s.category);
      if (l) l.push(s);
      else m.set(s.category, [s]);
    }
    return [...m.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [catalog, q]);

  const addAtCenter = (id: string) => {
    const el = document.querySelector('.canvas');
    if (!el || !flowInstance) return;
    const r = el.getBoundingClientRect();
    const p = flowInstance.screenToFlowPosition({ x: r.left + r.width / 2, y: r.top + r.height / 2 });
    useStudio.getState().addNode(id, { x: p.x - 80, y: p.y - 20 });
  };

  return (
    <div className="palette" data-testid="palette">
      <input className="palette-search" placeholder="Filter nodes…" value={q} onChange={(e) => setQ(e.target.value)} data-testid="palette-search" />
      {groups.map(([cat, specs]) => (
        <div key={cat} className="palette-group">
          <div className="palette-cat">{cat}</div>
          {specs.map((s) => (
            <div
              key={s.id}
              className={`palette-item cat-${cat.replace(/[^a-z0-9]/gi, '-').toLowerCase()}`}
              draggable={hasGraph}
              data-testid={`palette-${s.id}`}
              title={`${s.summary}\n\nin: ${s.inputs.map((p) => `${p.name}:${p.type}`).join(', ') || '—'}\nout: ${s.outputs.map((p) => `${p.name}:${p.type}`).join(', ') || '—'}${s.headless ? '' : '\n(studio only)'}`}
              onDragStart={(e) => {
                e.dataTransfer.setData(DRAG_TYPE, s.id);
                e.dataTransfer.setData('text/plain', s.id);
                e.dataTransfer.effectAllowed = 'move';
              }}
              onDoubleClick={() => addAtCenter(s.id)}
            >
              <span className="palette-id">{s.id}</span>
              <span className="palette-summary">{s.summary}</span>
            </div>
          ))}
        </div>
      ))}
      {catalog.length === 0 && <div className="panel-empty">No catalog.</div>}
    </div>
  );
}

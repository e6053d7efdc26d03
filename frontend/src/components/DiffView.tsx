import type { GraphDiff, GraphEdge } from '../backend/types';

const edgeText = (e: GraphEdge) => `${e.from.node}.${e.from.port} → ${e.to.node}.${e.to.port}`;
const val = (v: unknown) => (v === undefined ? '—' : JSON.stringify(v));

/** A GraphDiff between two versions: nodes added, removed and changed (field by field), edges. */
export function DiffView({ diff }: { diff: GraphDiff }) {
  const empty =
    !diff.nodes_added?.length &&
    !diff.nodes_removed?.length &&
    !diff.nodes_changed?.length &&
    !diff.edges_added?.length &&
    !diff.edges_removed?.length;
  return (
    <div className="diff" data-testid="diff">
      <div className="diff-head">
        v{diff.from} → v{diff.to}
      </div>
      {empty && <div className="panel-empty">No differences.</div>}
      <ul>
        {(diff.nodes_added ?? []).map((n) => (
          <li key={`na-${n.id}`} className="added">
            + node <b>{n.id}</b> ({n.type})
          </li>
        ))}
        {(diff.nodes_removed ?? []).map((n) => (
          <li key={`nr-${n.id}`} className="removed">
            − node <b>{n.id}</b> ({n.type})
          </li>
        ))}
        {(diff.nodes_changed ?? []).map((c) => (
          <li key={`nc-${c.id}`} className="changed">
            ~ node <b>{c.id}</b>
            {c.type_changed && (
              <span>
                {' '}
                type {c.type_changed[0]} → {c.type_changed[1]}
              </span>
            )}
            {c.moved && <span className="muted"> moved</span>}
            {c.fields?.length > 0 && (
              <ul>
                {c.fields.map((f) => (
                  <li key={f.path}>
                    <code>{f.path}</code>: <span className="removed">{val(f.before)}</span> → <span className="added">{val(f.after)}</span>
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
        {(diff.edges_added ?? []).map((e) => (
          <li key={`ea-${edgeText(e)}`} className="added">
            + edge {edgeText(e)}
          </li>
        ))}
        {(diff.edges_removed ?? []).map((e) => (
          <li key={`er-${edgeText(e)}`} className="removed">
            − edge {edgeText(e)}
          </li>
        ))}
      </ul>
    </div>
  );
}

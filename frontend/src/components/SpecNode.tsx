import { Handle, Position, type NodeProps } from '@xyflow/react';
import { memo } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { inputPorts, outputPorts, type FlowNode } from '../store/graph';
import { useStudio } from '../store/store';
import { fmtBytes, guestMemoryCap } from './limits';

const PORT_GAP = 18;
const HEADER = 30;

function fmtRate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(0)}k`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(n < 10 && n % 1 ? 1 : 0);
}

/** The one canvas node: ports, title and live figures all come from the node's spec and the run. */
function SpecNodeView({ id, data, selected }: NodeProps<FlowNode>) {
  // One subscription per node (a 500-node graph means 500 of them).
  const [spec, m, problems, previewed] = useStudio(
    useShallow((s) => [s.specs[data.type], s.metrics[id], s.problemsByNode[id], s.preview?.node === id] as const),
  );
  const ins = inputPorts(spec);
  const outs = outputPorts(spec);
  const rows = Math.max(ins.length, outs.length, 1);
  const category = spec?.category ?? 'unknown';
  const memCap = guestMemoryCap(spec, data.config);
  const cls = [
    'atoll-node',
    `cat-${category.replace(/[^a-z0-9]/gi, '-').toLowerCase()}`,
    selected ? 'selected' : '',
    problems ? 'has-problems' : '',
    m ? `state-${m.state}` : '',
    previewed ? 'previewed' : '',
    spec ? '' : 'unknown-type',
  ].join(' ');
  return (
    <div className={cls} data-testid={`node-${id}`} title={spec?.summary ?? `unknown type ${data.type}`}>
      <div className="atoll-node-head">
        <span className="atoll-node-type">{data.type}</span>
        {m && <span className={`atoll-node-state s-${m.state}`} data-testid={`node-state-${id}`}>{m.state}</span>}
      </div>
      <div className="atoll-node-id">{id}</div>
      <div className="atoll-node-ports" style={{ height: rows * PORT_GAP }}>
        {ins.map((p, i) => (
          <div key={`i-${p.name}`} className="port-label in" style={{ top: i * PORT_GAP }} title={`${p.name}: ${p.type}${p.doc ? ' — ' + p.doc : ''}`}>
            {p.name}
            {p.required ? '*' : ''}
          </div>
        ))}
        {outs.map((p, i) => (
          <div key={`o-${p.name}`} className={`port-label out${p.name === 'errors' ? ' err' : ''}`} style={{ top: i * PORT_GAP }} title={`${p.name}: ${p.type}${p.doc ? ' — ' + p.doc : ''}`}>
            {p.name}
          </div>
        ))}
      </div>
      {ins.map((p, i) => (
        <Handle
          key={`in-${p.name}`}
          id={p.name}
          type="target"
          position={Position.Left}
          className={`port-handle t-${p.type}`}
          style={{ top: HEADER + 18 + i * PORT_GAP + PORT_GAP / 2 }}
          data-testid={`handle-${id}-in-${p.name}`}
        />
      ))}
      {outs.map((p, i) => (
        <Handle
          key={`out-${p.name}`}
          id={p.name}
          type="source"
          position={Position.Right}
          className={`port-handle t-${p.type}${p.name === 'errors' ? ' err' : ''}`}
          style={{ top: HEADER + 18 + i * PORT_GAP + PORT_GAP / 2 }}
          data-testid={`handle-${id}-out-${p.name}`}
        />
      ))}
      {memCap && (
        <div className="atoll-node-limits" data-testid={`limits-${id}`} title={`guest memory cap: ${memCap.how}`}>
          mem ≤ {fmtBytes(memCap.bytes)}
        </div>
      )}
      {m && (
        <div className="atoll-node-metrics" data-testid={`metrics-${id}`}>
          <span title="rows per second">{fmtRate(m.rows_per_s)}/s</span>
          <span title="rows out">{fmtRate(m.rows_out)} out</span>
          <span title="queue depth">q {m.queue_depth}</span>
          <span className={m.errors ? 'bad' : ''} title="errors">
            {m.errors} err
          </span>
          {m.rtf !== undefined && <span title="real-time factor">rtf {m.rtf.toFixed(2)}</span>}
        </div>
      )}
      {m?.status && Object.keys(m.status).length > 0 && (
        <div className="atoll-node-status" data-testid={`status-${id}`}>
          {Object.entries(m.status)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, v]) => (
              <div key={k} className={`st-${k}${v === 'reconnecting' ? ' bad' : ''}`} title={`${k}: ${v}`}>
                {k === 'last_error' ? 'last error' : k}: {v}
              </div>
            ))}
        </div>
      )}
      {m?.progress !== undefined && (
        <div className="atoll-node-progress">
          <div style={{ width: `${Math.round(Math.min(1, Math.max(0, m.progress)) * 100)}%` }} />
        </div>
      )}
      {problems && (
        <div className="atoll-node-problems" data-testid={`problem-${id}`}>
          {problems.map((p, i) => (
            <div key={i}>{p}</div>
          ))}
        </div>
      )}
    </div>
  );
}

/** Re-rendered only when what it draws changes, not when xyflow measures or moves it. */
export const SpecNode = memo(
  SpecNodeView,
  (a, b) => a.id === b.id && a.data === b.data && a.selected === b.selected,
);

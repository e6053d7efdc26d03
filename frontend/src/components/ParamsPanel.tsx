import { useMemo, useState } from 'react';
import type { GraphParam } from '../backend/types';
import { checkParams, formatParamValue, parseParamValue, paramRefs, PARAM_TYPES, undeclaredRefs } from '../store/params';
import { useStudio } from '../store/store';

/**
 * The open graph's parameters: name, type, default and doc. Config fields refer to them as
 * `${param:name}`; a device running the bundle gives its own values. Saved with the graph.
 */
export function ParamsPanel() {
  const info = useStudio((s) => s.info);
  const params = useStudio((s) => s.params);
  const nodes = useStudio((s) => s.nodes);
  const set = (p: GraphParam[]) => useStudio.getState().setParams(p);
  const refs = useMemo(() => paramRefs({ nodes: nodes.map((n) => ({ id: n.id, type: n.data.type, config: n.data.config })) }), [nodes]);
  const undeclared = useMemo(
    () => undeclaredRefs({ nodes: nodes.map((n) => ({ id: n.id, type: n.data.type, config: n.data.config })) }, params),
    [nodes, params],
  );
  const problems = checkParams(params);
  if (!info) return <div className="panel-empty">No graph open.</div>;

  const update = (i: number, p: GraphParam) => set(params.map((x, j) => (j === i ? p : x)));
  const add = () => {
    const taken = new Set(params.map((p) => p.name));
    let name = 'param';
    for (let i = 2; taken.has(name); i++) name = `param${i}`;
    set([...params, { name, type: 'string', default: '' }]);
  };

  return (
    <div className="params" data-testid="params">
      <div className="params-help muted">
        A config field refers to a parameter as <code>{'${param:name}'}</code>. Each device running the bundle may give its
        own value; the default is used otherwise. Save the graph to keep changes.
      </div>
      {params.map((p, i) => (
        <ParamRow key={`${params.length}-${i}`} index={i} param={p} usedBy={refs.get(p.name) ?? []} onChange={(np) => update(i, np)} onRemove={() => set(params.filter((_, j) => j !== i))} />
      ))}
      {params.length === 0 && <div className="panel-empty">No parameters.</div>}
      <div className="params-actions">
        <button onClick={add} data-testid="param-add">
          + Add parameter
        </button>
      </div>
      {problems.length > 0 && (
        <ul className="config-problems" data-testid="param-problems">
          {problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      )}
      {undeclared.length > 0 && (
        <div className="config-note" data-testid="param-undeclared">
          Referred to but not declared: {undeclared.join('; ')}
        </div>
      )}
    </div>
  );
}

function ParamRow(props: { index: number; param: GraphParam; usedBy: string[]; onChange: (p: GraphParam) => void; onRemove: () => void }) {
  const { index: i, param: p, usedBy, onChange, onRemove } = props;
  const [text, setText] = useState(formatParamValue(p.default));
  const [reason, setReason] = useState<string | null>(null);
  const setDefault = (t: string, type = p.type) => {
    setText(t);
    const r = parseParamValue(type, t);
    if (r.ok) {
      setReason(null);
      onChange({ ...p, type, default: r.value });
    } else {
      setReason(r.reason);
      if (type !== p.type) onChange({ ...p, type, default: undefined });
    }
  };
  return (
    <div className="param" data-testid={`param-${i}`}>
      <div className="param-line">
        <input className="param-name" value={p.name} placeholder="name" onChange={(e) => onChange({ ...p, name: e.target.value })} data-testid={`param-name-${i}`} />
        <select value={p.type} onChange={(e) => setDefault(text, e.target.value)} data-testid={`param-type-${i}`}>
          {PARAM_TYPES.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
        <button className="icon" title="Remove" onClick={onRemove} data-testid={`param-remove-${i}`}>
          ✕
        </button>
      </div>
      <div className="param-line">
        {p.type === 'boolean' ? (
          <select value={text} onChange={(e) => setDefault(e.target.value)} data-testid={`param-default-${i}`}>
            <option value="">no default</option>
            <option value="true">true</option>
            <option value="false">false</option>
          </select>
        ) : (
          <input
            className={reason ? 'invalid' : ''}
            value={text}
            placeholder="default (empty: none)"
            onChange={(e) => setDefault(e.target.value)}
            data-testid={`param-default-${i}`}
          />
        )}
      </div>
      {reason && <div className="bad param-reason">{reason}</div>}
      <input className="param-doc" value={p.doc ?? ''} placeholder="what it is for" onChange={(e) => onChange({ ...p, doc: e.target.value || undefined })} data-testid={`param-doc-${i}`} />
      <div className="muted param-used">{usedBy.length ? `used by ${usedBy.join(', ')}` : 'not used yet'}</div>
    </div>
  );
}

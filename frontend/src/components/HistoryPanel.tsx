import { useEffect, useState } from 'react';
import type { GraphDiff, VersionInfo } from '../backend/types';
import { useStudio } from '../store/store';
import { DiffView } from './DiffView';

/** Versions of the open graph: compare any two, restore one (restoring saves a new version). */
export function HistoryPanel() {
  const info = useStudio((s) => s.info);
  const tick = useStudio((s) => s.versionsTick);
  const backend = useStudio((s) => s.backend);
  const [versions, setVersions] = useState<VersionInfo[]>([]);
  const [from, setFrom] = useState<number | null>(null);
  const [to, setTo] = useState<number | null>(null);
  const [diff, setDiff] = useState<GraphDiff | null>(null);
  const id = info?.id;

  useEffect(() => {
    if (!id || !backend) return;
    let live = true;
    backend
      .listVersions(id)
      .then((vs) => {
        if (!live) return;
        setVersions(vs ?? []);
        setTo(vs?.[0]?.version ?? null);
        setFrom(vs?.[1]?.version ?? null);
        setDiff(null);
      })
      .catch((err) => useStudio.getState().toast(`versions: ${err.message}`, 'error'));
    return () => {
      live = false;
    };
  }, [id, backend, tick]);

  if (!id || !backend) return <div className="panel-empty">No graph open.</div>;

  const compare = async () => {
    if (from === null || to === null) return;
    try {
      setDiff(await backend.diff(id, from, to));
    } catch (err) {
      useStudio.getState().toast(`diff: ${(err as Error).message}`, 'error');
    }
  };

  const restore = async (v: number) => {
    const st = useStudio.getState();
    if (st.dirty() && !window.confirm('Discard unsaved changes and restore this version?')) return;
    try {
      const nv = await backend.restoreVersion(id, v);
      await st.openGraph(id);
      await st.refreshGraphs();
      st.toast(`restored v${v} as v${nv.version}`, 'ok');
    } catch (err) {
      st.toast(`restore: ${(err as Error).message}`, 'error');
    }
  };

  return (
    <div className="history" data-testid="history">
      <table className="versions">
        <thead>
          <tr>
            <th title="compare from">from</th>
            <th title="compare to">to</th>
            <th>version</th>
            <th>saved</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {versions.map((v) => (
            <tr key={v.version} data-testid={`version-${v.version}`}>
              <td>
                <input type="radio" name="from" checked={from === v.version} onChange={() => setFrom(v.version)} />
              </td>
              <td>
                <input type="radio" name="to" checked={to === v.version} onChange={() => setTo(v.version)} />
              </td>
              <td>
                v{v.version}
                {v.message && <div className="muted">{v.message}</div>}
              </td>
              <td className="muted">{new Date(v.created_at).toLocaleString()}</td>
              <td>
                <button className="small" onClick={() => void restore(v.version)} data-testid={`restore-${v.version}`}>
                  Restore
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <button onClick={() => void compare()} disabled={from === null || to === null || from === to} data-testid="compare">
        Compare v{from ?? '?'} → v{to ?? '?'}
      </button>
      {diff && <DiffView diff={diff} />}
    </div>
  );
}

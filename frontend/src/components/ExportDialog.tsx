import { useEffect, useMemo, useState } from 'react';
import { APIError, type ExportOptions, type ExportPlan, type ExportRequest } from '../backend/types';
import { bundleOverrides, defaultPlatforms, runnerReason } from '../store/bundle';
import { formatParamValue, formatSize } from '../store/params';
import { useStudio } from '../store/store';
import { KeysPanel } from './KeysPanel';

/**
 * Export the open graph's saved version as a signed bundle: target platforms, runner binaries or
 * not, the parameters' default values for this bundle, signing. The manifest (entries, sizes, total)
 * is shown before saving; saving downloads the .atoll file (web) or asks where (desktop).
 */
export function ExportDialog() {
  const backend = useStudio((s) => s.backend);
  const info = useStudio((s) => s.info);
  const params = useStudio((s) => s.params);
  const dirty = useStudio((s) => s.dirty());
  const st = useStudio.getState;
  const [opts, setOpts] = useState<ExportOptions | null>(null);
  const [platforms, setPlatforms] = useState<string[]>([]);
  const [runners, setRunners] = useState(false);
  const [sign, setSign] = useState(true);
  const [values, setValues] = useState<Record<string, string>>({});
  const [plan, setPlan] = useState<ExportPlan | null>(null);
  const [planError, setPlanError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);

  useEffect(() => {
    if (!backend) return;
    backend
      .exportOptions()
      .then((o) => {
        setOpts(o);
        setPlatforms(defaultPlatforms(o));
      })
      .catch((err) => setPlanError(`export options: ${err.message}`));
  }, [backend]);

  const overrides = useMemo(() => bundleOverrides(params, values), [params, values]);
  const runnerWhyNot = opts ? runnerReason(opts, platforms) : 'loading';
  const req: ExportRequest | null =
    info && overrides.ok
      ? {
          graph_id: info.id,
          version: info.version,
          platforms,
          include_runners: runners && !runnerWhyNot,
          params: overrides.values,
          sign,
        }
      : null;
  const reqKey = JSON.stringify(req);

  // The manifest follows the choices (debounced), so what is shown is what will be saved.
  useEffect(() => {
    if (!backend || !req || !opts) {
      setPlan(null);
      return;
    }
    let live = true;
    setSaved(null);
    const t = setTimeout(() => {
      backend
        .previewBundle(req)
        .then((p) => {
          if (!live) return;
          setPlan(p);
          setPlanError(null);
        })
        .catch((err) => {
          if (!live) return;
          setPlan(null);
          setPlanError(err.message);
          // Refusals addressed to nodes mark them on the canvas, as validation does.
          if (err instanceof APIError && err.problems.length) st().setProblems(err.problems);
        });
    }, 150);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [reqKey, backend, opts]); // eslint-disable-line react-hooks/exhaustive-deps

  if (!info || !backend) return null;
  const close = () => st().setExportOpen(false);

  const save = async () => {
    if (!req) return;
    setSaving(true);
    try {
      const r = await backend.saveBundle(req);
      if (r.canceled) return;
      const where = r.path ? ` to ${r.path}` : '';
      setSaved(`saved ${r.file_name}${where} (${formatSize(r.size)})`);
      st().toast(`exported ${r.file_name} (${formatSize(r.size)})`, 'ok');
    } catch (err) {
      st().toast(`export: ${(err as Error).message}`, 'error');
      setPlanError((err as Error).message);
    } finally {
      setSaving(false);
    }
  };

  const togglePlatform = (p: string) =>
    setPlatforms(platforms.includes(p) ? platforms.filter((x) => x !== p) : [...platforms, p].sort());

  return (
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && close()}>
      <div className="modal export-dialog" role="dialog" aria-label="Export bundle" data-testid="export-dialog">
        <div className="modal-head">
          <span>
            Export bundle: {info.name} <span className="muted">v{info.version}</span>
          </span>
          <span className="grow" />
          <button className="icon" onClick={close} title="Close" data-testid="export-close">
            ✕
          </button>
        </div>
        <div className="modal-body">
          {dirty && (
            <div className="config-note" data-testid="export-unsaved">
              The graph has unsaved changes: the bundle holds the saved version {info.version}.{' '}
              <button className="small" onClick={() => void st().save()} data-testid="export-save-graph">
                Save now
              </button>
            </div>
          )}
          <section>
            <h4>Target platforms</h4>
            <div className="export-platforms">
              {opts?.platforms.map((p) => (
                <label key={p.platform} title={p.available ? `runner binary ${formatSize(p.size ?? 0)}` : p.reason}>
                  <input
                    type="checkbox"
                    checked={platforms.includes(p.platform)}
                    onChange={() => togglePlatform(p.platform)}
                    data-testid={`platform-${p.platform}`}
                  />
                  {p.platform}
                </label>
              ))}
            </div>
            <label className={runnerWhyNot ? 'muted' : ''}>
              <input
                type="checkbox"
                checked={runners && !runnerWhyNot}
                disabled={!!runnerWhyNot}
                onChange={(e) => setRunners(e.target.checked)}
                data-testid="include-runners"
              />
              Include runner binaries
            </label>
            {runnerWhyNot && runnerWhyNot !== 'loading' && (
              <div className="muted export-reason" data-testid="runners-reason">
                {runnerWhyNot}
              </div>
            )}
          </section>
          <section>
            <h4>Parameters</h4>
            {params.length === 0 && <div className="muted">This graph declares no parameters (Params tab).</div>}
            {params.map((p) => (
              <label key={p.name} className="export-param" title={p.doc}>
                <code>{p.name}</code> <span className="muted">{p.type}</span>
                <input
                  value={values[p.name] ?? formatParamValue(p.default)}
                  placeholder="no default: the device must give it"
                  onChange={(e) => setValues({ ...values, [p.name]: e.target.value })}
                  data-testid={`export-param-${p.name}`}
                />
              </label>
            ))}
            {!overrides.ok && (
              <div className="bad" data-testid="export-param-problem">
                {overrides.reason}
              </div>
            )}
          </section>
          <section>
            <label>
              <input type="checkbox" checked={sign} onChange={(e) => setSign(e.target.checked)} data-testid="export-sign" />
              Sign with the studio's key
            </label>
            {!sign && <div className="config-note">Runners refuse unsigned bundles unless started with --insecure-skip-verify.</div>}
            <details className="export-keys">
              <summary>Signing key</summary>
              <KeysPanel />
            </details>
          </section>
          <section>
            <h4>Manifest</h4>
            {planError && (
              <div className="config-problems" data-testid="export-problem">
                {planError}
              </div>
            )}
            {plan && <Manifest plan={plan} />}
            {!plan && !planError && <div className="muted">Preparing…</div>}
          </section>
        </div>
        <div className="modal-foot">
          {saved && (
            <span className="ok-text" data-testid="export-saved">
              {saved}
            </span>
          )}
          <span className="grow" />
          <button onClick={close}>Close</button>
          <button className="primary" disabled={!plan || !req || saving} onClick={() => void save()} data-testid="export-save">
            {saving ? 'Saving…' : backend.kind === 'wails' ? 'Save bundle…' : 'Download bundle'}
          </button>
        </div>
      </div>
    </div>
  );
}

function Manifest({ plan }: { plan: ExportPlan }) {
  const m = plan.manifest;
  return (
    <div className="manifest" data-testid="manifest">
      <div className="muted">
        {plan.file_name} · graph {m.graph_id} v{m.graph_version} · {m.node_types?.length ?? 0} node types
        {m.platforms?.length ? ` · ${m.platforms.join(', ')}` : ''}
        {plan.signer ? ` · signed by ${plan.signer.slice(0, 16)}…` : ' · unsigned'}
      </div>
      <table className="asset-table">
        <thead>
          <tr>
            <th>entry</th>
            <th>size</th>
            <th>sha256</th>
          </tr>
        </thead>
        <tbody>
          {m.entries.map((e) => (
            <tr key={e.path} data-testid="manifest-entry">
              <td>
                <code>{e.path}</code>
              </td>
              <td className="num">{formatSize(e.size)}</td>
              <td>
                <code title={e.sha256}>{e.sha256.slice(0, 12)}</code>
              </td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <td>
              <b>{m.entries.length} entries</b>
            </td>
            <td className="num" data-testid="manifest-total">
              <b>{formatSize(plan.total_size)}</b>
            </td>
            <td />
          </tr>
        </tfoot>
      </table>
    </div>
  );
}

import { useEffect, useRef, useState } from 'react';
import { useStudio } from '../store/store';

function size(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

/** Content-addressed assets: Wasm modules, TFLite models, label files, WAV recordings. */
export function AssetManager() {
  const assets = useStudio((s) => s.assets);
  const backend = useStudio((s) => s.backend);
  const [kind, setKind] = useState('');
  const file = useRef<HTMLInputElement>(null);
  useEffect(() => {
    void useStudio.getState().refreshAssets();
  }, []);
  return (
    <div className="assets" data-testid="assets">
      <div className="section-head">
        <select value={kind} onChange={(e) => setKind(e.target.value)} title="Kind (guessed from the name when automatic)">
          <option value="">kind: automatic</option>
          <option value="wasm">wasm</option>
          <option value="tflite">tflite</option>
          <option value="labels">labels</option>
          <option value="wav">wav</option>
          <option value="other">other</option>
        </select>
        <button onClick={() => file.current?.click()} data-testid="upload-asset">
          Upload…
        </button>
        <input
          ref={file}
          type="file"
          multiple
          hidden
          accept=".wasm,.tflite,.txt,.csv,.labels,.wav,.wave"
          data-testid="asset-file"
          onChange={async (e) => {
            const files = [...(e.target.files ?? [])];
            e.target.value = '';
            for (const f of files) await useStudio.getState().uploadAsset(f, kind || undefined);
          }}
        />
      </div>
      <table className="asset-table">
        <thead>
          <tr>
            <th>name</th>
            <th>kind</th>
            <th>size</th>
            <th>sha256</th>
          </tr>
        </thead>
        <tbody>
          {assets.map((a) => (
            <tr key={a.sha256} data-testid={`asset-${a.sha256}`}>
              <td>
                {backend ? (
                  <a href={backend.assetURL(a.sha256)} download={a.name}>
                    {a.name}
                  </a>
                ) : (
                  a.name
                )}
              </td>
              <td>{a.kind}</td>
              <td>{size(a.size)}</td>
              <td>
                <code title={a.sha256}>{a.sha256.slice(0, 12)}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {assets.length === 0 && <div className="panel-empty">No assets yet.</div>}
    </div>
  );
}

import { useEffect, useState } from 'react';
import { offerDownload } from '../backend/http';
import type { KeyInfo } from '../backend/types';
import { useStudio } from '../store/store';

/** Offers text as a file download (web mode). */
function download(name: string, text: string, type = 'text/plain') {
  offerDownload(name, new Blob([text], { type }));
}

/**
 * The studio's signing key: its public half to copy (or download) for the runners' --trust, and
 * the key pair to export to or import from a teammate. The key is created on first use.
 */
export function KeysPanel() {
  const backend = useStudio((s) => s.backend);
  const toast = useStudio.getState().toast;
  const [key, setKey] = useState<KeyInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [pair, setPair] = useState<string | null>(null);
  const [importing, setImporting] = useState(false);
  const [importText, setImportText] = useState('');

  useEffect(() => {
    if (!backend) return;
    let live = true;
    backend
      .signingKey()
      .then((k) => live && setKey(k))
      .catch((err) => live && setError(err.message));
    return () => {
      live = false;
    };
  }, [backend]);

  if (!backend) return null;
  const web = backend.kind === 'http';

  const copy = async () => {
    if (!key) return;
    try {
      await navigator.clipboard.writeText(key.public_key);
      toast('public key copied', 'ok');
    } catch {
      // Clipboard refused (no permission, not a secure context): select it for a manual copy.
      const el = document.querySelector('[data-testid=public-key]');
      if (el) window.getSelection()?.selectAllChildren(el);
      toast('select the key and copy it (the clipboard was refused)', 'info');
    }
  };

  const exportPair = async () => {
    try {
      const p = await backend.exportKeyPair();
      setPair(p);
      if (web) download('atoll-signing-key.pem', p, 'application/x-pem-file');
    } catch (err) {
      toast(`export key pair: ${(err as Error).message}`, 'error');
    }
  };

  const importPair = async () => {
    try {
      const k = await backend.importKeyPair(importText);
      setKey(k);
      setImporting(false);
      setImportText('');
      setPair(null);
      toast(`signing key imported (${k.fingerprint})`, 'ok');
    } catch (err) {
      toast(`import key pair: ${(err as Error).message}`, 'error');
    }
  };

  return (
    <div className="keys" data-testid="keys">
      {error && <div className="bad">{error}</div>}
      {key && (
        <>
          <div className="muted">
            {key.algorithm} · fingerprint <code data-testid="key-fingerprint">{key.fingerprint}</code>. Runners trust bundles it signs when
            given this public key (<code>atoll-runner run --trust FILE</code>).
          </div>
          <code className="public-key" data-testid="public-key">
            {key.public_key}
          </code>
          <div className="keys-actions">
            <button onClick={() => void copy()} data-testid="copy-public-key">
              Copy public key
            </button>
            {web && (
              <button onClick={() => download('atoll-signing.pub', key.public_key + '\n')} data-testid="download-public-key">
                Download .pub
              </button>
            )}
            <button onClick={() => void exportPair()} data-testid="export-key-pair" title="The private key too: share it only with people who may sign">
              Export key pair
            </button>
            <button onClick={() => setImporting(!importing)} data-testid="import-key-pair">
              Import key pair…
            </button>
          </div>
        </>
      )}
      {pair && (
        <div className="key-pair">
          <div className="config-note">This is the private key: whoever has it can sign bundles your runners trust.</div>
          <textarea readOnly value={pair} rows={5} data-testid="key-pair-text" />
        </div>
      )}
      {importing && (
        <div className="key-pair">
          <div className="config-note">Importing replaces the studio's signing key; runners that trust only the old key will refuse new bundles.</div>
          <textarea
            value={importText}
            onChange={(e) => setImportText(e.target.value)}
            rows={5}
            placeholder="paste an exported key pair"
            data-testid="import-key-text"
          />
          <div className="keys-actions">
            <input
              type="file"
              accept=".pem,.key,.txt"
              data-testid="import-key-file"
              onChange={async (e) => {
                const f = e.target.files?.[0];
                e.target.value = '';
                if (f) setImportText(await f.text());
              }}
            />
            <button className="primary" disabled={!importText.trim()} onClick={() => void importPair()} data-testid="import-key-confirm">
              Replace signing key
            </button>
          </div>
        </div>
      )}
    </div>
  );
}

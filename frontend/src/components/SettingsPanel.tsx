import { useEffect, useState } from 'react';
import type { Settings } from '../backend/types';
import { useStudio } from '../store/store';

/**
 * The directories the studio's graphs may read and write: the workspace, and the ones the user
 * adds here (app/API.md: a path elsewhere is a validation problem naming it).
 */
export function SettingsPanel() {
  const backend = useStudio((s) => s.backend);
  const [settings, setSettings] = useState<Settings | null>(null);
  const [dir, setDir] = useState('');
  const fail = (what: string) => (err: unknown) =>
    useStudio.getState().toast(`${what}: ${err instanceof Error ? err.message : String(err)}`, 'error');
  useEffect(() => {
    backend?.getSettings().then(setSettings, fail('settings'));
  }, [backend]);
  const save = async (dirs: string[]) => {
    if (!backend) return false;
    try {
      setSettings(await backend.setAllowedDirs(dirs));
      return true;
    } catch (err) {
      fail('allowed directories')(err);
      return false;
    }
  };
  if (!settings) return <div className="panel-empty">Loading…</div>;
  return (
    <div className="settings" data-testid="settings-panel">
      <div className="section-head">Files graphs may use</div>
      <p className="settings-note">
        Graphs run from the studio read and write only in the workspace and the directories below (links are followed
        only while they stay there). <code>atoll run</code> on your own graph file is not limited.
      </p>
      <div className="settings-row">
        <span className="settings-label">Workspace</span>
        <code data-testid="settings-workspace">{settings.workspace || '(none)'}</code>
      </div>
      <ul className="settings-dirs" data-testid="allowed-dirs">
        {settings.allowed_dirs.map((d, i) => (
          <li key={d} data-testid={`allowed-dir-${i}`}>
            <code>{d}</code>
            <button
              className="icon"
              title={`Remove ${d}`}
              data-testid={`allowed-dir-remove-${i}`}
              onClick={() => void save(settings.allowed_dirs.filter((x) => x !== d))}
            >
              ✕
            </button>
          </li>
        ))}
      </ul>
      <form
        className="settings-add"
        onSubmit={async (e) => {
          e.preventDefault();
          if (dir.trim() && (await save([...settings.allowed_dirs, dir.trim()]))) setDir('');
        }}
      >
        <input
          value={dir}
          onChange={(e) => setDir(e.target.value)}
          placeholder="/absolute/path/to/a/directory"
          aria-label="Directory to allow"
          data-testid="allowed-dir-input"
        />
        <button type="submit" data-testid="allowed-dir-add" disabled={!dir.trim()}>
          Add
        </button>
      </form>
    </div>
  );
}

import { ReactFlowProvider } from '@xyflow/react';
import { lazy, Suspense, useEffect, useState } from 'react';
import { Canvas } from './components/Canvas';
import { GraphList } from './components/GraphList';
import { LogPanel, ProblemsPanel } from './components/LogPanel';
import { Palette } from './components/Palette';
import { PreviewPanel } from './components/PreviewPanel';
import { RecordTestButton } from './components/RecordTestButton';
import { Toasts } from './components/Toasts';
import { Toolbar } from './components/Toolbar';
import { useStudio } from './store/store';

function editable(t: EventTarget | null): boolean {
  const el = t as HTMLElement | null;
  if (!el || !el.tagName) return false;
  return el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName);
}

/** Studio shortcuts: save, undo/redo, copy/paste, delete, select all. */
export function onKey(e: KeyboardEvent): void {
  const s = useStudio.getState();
  const mod = e.ctrlKey || e.metaKey;
  const k = e.key.toLowerCase();
  if (mod && k === 's') {
    e.preventDefault();
    void s.save();
    return;
  }
  if (editable(e.target)) return;
  if (mod && k === 'z' && !e.shiftKey) {
    e.preventDefault();
    s.undo();
  } else if (mod && ((k === 'z' && e.shiftKey) || k === 'y')) {
    e.preventDefault();
    s.redo();
  } else if (mod && k === 'c') {
    s.copySelection();
  } else if (mod && k === 'v') {
    e.preventDefault();
    s.paste();
  } else if (mod && k === 'a') {
    e.preventDefault();
    s.select(s.nodes.map((n) => n.id));
  } else if (!mod && (e.key === 'Delete' || e.key === 'Backspace')) {
    e.preventDefault();
    s.deleteSelected();
  }
}

// The forms (rjsf + ajv) and the side panels load after the canvas.
const ConfigPanel = lazy(() => import('./components/ConfigPanel').then((m) => ({ default: m.ConfigPanel })));
const HistoryPanel = lazy(() => import('./components/HistoryPanel').then((m) => ({ default: m.HistoryPanel })));
const TestsPanel = lazy(() => import('./components/TestsPanel').then((m) => ({ default: m.TestsPanel })));
const AssetManager = lazy(() => import('./components/AssetManager').then((m) => ({ default: m.AssetManager })));
const ParamsPanel = lazy(() => import('./components/ParamsPanel').then((m) => ({ default: m.ParamsPanel })));
const ExportDialog = lazy(() => import('./components/ExportDialog').then((m) => ({ default: m.ExportDialog })));

const BirdView = lazy(() => import('./components/birdview/BirdView').then((m) => ({ default: m.BirdView })));
const SettingsPanel = lazy(() => import('./components/SettingsPanel').then((m) => ({ default: m.SettingsPanel })));

type RightTab = 'config' | 'history' | 'assets' | 'params' | 'settings';
type BottomTab = 'preview' | 'log' | 'problems' | 'tests' | 'birds';

export function App() {
  const [right, setRight] = useState<RightTab>('config');
  const [bottom, setBottom] = useState<BottomTab>('preview');
  const [bottomOpen, setBottomOpen] = useState(true);
  const nProblems = useStudio((s) => s.problems.length);
  const nLogs = useStudio((s) => s.logs.length);
  const preview = useStudio((s) => s.preview);
  const run = useStudio((s) => s.run);
  const exportOpen = useStudio((s) => s.exportOpen);
  const title = useStudio((s) => (s.info ? `${s.dirty() ? '● ' : ''}${s.info.name} — Atoll Studio` : 'Atoll Studio'));
  useEffect(() => {
    document.title = title;
  }, [title]);

  useEffect(() => {
    window.addEventListener('keydown', onKey);
    const warn = (e: BeforeUnloadEvent) => {
      if (useStudio.getState().dirty()) e.preventDefault();
    };
    window.addEventListener('beforeunload', warn);
    return () => {
      window.removeEventListener('keydown', onKey);
      window.removeEventListener('beforeunload', warn);
    };
  }, []);
  useEffect(() => {
    if (nProblems) {
      setBottom('problems');
      setBottomOpen(true);
    }
  }, [nProblems]);
  useEffect(() => {
    if (preview) {
      setBottom('preview');
      setBottomOpen(true);
    }
  }, [preview]);
  useEffect(() => {
    if (run?.status === 'running' && !preview) setBottom((b) => (b === 'birds' ? b : 'log'));
  }, [run?.id]); // eslint-disable-line react-hooks/exhaustive-deps

  return (
    <ReactFlowProvider>
      <div className="app">
        <aside className="left">
          <div className="brand">Atoll Studio</div>
          <GraphList />
          <Palette />
        </aside>
        <main className="center">
          <Toolbar />
          <Canvas />
          <div className={`bottom ${bottomOpen ? 'open' : 'closed'}`}>
            <div className="tabs">
              <button className={bottom === 'preview' ? 'on' : ''} onClick={() => (setBottom('preview'), setBottomOpen(true))} data-testid="tab-preview">
                Preview
              </button>
              <button className={bottom === 'log' ? 'on' : ''} onClick={() => (setBottom('log'), setBottomOpen(true))} data-testid="tab-log">
                Log{nLogs ? ` (${nLogs})` : ''}
              </button>
              <button className={bottom === 'problems' ? 'on' : ''} onClick={() => (setBottom('problems'), setBottomOpen(true))} data-testid="tab-problems">
                Problems{nProblems ? ` (${nProblems})` : ''}
              </button>
              <button className={bottom === 'tests' ? 'on' : ''} onClick={() => (setBottom('tests'), setBottomOpen(true))} data-testid="tab-tests">
                Tests
              </button>
              <button className={bottom === 'birds' ? 'on' : ''} onClick={() => (setBottom('birds'), setBottomOpen(true))} data-testid="tab-birds" title="Spectrogram, detections and playback">
                Spectrogram
              </button>
              <span className="grow" />
              <RecordTestButton onRecorded={() => (setBottom('tests'), setBottomOpen(true))} />
              <button className="icon" onClick={() => setBottomOpen(!bottomOpen)} title={bottomOpen ? 'Collapse' : 'Expand'}>
                {bottomOpen ? '▾' : '▴'}
              </button>
            </div>
            {bottomOpen && (
              <div className="bottom-body">
                {bottom === 'preview' && <PreviewPanel />}
                {bottom === 'log' && <LogPanel />}
                {bottom === 'problems' && <ProblemsPanel />}
                {bottom === 'birds' && (
                  <Suspense fallback={<div className="panel-empty">Loading…</div>}>
                    <BirdView />
                  </Suspense>
                )}
                {bottom === 'tests' && (
                  <Suspense fallback={<div className="panel-empty">Loading…</div>}>
                    <TestsPanel />
                  </Suspense>
                )}
              </div>
            )}
          </div>
        </main>
        <aside className="right">
          <div className="tabs">
            <button className={right === 'config' ? 'on' : ''} onClick={() => setRight('config')} data-testid="tab-config">
              Config
            </button>
            <button className={right === 'history' ? 'on' : ''} onClick={() => setRight('history')} data-testid="tab-history">
              History
            </button>
            <button className={right === 'assets' ? 'on' : ''} onClick={() => setRight('assets')} data-testid="tab-assets">
              Assets
            </button>
            <button className={right === 'params' ? 'on' : ''} onClick={() => setRight('params')} data-testid="tab-params">
              Params
            </button>
            <button className={right === 'settings' ? 'on' : ''} onClick={() => setRight('settings')} data-testid="tab-settings" title="Settings: the directories graphs may use">
              Settings
            </button>
          </div>
          <div className="right-body">
            <Suspense fallback={<div className="panel-empty">Loading…</div>}>
              {right === 'config' && <ConfigPanel />}
              {right === 'history' && <HistoryPanel />}
              {right === 'assets' && <AssetManager />}
              {right === 'params' && <ParamsPanel />}
              {right === 'settings' && <SettingsPanel />}
            </Suspense>
          </div>
        </aside>
        {exportOpen && (
          <Suspense fallback={null}>
            <ExportDialog />
          </Suspense>
        )}
        <Toasts />
      </div>
    </ReactFlowProvider>
  );
}

import '@xyflow/react/dist/style.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { pickBackend } from './backend';
import { useStudio } from './store/store';
import './styles.css';

const backend = pickBackend();
void useStudio.getState().init(backend);
// Tests and benchmarks drive the store directly (e.g. loading a 500-node graph).
(window as unknown as { __atoll: typeof useStudio }).__atoll = useStudio;

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);

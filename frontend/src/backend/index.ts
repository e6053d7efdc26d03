import { HttpBackend } from './http';
import { takeToken } from './token';
import type { Backend } from './types';
import { WailsBackend } from './wails';

/** Picks the transport: the Wails bindings when the desktop window provides them, else HTTP. */
export function pickBackend(): Backend {
  const svc = typeof window !== 'undefined' ? window.go?.app?.Service : undefined;
  if (svc) return new WailsBackend(svc, window.runtime);
  return new HttpBackend('', takeToken());
}

export * from './types';
export * from './tests';

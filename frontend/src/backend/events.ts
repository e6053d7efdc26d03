import type { RowsEvent, RunHandlers, ServerEvent } from './types';

/** Sets of subscribers by key; add and remove say whether a key gained its first or lost its last. */
class Subscribers<T> {
  private m = new Map<string, Set<T>>();

  add(key: string, v: T): boolean {
    let set = this.m.get(key);
    const first = !set;
    if (!set) this.m.set(key, (set = new Set()));
    set.add(v);
    return first;
  }

  remove(key: string, v: T): boolean {
    const set = this.m.get(key);
    if (!set) return false;
    set.delete(v);
    if (set.size > 0) return false;
    this.m.delete(key);
    return true;
  }

  keys(): string[] {
    return [...this.m.keys()];
  }

  each(key: string, f: (v: T) => void): void {
    this.m.get(key)?.forEach(f);
  }
}

/**
 * Routes server events to the handlers registered by subscribe and tap. Both transports use it:
 * they differ only in how messages reach the studio and how subscriptions reach the service.
 */
export class EventRouter {
  private runs = new Subscribers<RunHandlers>();
  private taps = new Subscribers<(e: RowsEvent) => void>();

  static tapKey(run: string, node: string, port: string): string {
    return `${run}\u0000${node}\u0000${port}`;
  }

  /** Adds run handlers; returns true when this is the first subscriber of that run. */
  addRun(run: string, h: RunHandlers): boolean {
    return this.runs.add(run, h);
  }

  /** Removes run handlers; returns true when no subscriber of that run is left. */
  removeRun(run: string, h: RunHandlers): boolean {
    return this.runs.remove(run, h);
  }

  addTap(key: string, f: (e: RowsEvent) => void): boolean {
    return this.taps.add(key, f);
  }

  removeTap(key: string, f: (e: RowsEvent) => void): boolean {
    return this.taps.remove(key, f);
  }

  runIDs(): string[] {
    return this.runs.keys();
  }

  tapKeys(): string[] {
    return this.taps.keys();
  }

  dispatch(e: ServerEvent): void {
    switch (e.type) {
      case 'rows':
        this.taps.each(EventRouter.tapKey(e.run, e.node, e.port), (f) => f(e));
        return;
      case 'metrics':
        this.runs.each(e.run, (h) => h.metrics?.(e));
        return;
      case 'log':
        this.runs.each(e.run, (h) => h.log?.(e));
        return;
      case 'status':
        this.runs.each(e.run.id, (h) => h.status?.(e));
        return;
    }
  }
}

import type { RowsEvent, RunHandlers, ServerEvent } from './types';

/**
 * Routes server events to the handlers registered by subscribe and tap. Both transports use it:
 * they differ only in how messages reach the studio and how subscriptions reach the service.
 */
export class EventRouter {
  private runs = new Map<string, Set<RunHandlers>>();
  private taps = new Map<string, Set<(e: RowsEvent) => void>>();

  static tapKey(run: string, node: string, port: string): string {
    return `${run}\u0000${node}\u0000${port}`;
  }

  /** Adds run handlers; returns true when this is the first subscriber of that run. */
  addRun(run: string, h: RunHandlers): boolean {
    let set = this.runs.get(run);
    const first = !set;
    if (!set) this.runs.set(run, (set = new Set()));
    set.add(h);
    return first;
  }

  /** Removes run handlers; returns true when no subscriber of that run is left. */
  removeRun(run: string, h: RunHandlers): boolean {
    const set = this.runs.get(run);
    if (!set) return false;
    set.delete(h);
    if (set.size === 0) {
      this.runs.delete(run);
      return true;
    }
    return false;
  }

  addTap(key: string, f: (e: RowsEvent) => void): boolean {
    let set = this.taps.get(key);
    const first = !set;
    if (!set) this.taps.set(key, (set = new Set()));
    set.add(f);
    return first;
  }

  removeTap(key: string, f: (e: RowsEvent) => void): boolean {
    const set = this.taps.get(key);
    if (!set) return false;
    set.delete(f);
    if (set.size === 0) {
      this.taps.delete(key);
      return true;
    }
    return false;
  }

  runIDs(): string[] {
    return [...this.runs.keys()];
  }

  tapKeys(): string[] {
    return [...this.taps.keys()];
  }

  dispatch(e: ServerEvent): void {
    switch (e.type) {
      case 'rows': {
        const set = this.taps.get(EventRouter.tapKey(e.run, e.node, e.port));
        set?.forEach((f) => f(e));
        return;
      }
      case 'metrics':
        this.runs.get(e.run)?.forEach((h) => h.metrics?.(e));
        return;
      case 'log':
        this.runs.get(e.run)?.forEach((h) => h.log?.(e));
        return;
      case 'status':
        this.runs.get(e.run.id)?.forEach((h) => h.status?.(e));
        return;
    }
  }
}

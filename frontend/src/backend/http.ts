import { EventRouter } from './events';
import {
  APIError,
  type AssetInfo,
  type Backend,
  type ExportOptions,
  type ExportPlan,
  type ExportRequest,
  type KeyInfo,
  type SavedBundle,
  type GraphDiff,
  type GraphDoc,
  type GraphInfo,
  type NodeSpec,
  type Problem,
  type RowsEvent,
  type RunHandlers,
  type RunInfo,
  type ServerEvent,
  type Settings,
  type Unsubscribe,
  type VersionInfo,
} from './types';
import type { FlowTest, GraphTest, RecordRequest, TestInfo, TestRun } from './tests';

/** The WebSocket subprotocol the server answers with; the token rides as a second one. */
export const WS_PROTOCOL = 'atoll.v1';
export const TOKEN_PROTOCOL_PREFIX = 'atoll.token.';

/**
 * Backend over HTTP and the /api/ws WebSocket of `atoll serve`. Every call carries the studio's
 * token (see token.ts): a bearer header, the WebSocket subprotocol, or `?token=` on asset links.
 */
export class HttpBackend implements Backend {
  readonly kind = 'http' as const;
  private base: string;
  private token: string;
  private router = new EventRouter();
  private ws: WebSocket | null = null;
  private open = false;
  private queue: string[] = [];
  private retry = 0;

  constructor(base = '', token = '') {
    this.base = base.replace(/\/$/, '');
    this.token = token;
  }

  private async req<T>(method: string, path: string, body?: unknown): Promise<T> {
    const init: RequestInit = { method, headers: {} };
    if (this.token) (init.headers as Record<string, string>)['Authorization'] = `Bearer ${this.token}`;
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
    }
    let res: Response;
    try {
      res = await fetch(this.base + path, init);
    } catch (err) {
      throw new APIError(`${method} ${path}: ${(err as Error).message}`);
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let data: unknown = undefined;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    if (!res.ok) {
      const d = (data ?? {}) as { error?: string; problems?: Problem[] };
      const msg = typeof data === 'string' ? data : d.error ?? `${res.status} ${res.statusText}`;
      throw new APIError(msg, res.status, d.problems ?? []);
    }
    return data as T;
  }

  catalog = () => this.req<NodeSpec[]>('GET', '/api/catalog');
  listTests = (id: string) => this.req<GraphTest[]>('GET', `/api/graphs/${enc(id)}/tests`);
  saveTest = (id: string, test: FlowTest) => this.req<TestInfo>('PUT', `/api/graphs/${enc(id)}/tests`, { test });
  deleteTest = (id: string, name: string) => this.req<void>('DELETE', `/api/graphs/${enc(id)}/tests/${enc(name)}`);
  recordTest = (req: RecordRequest) => this.req<FlowTest>('POST', '/api/tests/record', req);
  runTests = (id: string, document: GraphDoc, names?: string[]) =>
    this.req<TestRun>('POST', `/api/graphs/${enc(id)}/tests/run`, names ? { document, names } : { document });
  listGraphs = () => this.req<GraphInfo[]>('GET', '/api/graphs');
  createGraph = (name: string, document?: GraphDoc) =>
    this.req<GraphInfo>('POST', '/api/graphs', document ? { name, document } : { name });
  getGraph = (id: string) => this.req<{ info: GraphInfo; document: GraphDoc }>('GET', `/api/graphs/${enc(id)}`);
  saveGraph = (id: string, document: GraphDoc, message?: string) =>
    this.req<VersionInfo>('PUT', `/api/graphs/${enc(id)}`, message ? { document, message } : { document });
  renameGraph = (id: string, name: string) => this.req<GraphInfo>('PATCH', `/api/graphs/${enc(id)}`, { name });
  deleteGraph = (id: string) => this.req<void>('DELETE', `/api/graphs/${enc(id)}`);
  duplicateGraph = (id: string, name?: string) =>
    this.req<GraphInfo>('POST', `/api/graphs/${enc(id)}/duplicate`, name ? { name } : {});
  listVersions = (id: string) => this.req<VersionInfo[]>('GET', `/api/graphs/${enc(id)}/versions`);
  getVersion = (id: string, v: number) => this.req<GraphDoc>('GET', `/api/graphs/${enc(id)}/versions/${v}`);
  diff = (id: string, from: number, to: number) =>
    this.req<GraphDiff>('GET', `/api/graphs/${enc(id)}/diff?from=${from}&to=${to}`);
  restoreVersion = (id: string, v: number) =>
    this.req<VersionInfo>('POST', `/api/graphs/${enc(id)}/versions/${v}/restore`);
  validate = (document: GraphDoc) => this.req<{ problems: Problem[] }>('POST', '/api/validate', document);
  startRun = (document: GraphDoc, graphID?: string) =>
    this.req<RunInfo>('POST', '/api/runs', graphID ? { graph_id: graphID, document } : { document });
  listRuns = () => this.req<RunInfo[]>('GET', '/api/runs');
  getRun = (id: string) => this.req<RunInfo>('GET', `/api/runs/${enc(id)}`);
  stopRun = (id: string) => this.req<RunInfo>('POST', `/api/runs/${enc(id)}/stop`);
  listAssets = () => this.req<AssetInfo[]>('GET', '/api/assets');
  uploadAsset = (file: Blob, name: string, kind?: string) => {
    const fd = new FormData();
    fd.append('file', file, name);
    if (kind) fd.append('kind', kind);
    return this.req<AssetInfo>('POST', '/api/assets', fd);
  };
  assetURL = (sha256: string) =>
    `${this.base}/api/assets/${enc(sha256)}${this.token ? `?token=${encodeURIComponent(this.token)}` : ''}`;
  getSettings = () => this.req<Settings>('GET', '/api/settings');
  setAllowedDirs = (dirs: string[]) => this.req<Settings>('PUT', '/api/settings', { allowed_dirs: dirs });

  exportOptions = () => this.req<ExportOptions>('GET', '/api/bundles/options');
  previewBundle = (req: ExportRequest) => this.req<ExportPlan>('POST', '/api/bundles/preview', req);
  signingKey = () => this.req<KeyInfo>('GET', '/api/keys/signing');
  exportKeyPair = async () => (await this.req<{ pair: string }>('GET', '/api/keys/signing/pair')).pair;
  importKeyPair = (pair: string) => this.req<KeyInfo>('PUT', '/api/keys/signing', { pair });

  /** Fetches the bundle and hands it to the browser as a download named by the server. */
  saveBundle = async (req: ExportRequest): Promise<SavedBundle> => {
    let res: Response;
    try {
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (this.token) headers['Authorization'] = `Bearer ${this.token}`;
      res = await fetch(this.base + '/api/bundles', {
        method: 'POST',
        headers,
        body: JSON.stringify(req),
      });
    } catch (err) {
      throw new APIError(`POST /api/bundles: ${(err as Error).message}`);
    }
    if (!res.ok) {
      const text = await res.text();
      let d: { error?: string; problems?: Problem[] } = {};
      try {
        d = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      throw new APIError(d.error ?? (text || `${res.status} ${res.statusText}`), res.status, d.problems ?? []);
    }
    const blob = await res.blob();
    const name = fileName(res.headers.get('Content-Disposition')) ?? 'graph.atoll';
    offerDownload(name, blob);
    return { file_name: name, size: blob.size, sha256: res.headers.get('X-Atoll-Bundle-SHA256') ?? '' };
  };

  subscribe(run: string, handlers: RunHandlers): Unsubscribe {
    if (this.router.addRun(run, handlers)) this.send({ type: 'subscribe', run });
    return () => {
      this.router.removeRun(run, handlers);
    };
  }

  tap(run: string, node: string, port: string, onRows: (e: RowsEvent) => void): Unsubscribe {
    const key = EventRouter.tapKey(run, node, port);
    if (this.router.addTap(key, onRows)) this.send({ type: 'tap', run, node, port });
    return () => {
      if (this.router.removeTap(key, onRows)) this.send({ type: 'untap', run, node, port });
    };
  }

  private send(msg: object) {
    const s = JSON.stringify(msg);
    this.connect();
    if (this.open && this.ws) this.ws.send(s);
    else this.queue.push(s);
  }

  private connect() {
    if (this.ws) return;
    const u = new URL(this.base + '/api/ws', window.location.href);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = this.token
      ? new WebSocket(u.toString(), [WS_PROTOCOL, TOKEN_PROTOCOL_PREFIX + this.token])
      : new WebSocket(u.toString());
    this.ws = ws;
    ws.onopen = () => {
      this.open = true;
      this.retry = 0;
      for (const s of this.queue.splice(0)) ws.send(s);
    };
    ws.onmessage = (m) => {
      let e: ServerEvent;
      try {
        e = JSON.parse(String(m.data));
      } catch {
        return;
      }
      this.router.dispatch(e);
    };
    ws.onclose = () => {
      this.ws = null;
      this.open = false;
      const runs = this.router.runIDs();
      const taps = this.router.tapKeys();
      if (runs.length === 0 && taps.length === 0) return;
      // Reconnect and restore every subscription and tap.
      const delay = Math.min(5000, 250 * 2 ** this.retry++);
      setTimeout(() => {
        this.queue = [];
        for (const run of this.router.runIDs()) this.send({ type: 'subscribe', run });
        for (const k of this.router.tapKeys()) {
          const [run, node, port] = k.split('\u0000');
          this.send({ type: 'tap', run, node, port });
        }
      }, delay);
    };
  }
}

/** Hands a blob to the browser as a download named name. */
export function offerDownload(name: string, blob: Blob): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

/** The file name of a Content-Disposition header (`filename="x"` or RFC 5987 `filename*=`). */
export function fileName(cd: string | null): string | null {
  if (!cd) return null;
  const star = /filename\*=(?:UTF-8|utf-8)''([^;]+)/.exec(cd);
  if (star) {
    try {
      return decodeURIComponent(star[1].trim());
    } catch {
      /* fall through */
    }
  }
  const m = /filename="((?:[^"\\]|\\.)*)"/.exec(cd) ?? /filename=([^;]+)/.exec(cd);
  return m ? m[1].replace(/\\(.)/g, '$1').trim() : null;
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

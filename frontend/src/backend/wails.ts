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

/**
 * The bound methods of app.Service in the Wails window: the Backend methods in PascalCase with
 * the same positional arguments and JSON types. UploadAsset takes the file as []byte (base64 in
 * JSON). Subscribe/Unsubscribe and Tap/Untap start and stop the events that the service emits as
 * Wails events named "atoll:event", carrying the same objects as the WebSocket messages.
 */
export type WailsService = {
  Catalog(): Promise<NodeSpec[]>;
  ListGraphs(): Promise<GraphInfo[]>;
  CreateGraph(name: string, document: GraphDoc | null): Promise<GraphInfo>;
  GetGraph(id: string): Promise<{ info: GraphInfo; document: GraphDoc }>;
  SaveGraph(id: string, document: GraphDoc, message: string): Promise<VersionInfo>;
  RenameGraph(id: string, name: string): Promise<GraphInfo>;
  DeleteGraph(id: string): Promise<void>;
  DuplicateGraph(id: string, name: string): Promise<GraphInfo>;
  ListVersions(id: string): Promise<VersionInfo[]>;
  GetVersion(id: string, version: number): Promise<GraphDoc>;
  Diff(id: string, from: number, to: number): Promise<GraphDiff>;
  RestoreVersion(id: string, version: number): Promise<VersionInfo>;
  Validate(document: GraphDoc): Promise<{ problems: Problem[] }>;
  StartRun(document: GraphDoc, graphID: string): Promise<RunInfo>;
  ListRuns(): Promise<RunInfo[]>;
  GetRun(id: string): Promise<RunInfo>;
  StopRun(id: string): Promise<RunInfo>;
  ListAssets(): Promise<AssetInfo[]>;
  UploadAsset(name: string, kind: string, data: string): Promise<AssetInfo>;
  ExportOptions(): Promise<ExportOptions>;
  PreviewBundle(req: ExportRequest): Promise<ExportPlan>;
  SaveBundle(req: ExportRequest): Promise<SavedBundle>;
  SigningKey(): Promise<KeyInfo>;
  ExportKeyPair(): Promise<string>;
  ImportKeyPair(pair: string): Promise<KeyInfo>;
  GetSettings(): Promise<Settings>;
  SetAllowedDirs(dirs: string[]): Promise<Settings>;
  Subscribe(run: string): Promise<void>;
  Unsubscribe(run: string): Promise<void>;
  Tap(run: string, node: string, port: string): Promise<void>;
  Untap(run: string, node: string, port: string): Promise<void>;
  ListTests(graphID: string): Promise<GraphTest[]>;
  SaveTest(graphID: string, test: FlowTest): Promise<TestInfo>;
  DeleteTest(graphID: string, name: string): Promise<void>;
  RecordTest(req: RecordRequest): Promise<FlowTest>;
  RunTests(graphID: string, document: GraphDoc, names: string[] | null): Promise<TestRun>;
};

type WailsRuntime = { EventsOn(name: string, cb: (...data: unknown[]) => void): (() => void) | void };

declare global {
  interface Window {
    go?: { app?: { Service?: WailsService } };
    runtime?: WailsRuntime;
  }
}

/** The Wails event that carries server events in the desktop window. */
export const WAILS_EVENT = 'atoll:event';

/** Backend over the Wails bindings of app.Service. */
export class WailsBackend implements Backend {
  readonly kind = 'wails' as const;
  private svc: WailsService;
  private router = new EventRouter();

  constructor(svc: WailsService, runtime: WailsRuntime | undefined) {
    this.svc = svc;
    runtime?.EventsOn(WAILS_EVENT, (e) => {
      const ev = (typeof e === 'string' ? JSON.parse(e) : e) as ServerEvent;
      this.router.dispatch(ev);
    });
  }

  private async call<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      throw toAPIError(err);
    }
  }

  catalog = () => this.call(this.svc.Catalog());
  listTests = (id: string) => this.call(this.svc.ListTests(id));
  saveTest = (id: string, test: FlowTest) => this.call(this.svc.SaveTest(id, test));
  deleteTest = (id: string, name: string) => this.call(this.svc.DeleteTest(id, name));
  recordTest = (req: RecordRequest) => this.call(this.svc.RecordTest(req));
  runTests = (id: string, document: GraphDoc, names?: string[]) => this.call(this.svc.RunTests(id, document, names ?? null));
  listGraphs = () => this.call(this.svc.ListGraphs());
  createGraph = (name: string, document?: GraphDoc) => this.call(this.svc.CreateGraph(name, document ?? null));
  getGraph = (id: string) => this.call(this.svc.GetGraph(id));
  saveGraph = (id: string, document: GraphDoc, message?: string) =>
    this.call(this.svc.SaveGraph(id, document, message ?? ''));
  renameGraph = (id: string, name: string) => this.call(this.svc.RenameGraph(id, name));
  deleteGraph = (id: string) => this.call(this.svc.DeleteGraph(id));
  duplicateGraph = (id: string, name?: string) => this.call(this.svc.DuplicateGraph(id, name ?? ''));
  listVersions = (id: string) => this.call(this.svc.ListVersions(id));
  getVersion = (id: string, v: number) => this.call(this.svc.GetVersion(id, v));
  diff = (id: string, from: number, to: number) => this.call(this.svc.Diff(id, from, to));
  restoreVersion = (id: string, v: number) => this.call(this.svc.RestoreVersion(id, v));
  validate = (document: GraphDoc) => this.call(this.svc.Validate(document));
  startRun = (document: GraphDoc, graphID?: string) => this.call(this.svc.StartRun(document, graphID ?? ''));
  listRuns = () => this.call(this.svc.ListRuns());
  getRun = (id: string) => this.call(this.svc.GetRun(id));
  stopRun = (id: string) => this.call(this.svc.StopRun(id));
  listAssets = () => this.call(this.svc.ListAssets());
  uploadAsset = async (file: Blob, name: string, kind?: string) =>
    this.call(this.svc.UploadAsset(name, kind ?? '', await toBase64(file)));
  // The window's asset server answers /api/ paths itself, from the window only: no token.
  assetURL = (sha256: string) => `api/assets/${encodeURIComponent(sha256)}`;
  getSettings = () => this.call(this.svc.GetSettings());
  setAllowedDirs = (dirs: string[]) => this.call(this.svc.SetAllowedDirs(dirs));

  exportOptions = () => this.call(this.svc.ExportOptions());
  previewBundle = (req: ExportRequest) => this.call(this.svc.PreviewBundle(req));
  /** The service opens the window's save dialog and writes the file where the user says. */
  saveBundle = (req: ExportRequest) => this.call(this.svc.SaveBundle(req));
  signingKey = () => this.call(this.svc.SigningKey());
  exportKeyPair = () => this.call(this.svc.ExportKeyPair());
  importKeyPair = (pair: string) => this.call(this.svc.ImportKeyPair(pair));

  subscribe(run: string, handlers: RunHandlers): Unsubscribe {
    if (this.router.addRun(run, handlers)) void this.svc.Subscribe?.(run)?.catch(() => {});
    return () => {
      if (this.router.removeRun(run, handlers)) void this.svc.Unsubscribe?.(run)?.catch(() => {});
    };
  }

  tap(run: string, node: string, port: string, onRows: (e: RowsEvent) => void): Unsubscribe {
    const key = EventRouter.tapKey(run, node, port);
    if (this.router.addTap(key, onRows)) void this.svc.Tap(run, node, port).catch(() => {});
    return () => {
      if (this.router.removeTap(key, onRows)) void this.svc.Untap(run, node, port).catch(() => {});
    };
  }
}

/**
 * Wails rejects with the Go error's text. A validation failure may carry a JSON object
 * `{"error": ..., "problems": [...]}` as its text, the same body as the HTTP transport.
 */
function toAPIError(err: unknown): APIError {
  const text = typeof err === 'string' ? err : err instanceof Error ? err.message : JSON.stringify(err);
  try {
    const d = JSON.parse(text) as { error?: string; problems?: Problem[] };
    if (d && typeof d === 'object' && d.error) return new APIError(d.error, 0, d.problems ?? []);
  } catch {
    /* plain text */
  }
  return new APIError(text);
}

async function toBase64(b: Blob): Promise<string> {
  const bytes = new Uint8Array(await b.arrayBuffer());
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

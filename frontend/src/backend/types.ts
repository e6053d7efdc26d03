// Types of the studio API (app/API.md) and the one Backend interface that both transports
// (HTTP+WebSocket for `atoll serve`, Wails bindings for the desktop window) implement.
import type { TestsBackend } from './tests';

export type JSONSchema = { [key: string]: unknown };

export type PortSpec = { name: string; type: string; required?: boolean; doc?: string };

export type NodeSpec = {
  id: string;
  category: string;
  summary: string;
  docs: string;
  headless: boolean;
  inputs: PortSpec[];
  outputs: PortSpec[];
  config_schema: JSONSchema;
  examples: { name: string; config: Record<string, unknown> }[];
  /** Config fields that cap the guest memory the node may claim (function.wasm). */
  guest_memory?: { pages: string; instances?: string; page_bytes: number };
};

export type GraphNode = {
  id: string;
  type: string;
  config: Record<string, unknown>;
  ui?: { x: number; y: number };
};
export type Endpoint = { node: string; port: string };
export type GraphEdge = { from: Endpoint; to: Endpoint };
/** A parameter a graph declares: config fields refer to it as `${param:name}` (app/API.md). */
export type GraphParam = { name: string; type: string; default?: unknown; doc?: string };
export type GraphDoc = {
  version: 1;
  id: string;
  name: string;
  parameters?: GraphParam[];
  nodes: GraphNode[];
  edges: GraphEdge[];
};

export type GraphInfo = { id: string; name: string; version: number; created_at: string; updated_at: string };
export type VersionInfo = { graph_id: string; version: number; created_at: string; message: string };
export type Problem = { node?: string; port?: string; field?: string; message: string };

export type FieldChange = { path: string; before: unknown; after: unknown };
export type NodeChange = { id: string; type_changed?: [string, string]; moved?: boolean; fields: FieldChange[] };
export type GraphDiff = {
  from: number;
  to: number;
  nodes_added: GraphNode[];
  nodes_removed: GraphNode[];
  nodes_changed: NodeChange[];
  edges_added: GraphEdge[];
  edges_removed: GraphEdge[];
};

/** The studio's settings: graphs read and write only in the workspace and the allowed directories. */
export type Settings = { workspace: string; allowed_dirs: string[] };

export type AssetInfo = { sha256: string; name: string; kind: string; size: number; created_at: string };

export type RunStatus = 'running' | 'stopping' | 'finished' | 'failed' | 'stopped';
export type NodeMetrics = {
  state: 'idle' | 'running' | 'restarting' | 'done' | 'failed';
  rows_in: number;
  rows_out: number;
  errors: number;
  queue_depth: number;
  rows_per_s: number;
  latency_ms: number;
  progress?: number;
  fuel?: number;
  rtf?: number;
  /** Texts the node reports (a connector's connection state and last error). */
  status?: Record<string, string>;
};
export type RunInfo = {
  id: string;
  graph_id?: string;
  status: RunStatus;
  started_at: string;
  ended_at?: string;
  error?: string;
  metrics?: Record<string, NodeMetrics>;
};

export type Row = Record<string, unknown>;

// Server → client messages (WebSocket /api/ws, Wails event "atoll:event").
export type MetricsEvent = { type: 'metrics'; run: string; nodes: Record<string, NodeMetrics> };
export type RowsEvent = {
  type: 'rows';
  run: string;
  node: string;
  port: string;
  rows: Row[];
  dropped: number;
  t: number;
};
export type LogEvent = { type: 'log'; run: string; node?: string; level: 'info' | 'warn' | 'error'; msg: string; t: number };
export type StatusEvent = { type: 'status'; run: RunInfo };
export type ServerEvent = MetricsEvent | RowsEvent | LogEvent | StatusEvent;

export type RunHandlers = {
  metrics?: (e: MetricsEvent) => void;
  log?: (e: LogEvent) => void;
  status?: (e: StatusEvent) => void;
};

/** An error returned by the service: the message and, for validation, the problems. */
export class APIError extends Error {
  status: number;
  problems: Problem[];
  constructor(message: string, status = 0, problems: Problem[] = []) {
    super(message);
    this.name = 'APIError';
    this.status = status;
    this.problems = problems;
  }
}

// Bundles (app/API.md "Bundles and keys").

/** What an export bundles: a graph version, for some platforms, with or without runners. */
export type ExportRequest = {
  graph_id: string;
  /** 0 or absent: the latest saved version. */
  version?: number;
  platforms: string[];
  include_runners: boolean;
  /** Parameter default values baked into this bundle (override the graph's defaults). */
  params?: Record<string, unknown>;
  sign: boolean;
};
export type BundleEntry = {
  path: string;
  size: number;
  sha256: string;
  /** graph, asset, test, runner, unit or data */
  kind: string;
  /** Where an asset is used (its first use) and where it came from. */
  node?: string;
  field?: string;
  source?: string;
};
/** The bundle's manifest (bundle/BUNDLE.md); the studio shows it before saving. */
export type BundleManifest = {
  format_version: number;
  graph_id: string;
  graph_name?: string;
  graph_version: number;
  atoll_version: string;
  created: string;
  node_types: string[];
  parameters: GraphParam[];
  platforms: string[];
  entries: BundleEntry[];
};
export type ExportPlan = {
  manifest: BundleManifest;
  /** The sum of the entries' sizes (before compression). */
  total_size: number;
  file_name: string;
  /** The signer's public key when signed. */
  signer?: string;
};
export type SavedBundle = {
  file_name: string;
  /** Where the desktop window wrote it (empty in web mode: the browser downloads it). */
  path?: string;
  size: number;
  sha256: string;
  /** The user closed the save dialog. */
  canceled?: boolean;
};
/** A platform the runner is built for, and whether its binary is at hand for bundling. */
export type RunnerPlatform = { platform: string; available: boolean; size?: number; reason?: string };
export type ExportOptions = { platforms: RunnerPlatform[]; atoll_version: string };
/** The studio's signing key (public half). */
export type KeyInfo = { algorithm: string; public_key: string; fingerprint: string; created_at?: string };

/** Stops a subscription or a tap. */
export type Unsubscribe = () => void;

/**
 * One method per API call. The Wails bindings are the same names in PascalCase
 * (`catalog` → `Service.Catalog`), taking the same positional arguments.
 */
export interface Backend extends TestsBackend {
  readonly kind: 'http' | 'wails';
  catalog(): Promise<NodeSpec[]>;

  listGraphs(): Promise<GraphInfo[]>;
  createGraph(name: string, document?: GraphDoc): Promise<GraphInfo>;
  getGraph(id: string): Promise<{ info: GraphInfo; document: GraphDoc }>;
  saveGraph(id: string, document: GraphDoc, message?: string): Promise<VersionInfo>;
  renameGraph(id: string, name: string): Promise<GraphInfo>;
  deleteGraph(id: string): Promise<void>;
  duplicateGraph(id: string, name?: string): Promise<GraphInfo>;

  listVersions(id: string): Promise<VersionInfo[]>;
  getVersion(id: string, version: number): Promise<GraphDoc>;
  diff(id: string, from: number, to: number): Promise<GraphDiff>;
  restoreVersion(id: string, version: number): Promise<VersionInfo>;

  validate(document: GraphDoc): Promise<{ problems: Problem[] }>;
  startRun(document: GraphDoc, graphID?: string): Promise<RunInfo>;
  listRuns(): Promise<RunInfo[]>;
  getRun(id: string): Promise<RunInfo>;
  stopRun(id: string): Promise<RunInfo>;

  listAssets(): Promise<AssetInfo[]>;
  uploadAsset(file: Blob, name: string, kind?: string): Promise<AssetInfo>;
  /** A URL that downloads the asset (a link cannot send headers: it carries what it needs). */
  assetURL(sha256: string): string;

  getSettings(): Promise<Settings>;
  setAllowedDirs(dirs: string[]): Promise<Settings>;

  /** Platforms and which runner binaries the studio can bundle. */
  exportOptions(): Promise<ExportOptions>;
  /** Validates the export and returns its manifest, without writing anything. */
  previewBundle(req: ExportRequest): Promise<ExportPlan>;
  /** Writes the bundle: the browser downloads it (web) or a save dialog asks where (desktop). */
  saveBundle(req: ExportRequest): Promise<SavedBundle>;
  /** The signing key's public half; the key is created on first use. */
  signingKey(): Promise<KeyInfo>;
  /** The key pair as text (PEM), to share the signing key with a team. */
  exportKeyPair(): Promise<string>;
  /** Replaces the signing key with an exported pair; returns the new public half. */
  importKeyPair(pair: string): Promise<KeyInfo>;

  /** Run events: metrics, logs and status changes of one run. */
  subscribe(run: string, handlers: RunHandlers): Unsubscribe;
  /** Rows leaving one node port of a run (an edge's preview is its `from` endpoint). */
  tap(run: string, node: string, port: string, onRows: (e: RowsEvent) => void): Unsubscribe;
}

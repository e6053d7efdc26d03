import type { Backend, GraphDoc, GraphInfo, NodeSpec, Problem, RunInfo, VersionInfo } from '../backend/types';

const schema = (props: Record<string, unknown>, required: string[] = []) => ({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  properties: props,
  additionalProperties: false,
  ...(required.length ? { required } : {}),
});

/** A small catalog: rows and audio port types, so that some connections are refused. */
export const specs: NodeSpec[] = [
  {
    id: 'source.generator', category: 'source', summary: 'rows', docs: '', headless: true,
    inputs: [], outputs: [{ name: 'out', type: 'rows' }],
    config_schema: schema({ count: { type: 'integer', default: 100, minimum: 0 }, rate: { type: 'number', default: 10 } }),
    examples: [],
  },
  {
    id: 'transform.map', category: 'transform', summary: 'map', docs: '', headless: true,
    inputs: [{ name: 'in', type: 'any', required: true }], outputs: [{ name: 'out', type: 'rows' }],
    config_schema: schema({ set: { type: 'object', default: {} } }),
    examples: [],
  },
  {
    id: 'source.wav', category: 'source', summary: 'wav', docs: '', headless: true,
    inputs: [], outputs: [{ name: 'out', type: 'audio' }],
    config_schema: schema({ file: { type: 'string', format: 'asset', 'x-asset-kind': 'wav' } }, ['file']),
    examples: [],
  },
  {
    id: 'audio.resample', category: 'audio', summary: 'resample', docs: '', headless: true,
    inputs: [{ name: 'in', type: 'audio', required: true }], outputs: [{ name: 'out', type: 'audio' }],
    config_schema: schema({ rate: { type: 'integer', default: 16000, minimum: 1 } }),
    examples: [],
  },
  {
    id: 'sink.preview', category: 'sink', summary: 'preview', docs: '', headless: false,
    inputs: [{ name: 'in', type: 'rows', required: true }], outputs: [],
    config_schema: schema({}),
    examples: [],
  },
];

export const info: GraphInfo = { id: 'g1', name: 'test', version: 1, created_at: '', updated_at: '' };

/** A Backend that records calls; unlisted methods reject. */
export function fakeBackend(over: Partial<Backend> = {}): Backend & { saved: GraphDoc[] } {
  const saved: GraphDoc[] = [];
  const no = () => Promise.reject(new Error('not in this test'));
  return {
    kind: 'http',
    saved,
    catalog: () => Promise.resolve(specs),
    listGraphs: () => Promise.resolve([info]),
    createGraph: no,
    getGraph: no,
    saveGraph: (_id: string, d: GraphDoc) => {
      saved.push(d);
      return Promise.resolve({ graph_id: 'g1', version: saved.length + 1, created_at: '', message: '' } as VersionInfo);
    },
    renameGraph: no,
    deleteGraph: no,
    duplicateGraph: no,
    listVersions: () => Promise.resolve([]),
    getVersion: no,
    diff: no,
    restoreVersion: no,
    validate: () => Promise.resolve({ problems: [] as Problem[] }),
    startRun: () => Promise.resolve({ id: 'r1', status: 'running', started_at: '' } as RunInfo),
    listRuns: () => Promise.resolve([]),
    getRun: no,
    stopRun: () => Promise.resolve({ id: 'r1', status: 'stopped', started_at: '' } as RunInfo),
    listAssets: () => Promise.resolve([]),
    uploadAsset: no,
    assetURL: (sha: string) => `api/assets/${sha}`,
    getSettings: () => Promise.resolve({ workspace: '/ws', allowed_dirs: [] }),
    setAllowedDirs: (dirs: string[]) => Promise.resolve({ workspace: '/ws', allowed_dirs: dirs }),
    subscribe: () => () => {},
    tap: () => () => {},
    ...over,
  } as Backend & { saved: GraphDoc[] };
}

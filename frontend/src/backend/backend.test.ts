import { afterEach, describe, expect, it, vi } from 'vitest';
import { HttpBackend } from './http';
import { pickBackend } from './index';
import { APIError, type GraphDoc, type ServerEvent } from './types';
import { WailsBackend, WAILS_EVENT, type WailsService } from './wails';

const doc: GraphDoc = { version: 1, id: 'g', name: 'g', nodes: [], edges: [] };

afterEach(() => {
  vi.unstubAllGlobals();
  delete window.go;
  delete window.runtime;
});

describe('HttpBackend', () => {
  it('calls the API.md routes with JSON bodies', async () => {
    const calls: [string, string, unknown][] = [];
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      calls.push([init.method!, url, init.body ? JSON.parse(String(init.body)) : undefined]);
      return new Response(JSON.stringify({ graph_id: 'g', version: 2 }), { status: 200 });
    });
    const b = new HttpBackend('');
    await b.saveGraph('g/1', doc, 'msg');
    await b.diff('g', 1, 2);
    await b.startRun(doc, 'g');
    expect(calls).toEqual([
      ['PUT', '/api/graphs/g%2F1', { document: doc, message: 'msg' }],
      ['GET', '/api/graphs/g/diff?from=1&to=2', undefined],
      ['POST', '/api/runs', { graph_id: 'g', document: doc }],
    ]);
  });

  it('turns error bodies into APIError with the problems', async () => {
    vi.stubGlobal('fetch', async () =>
      new Response(JSON.stringify({ error: 'graph is invalid', problems: [{ node: 'a', message: 'bad' }] }), { status: 422 }),
    );
    const err = await new HttpBackend('').startRun(doc).catch((e) => e);
    expect(err).toBeInstanceOf(APIError);
    expect(err.message).toBe('graph is invalid');
    expect(err.status).toBe(422);
    expect(err.problems).toEqual([{ node: 'a', message: 'bad' }]);
  });
});

describe('WailsBackend', () => {
  function fakeWails() {
    const calls: string[] = [];
    let emit: (e: unknown) => void = () => {};
    const svc = new Proxy(
      {},
      {
        get: (_t, name: string) =>
          (...args: unknown[]) => {
            calls.push(`${name}(${args.map((a) => JSON.stringify(a)).join(',')})`);
            if (name === 'Validate') return Promise.reject('{"error":"invalid","problems":[{"message":"x"}]}');
            return Promise.resolve(name === 'ListGraphs' ? [] : undefined);
          },
      },
    ) as WailsService;
    const runtime = {
      EventsOn: (name: string, cb: (e: unknown) => void) => {
        expect(name).toBe(WAILS_EVENT);
        emit = cb;
        return () => {};
      },
    };
    return { svc, runtime, calls, emit: (e: ServerEvent) => emit(e) };
  }

  it('is picked when the bindings exist, and maps methods to PascalCase bindings', async () => {
    const w = fakeWails();
    window.go = { app: { Service: w.svc } };
    window.runtime = w.runtime;
    const b = pickBackend();
    expect(b.kind).toBe('wails');
    await b.listGraphs();
    await b.saveGraph('g', doc);
    await b.startRun(doc);
    await b.uploadAsset(new Blob([new Uint8Array([0, 97, 115, 109])]), 'm.wasm', 'wasm');
    expect(w.calls).toEqual([
      'ListGraphs()',
      `SaveGraph("g",${JSON.stringify(doc)},"")`,
      `StartRun(${JSON.stringify(doc)},"")`,
      'UploadAsset("m.wasm","wasm","AGFzbQ==")',
    ]);
    const err = await b.validate(doc).catch((e) => e);
    expect(err).toBeInstanceOf(APIError);
    expect(err.problems).toEqual([{ message: 'x' }]);
  });

  it('subscribes, taps and routes atoll:event events', () => {
    const w = fakeWails();
    const b = new WailsBackend(w.svc, w.runtime);
    const got: string[] = [];
    const off = b.tap('r', 'n', 'out', (e) => got.push(`rows ${e.rows.length}`));
    b.subscribe('r', { status: (e) => got.push(`status ${e.run.status}`) });
    w.emit({ type: 'rows', run: 'r', node: 'n', port: 'out', rows: [{ a: 1 }], dropped: 0, t: 1 });
    w.emit({ type: 'status', run: { id: 'r', status: 'finished', started_at: '' } });
    off();
    w.emit({ type: 'rows', run: 'r', node: 'n', port: 'out', rows: [{ a: 1 }], dropped: 0, t: 1 });
    expect(got).toEqual(['rows 1', 'status finished']);
    expect(w.calls).toEqual(['Tap("r","n","out")', 'Subscribe("r")', 'Untap("r","n","out")']);
  });
});

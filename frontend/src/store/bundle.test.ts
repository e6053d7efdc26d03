import { afterEach, describe, expect, it, vi } from 'vitest';
import { fileName, HttpBackend } from '../backend/http';
import { APIError, type ExportOptions, type GraphDoc } from '../backend/types';
import { WailsBackend, type WailsService } from '../backend/wails';
import { fakeBackend, info, specs } from '../test/fixtures';
import { bundleOverrides, defaultPlatforms, runnerReason } from './bundle';
import { checkParams, formatSize, paramRefs, parseParamValue, undeclaredRefs } from './params';
import { resetStudio, useStudio } from './store';

const st = () => useStudio.getState();

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('parameter values', () => {
  it.each([
    ['integer', '42', { ok: true, value: 42 }],
    ['integer', '-7', { ok: true, value: -7 }],
    ['integer', '4.2', { ok: false, reason: '"4.2" is not an integer' }],
    ['integer', '99999999999999999999', { ok: false, reason: '99999999999999999999 is out of range' }],
    ['number', '0.25', { ok: true, value: 0.25 }],
    ['number', '1e3', { ok: true, value: 1000 }],
    ['number', '0x10', { ok: false, reason: '"0x10" is not a number' }],
    ['number', 'Infinity', { ok: false, reason: '"Infinity" is not a number' }],
    ['boolean', 'true', { ok: true, value: true }],
    ['boolean', 'yes', { ok: false, reason: '"yes" is not true or false' }],
    ['string', ' mqtt://b:1883 ', { ok: true, value: ' mqtt://b:1883 ' }],
    ['string', '', { ok: true, value: undefined }],
    ['duration', '1s', { ok: false, reason: 'unknown type "duration" (want string, integer, number, boolean)' }],
  ])('%s %j', (type, text, want) => {
    expect(parseParamValue(type, text)).toEqual(want);
  });

  it('checks a parameter list, naming each parameter', () => {
    expect(
      checkParams([
        { name: 'threshold', type: 'number', default: 0.5 },
        { name: 'threshold', type: 'number' },
        { name: '', type: 'string' },
        { name: '1x', type: 'string' },
        { name: 'count', type: 'integer', default: 1.5 },
        { name: 'dir', type: 'path' },
      ]),
    ).toEqual([
      'parameter "threshold": declared twice',
      'parameter 3: empty name',
      'parameter "1x": name must be up to 64 letters, digits, _ . - (starting with a letter or _)',
      'parameter "count": default 1.5 is not of type integer',
      'parameter "dir": unknown type "path"',
    ]);
    expect(checkParams([{ name: 'ok_1', type: 'boolean', default: false, doc: 'x' }])).toEqual([]);
  });

  it('finds references in nested config, and the undeclared ones', () => {
    const doc: Pick<GraphDoc, 'nodes'> = {
      nodes: [
        { id: 'src', type: 'source.file', config: { path: '${param:input_dir}/a.jsonl', opts: { list: ['${param:sep}'] } } },
        { id: 'mqtt', type: 'sink.mqtt', config: { url: '${param:broker}', topic: 'x/${param:input_dir}' } },
      ],
    };
    expect([...paramRefs(doc)]).toEqual([
      ['input_dir', ['src', 'mqtt']],
      ['sep', ['src']],
      ['broker', ['mqtt']],
    ]);
    expect(undeclaredRefs(doc, [{ name: 'input_dir', type: 'string' }, { name: 'sep', type: 'string' }])).toEqual(['broker (mqtt)']);
  });

  it('formats sizes', () => {
    expect([formatSize(512), formatSize(3 * 1024 + 512), formatSize(12 << 20)]).toEqual(['512 B', '3.5 KiB', '12.0 MiB']);
  });
});

describe('export choices', () => {
  const opts: ExportOptions = {
    atoll_version: 'dev',
    platforms: [
      { platform: 'linux/amd64', available: true, size: 9 << 20 },
      { platform: 'linux/arm64', available: false, reason: 'dist/atoll-runner-linux-arm64 not found: run `make runner`' },
    ],
  };

  it('starts with the platforms that have a runner, else the first', () => {
    expect(defaultPlatforms(opts)).toEqual(['linux/amd64']);
    expect(defaultPlatforms({ ...opts, platforms: opts.platforms.map((p) => ({ ...p, available: false })) })).toEqual(['linux/amd64']);
    expect(defaultPlatforms({ ...opts, platforms: [] })).toEqual([]);
  });

  it('says why runners cannot be included', () => {
    expect(runnerReason(opts, ['linux/amd64'])).toBe('');
    expect(runnerReason(opts, ['linux/amd64', 'linux/arm64'])).toBe(
      'linux/arm64: dist/atoll-runner-linux-arm64 not found: run `make runner`',
    );
    expect(runnerReason(opts, [])).toBe('choose at least one platform');
    expect(runnerReason(opts, ['plan9/386'])).toBe('plan9/386: unknown platform');
  });

  it('bakes in only edited, typed parameter values', () => {
    const params = [
      { name: 'threshold', type: 'number', default: 0.5 },
      { name: 'device', type: 'string' },
      { name: 'n', type: 'integer', default: 3 },
    ];
    expect(bundleOverrides(params, {})).toEqual({ ok: true, values: {} });
    expect(bundleOverrides(params, { threshold: '0.5', device: 'owl-1', n: '' })).toEqual({ ok: true, values: { device: 'owl-1' } });
    expect(bundleOverrides(params, { threshold: '0.75', n: '4' })).toEqual({ ok: true, values: { threshold: 0.75, n: 4 } });
    expect(bundleOverrides(params, { n: 'four' })).toEqual({ ok: false, reason: 'parameter "n": "four" is not an integer' });
  });

  it('reads the file name of a download', () => {
    expect(fileName('attachment; filename="birds-v3.atoll"')).toBe('birds-v3.atoll');
    expect(fileName("attachment; filename*=utf-8''v%C3%B6gel.atoll")).toBe('vögel.atoll');
    expect(fileName(null)).toBeNull();
  });
});

describe('parameters in the store', () => {
  it('load with the document, make it dirty when edited, and save with it', async () => {
    const b = fakeBackend();
    resetStudio(b);
    st().setCatalog(specs);
    const doc: GraphDoc = {
      version: 1,
      id: 'g1',
      name: 'test',
      parameters: [{ name: 'rate', type: 'number', default: 10, doc: 'rows per second' }],
      nodes: [{ id: 'generator-1', type: 'source.generator', config: { rate: '${param:rate}' }, ui: { x: 0, y: 0 } }],
      edges: [],
    };
    st().loadDoc(info, doc);
    expect(st().params).toEqual(doc.parameters);
    expect(st().dirty()).toBe(false);
    expect(st().doc()).toEqual(doc);

    st().setParams([...st().params, { name: 'device', type: 'string', default: 'owl-1' }]);
    expect(st().dirty()).toBe(true);
    expect(await st().save()).toBe(true);
    expect(b.saved[0].parameters).toEqual([
      { name: 'rate', type: 'number', default: 10, doc: 'rows per second' },
      { name: 'device', type: 'string', default: 'owl-1' },
    ]);
    expect(st().dirty()).toBe(false);

    // A graph without parameters writes none (the document stays as it was).
    st().loadDoc(info, { version: 1, id: 'g1', name: 'test', nodes: [], edges: [] });
    expect(st().params).toEqual([]);
    expect('parameters' in st().doc()).toBe(false);
  });
});

describe('bundle calls on both transports', () => {
  const req = { graph_id: 'g', version: 2, platforms: ['linux/arm64'], include_runners: false, params: { device: 'owl-1' }, sign: true };

  it('HTTP: routes of API.md; the bundle is handed to the browser as a named download', async () => {
    const calls: [string, string, unknown][] = [];
    const bytes = new Uint8Array([0x1f, 0x8b, 8, 0]);
    const auth: string[] = [];
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      calls.push([init.method!, url, init.body ? JSON.parse(String(init.body)) : undefined]);
      auth.push(new Headers(init.headers).get('Authorization') ?? '');
      if (url === '/api/bundles') {
        return new Response(bytes, {
          status: 200,
          headers: { 'Content-Disposition': 'attachment; filename="owl-v2.atoll"', 'X-Atoll-Bundle-SHA256': 'ab'.repeat(32) },
        });
      }
      if (url === '/api/keys/signing/pair') return new Response(JSON.stringify({ pair: 'atoll-ed25519-private x' }), { status: 200 });
      return new Response(JSON.stringify({}), { status: 200 });
    });
    const clicked: string[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push(this.download);
    });
    URL.createObjectURL = () => 'blob:x';
    URL.revokeObjectURL = () => {};
    const b = new HttpBackend('', 'tok');
    await b.exportOptions();
    await b.previewBundle(req);
    const saved = await b.saveBundle(req);
    expect(await b.exportKeyPair()).toBe('atoll-ed25519-private x');
    await b.importKeyPair('atoll-ed25519-private y');
    expect(saved).toEqual({ file_name: 'owl-v2.atoll', size: 4, sha256: 'ab'.repeat(32) });
    expect(clicked).toEqual(['owl-v2.atoll']);
    expect(auth).toEqual(Array(5).fill('Bearer tok'));
    expect(calls).toEqual([
      ['GET', '/api/bundles/options', undefined],
      ['POST', '/api/bundles/preview', req],
      ['POST', '/api/bundles', req],
      ['GET', '/api/keys/signing/pair', undefined],
      ['PUT', '/api/keys/signing', { pair: 'atoll-ed25519-private y' }],
    ]);
  });

  it('HTTP: a refused export is an APIError with the problems, and nothing is downloaded', async () => {
    vi.stubGlobal('fetch', async () =>
      new Response(JSON.stringify({ error: 'invalid graph', problems: [{ node: 'show', message: 'runs only in the studio' }] }), { status: 422 }),
    );
    const err = await new HttpBackend('').saveBundle(req).catch((e) => e);
    expect(err).toBeInstanceOf(APIError);
    expect([err.status, err.problems]).toEqual([422, [{ node: 'show', message: 'runs only in the studio' }]]);
  });

  it('Wails: the same calls as bound methods (the service opens the save dialog)', async () => {
    const calls: string[] = [];
    const svc = new Proxy({}, {
      get: (_t, name: string) => (...args: unknown[]) => {
        calls.push(`${name}(${args.map((a) => JSON.stringify(a)).join(',')})`);
        return Promise.resolve(name === 'SaveBundle' ? { file_name: 'x.atoll', path: '/home/u/x.atoll', size: 1, sha256: '' } : {});
      },
    }) as WailsService;
    const b = new WailsBackend(svc, undefined);
    await b.previewBundle(req);
    expect((await b.saveBundle(req)).path).toBe('/home/u/x.atoll');
    await b.signingKey();
    await b.importKeyPair('p');
    expect(calls).toEqual([`PreviewBundle(${JSON.stringify(req)})`, `SaveBundle(${JSON.stringify(req)})`, 'SigningKey()', 'ImportKeyPair("p")']);
  });
});

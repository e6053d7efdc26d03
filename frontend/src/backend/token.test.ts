import { afterEach, describe, expect, it, vi } from 'vitest';
import { HttpBackend, TOKEN_PROTOCOL_PREFIX, WS_PROTOCOL } from './http';
import { pickBackend } from './index';
import { takeToken, TOKEN_KEY } from './token';

afterEach(() => {
  vi.unstubAllGlobals();
  sessionStorage.clear();
  history.replaceState(null, '', '/');
});

describe('takeToken', () => {
  it('moves the token from the fragment to sessionStorage and strips it from the address', () => {
    history.replaceState(null, '', '/graphs?x=1#token=abc123&view=2');
    expect(takeToken()).toBe('abc123');
    expect(sessionStorage.getItem(TOKEN_KEY)).toBe('abc123');
    expect(location.pathname + location.search + location.hash).toBe('/graphs?x=1#view=2');
    // A reload (no token in the address) keeps it.
    expect(takeToken()).toBe('abc123');
  });

  it('takes ?token= too, and a newer token replaces the kept one', () => {
    sessionStorage.setItem(TOKEN_KEY, 'old');
    history.replaceState(null, '', '/?token=new');
    expect(takeToken()).toBe('new');
    expect(location.search).toBe('');
  });

  it('is empty without a token', () => {
    expect(takeToken()).toBe('');
  });
});

describe('HttpBackend with a token', () => {
  it('sends it on every call, on the WebSocket and in asset links', async () => {
    const headers: (string | null)[] = [];
    vi.stubGlobal('fetch', async (_url: string, init: RequestInit) => {
      headers.push(new Headers(init.headers).get('Authorization'));
      return new Response('[]', { status: 200 });
    });
    const sockets: [string, string[] | undefined][] = [];
    class FakeWS {
      constructor(url: string, protocols?: string[]) {
        sockets.push([url, protocols]);
      }
      send() {}
    }
    vi.stubGlobal('WebSocket', FakeWS);
    const b = new HttpBackend('', 's3cret');
    await b.listGraphs();
    await b.uploadAsset(new Blob([new Uint8Array([1])]), 'x.bin');
    await b.getSettings();
    expect(headers).toEqual(['Bearer s3cret', 'Bearer s3cret', 'Bearer s3cret']);
    b.subscribe('r1', { onMetrics: () => {}, onLog: () => {}, onStatus: () => {} } as never);
    expect(sockets).toHaveLength(1);
    expect(sockets[0][0]).toMatch(/^ws:\/\/.*\/api\/ws$/);
    expect(sockets[0][1]).toEqual([WS_PROTOCOL, TOKEN_PROTOCOL_PREFIX + 's3cret']);
    expect(b.assetURL('ab')).toBe('/api/assets/ab?token=s3cret');
  });

  it('pickBackend uses the token of the address the page was opened with', async () => {
    history.replaceState(null, '', '/#token=t0k');
    let auth: string | null = null;
    vi.stubGlobal('fetch', async (_url: string, init: RequestInit) => {
      auth = new Headers(init.headers).get('Authorization');
      return new Response('[]', { status: 200 });
    });
    await pickBackend().catalog();
    expect(auth).toBe('Bearer t0k');
    expect(location.hash).toBe('');
  });
});

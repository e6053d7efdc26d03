// Shared by the end-to-end tests and the browser benchmarks: start `atoll serve` on a temporary
// database, launch Debian's headless Chromium, and stop both at the end.
//
// The studio's API needs the per-start token that `atoll serve` prints (app/API.md "Access").
// Tests get it for free: fetch() from this process to a started server carries it (unless the
// request sets its own Authorization), and pages of a launched browser find it in
// sessionStorage, where the studio keeps it after opening `…/#token=…` (so page.goto(url), any
// path, works), and a test's own fetch() inside a page (page.evaluate) to /api/ carries it. `server.openURL` is the printed address with the token; `fetchWithoutToken` and
// `launchBrowser({ token: false })` are for tests of the token itself.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const frontendDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const artifactsDir = resolve(frontendDir, '..', 'artifacts', 'e2e');

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** The sessionStorage key where the studio keeps its token (frontend/src/backend/token.ts). */
export const TOKEN_KEY = 'atoll.token';

/** Started servers ({ origin, token }) and launched browser contexts that get their tokens. */
const servers = [];
const seeded = new Set();

/**
 * Puts server's token into the sessionStorage of every page of context on its origin, and makes
 * a test's own fetch() from the page (page.evaluate) to the studio's /api/ send it, as the
 * studio's backend does. (A context launched with token: false gets neither: the token test
 * checks the page on its own.)
 */
async function seedToken(context, server) {
  await context.addInitScript(
    ({ origin, token, key }) => {
      if (location.origin !== origin) return;
      if (!sessionStorage.getItem(key)) sessionStorage.setItem(key, token);
      const fetch0 = window.fetch.bind(window);
      window.fetch = (input, init = {}) => {
        const u = new URL(input instanceof Request ? input.url : String(input), location.href);
        const t = sessionStorage.getItem(key);
        if (!t || u.origin !== location.origin || !u.pathname.startsWith('/api/')) return fetch0(input, init);
        const headers = new Headers(input instanceof Request ? input.headers : undefined);
        for (const [k, v] of new Headers(init.headers)) headers.set(k, v);
        if (!headers.has('authorization')) headers.set('authorization', `Bearer ${t}`);
        return fetch0(input, { ...init, headers });
      };
    },
    { origin: server.origin, token: server.token, key: TOKEN_KEY },
  );
}

const nativeFetch = globalThis.fetch;

/** fetch as it is, without the token: for tests that check a request without it is refused. */
export const fetchWithoutToken = (input, init) => nativeFetch(input, init);

/** The token of the started server that serves url ('' when none). */
export function tokenFor(url) {
  const origin = new URL(String(url)).origin;
  return servers.find((s) => s.origin === origin)?.token ?? '';
}

// fetch() to a started server sends its token.
globalThis.fetch = (input, init = {}) => {
  const token = tokenFor(input instanceof Request ? input.url : input);
  if (!token) return nativeFetch(input, init);
  const headers = new Headers(input instanceof Request ? input.headers : undefined);
  for (const [k, v] of new Headers(init.headers)) headers.set(k, v);
  if (!headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
  return nativeFetch(input, { ...init, headers });
};

/** Fails with a clear message when something the run needs is missing. */
export function need(cond, msg) {
  if (!cond) {
    console.error(`e2e: ${msg}`);
    process.exit(2);
  }
}

/**
 * Starts the studio server: the real binary (ATOLL_BIN, default ../bin/atoll) or, with
 * ATOLL_MOCK=1, the in-memory mock. Resolves { url, stop, output, token, openURL }: url is the
 * served address ("http://127.0.0.1:PORT/"), openURL the one with "#token=" that it printed.
 */
export async function startServer() {
  const tmp = mkdtempSync(join(tmpdir(), 'atoll-e2e-'));
  let cmd;
  let args;
  if (process.env.ATOLL_MOCK === '1') {
    cmd = process.execPath;
    args = [join(frontendDir, 'e2e', 'mock-server.mjs'), '--addr', '127.0.0.1:0'];
  } else {
    const bin = resolve(frontendDir, process.env.ATOLL_BIN ?? '../bin/atoll');
    need(existsSync(bin), `atoll binary not found at ${bin}: build it with \`make bin/atoll\` from the repository root, or set ATOLL_BIN`);
    cmd = bin;
    args = ['serve', '--addr', '127.0.0.1:0', '--db', join(tmp, 'atoll.db')];
  }
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
  let out = '';
  const [url, openURL] = await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${cmd} did not print "atoll: serving http://..." and "atoll: open http://...#token=..." within 20 s; output:\n${out}`)), 20000);
    const onData = (d) => {
      out += d.toString();
      const m = /atoll: serving (http:\/\/[^\s]+)/.exec(out);
      const o = /atoll: open (http:\/\/[^\s#]+)#token=([^\s&]+)/.exec(out);
      if (m && o) {
        clearTimeout(timer);
        res([m[1].endsWith('/') ? m[1] : m[1] + '/', `${o[1]}#token=${o[2]}`]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => {
      out += d.toString();
      if (process.env.E2E_VERBOSE) process.stderr.write(d);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`${cmd} exited with ${code} before serving; output:\n${out}`));
    });
  });
  const token = openURL.split('#token=')[1];
  const entry = { origin: new URL(url).origin, token };
  servers.push(entry);
  for (const context of seeded) await seedToken(context, entry);
  child.removeAllListeners('exit');
  // Never leave the server behind, even when this process is killed or fails.
  const killChild = () => child.exitCode === null && child.kill('SIGKILL');
  process.on('exit', killChild);
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => (killChild(), process.exit(130)));
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          r();
        }, 5000);
        child.on('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
    rmSync(tmp, { recursive: true, force: true });
    servers.splice(servers.indexOf(entry), 1);
  };
  return { url, stop, output: () => out, token, openURL };
}

/**
 * Launches headless Chromium with a fresh profile; never downloads a browser. Resolves
 * { context, close }. Its pages get the token of every started server (token: false: none, as a
 * browser that was never given the address with the token).
 */
export async function launchBrowser({ viewport = { width: 1440, height: 900 }, token = true } = {}) {
  need(existsSync(CHROMIUM), `chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM)`);
  const profile = mkdtempSync(join(tmpdir(), 'atoll-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  if (token) {
    for (const s of servers) await seedToken(context, s);
    seeded.add(context);
  }
  const close = async () => {
    seeded.delete(context);
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

export function ensureArtifacts() {
  mkdirSync(artifactsDir, { recursive: true });
  return artifactsDir;
}

/** The node types the scenarios and benchmarks use, looked up in the catalog (first name present wins). */
export function pickTypes(catalog) {
  const ids = new Set(catalog.map((s) => s.id));
  const first = (...names) => names.find((n) => ids.has(n));
  const gen = first('gen.generator', 'source.generator');
  const map = first('fn.map', 'transform.map');
  const sink = first('sink.preview', 'sink.discard');
  const discard = first('sink.discard', 'sink.preview');
  if (!gen || !map || !sink) throw new Error(`catalog lacks a generator, a map or a sink: ${[...ids].join(', ')}`);
  return { gen, map, sink, discard, spec: (id) => catalog.find((s) => s.id === id) };
}

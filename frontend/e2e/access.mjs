// End-to-end checks of the studio's local access rules (app/API.md "Access"): the per-start
// token, the headers that keep the page out of frames, and the Settings list of directories that
// graphs may use. Run by run.mjs with the other scenarios.
import { fetchWithoutToken, launchBrowser, TOKEN_KEY, tokenFor } from './lib.mjs';

const T = 15000;

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

export const accessScenarios = {
  async 'token: the page keeps it, requests without it are refused'({ url }) {
    const token = tokenFor(url);
    assert(/^[0-9a-f]{32,}$/.test(token), `no token for ${url}: ${token}`);
    const openURL = `${url}#token=${token}`;

    // Without the token (or with a wrong one) the API refuses; the page itself loads.
    for (const headers of [{}, { Authorization: 'Bearer wrong' }]) {
      const r = await fetchWithoutToken(new URL('api/graphs', url), { headers });
      assert(r.status === 401, `GET /api/graphs with ${JSON.stringify(headers)}: ${r.status}, want 401`);
    }
    const page0 = await fetchWithoutToken(url);
    assert(page0.status === 200, `the page without the token: ${page0.status}`);
    assert(page0.headers.get('x-frame-options') === 'DENY', `X-Frame-Options: ${page0.headers.get('x-frame-options')}`);
    assert(/frame-ancestors 'none'/.test(page0.headers.get('content-security-policy') ?? ''), 'no CSP frame-ancestors');

    // A browser that was never given the address with the token.
    const { context, close } = await launchBrowser({ token: false });
    try {
      const blind = await context.newPage();
      await blind.goto(url);
      await blind.getByTestId('toast-error').filter({ hasText: 'token is required' }).first().waitFor({ timeout: T });
      const n = await blind.evaluate(() => window.__atoll.getState().catalog.length);
      assert(n === 0, `the studio loaded ${n} node types without the token`);
      await blind.close();

      // Opened with the printed address: the token moves to sessionStorage and out of the
      // address bar, and the studio works, across a reload.
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      await page.goto(openURL);
      await page.getByTestId('palette').waitFor({ timeout: T });
      await page.waitForFunction(() => window.__atoll?.getState().catalog.length > 0, null, { timeout: T });
      assert(!page.url().includes(token), `the address bar still shows the token: ${page.url()}`);
      const kept = await page.evaluate((k) => sessionStorage.getItem(k), TOKEN_KEY);
      assert(kept === token, `sessionStorage keeps ${kept}`);
      await page.reload();
      await page.waitForFunction(() => window.__atoll?.getState().catalog.length > 0, null, { timeout: T });

      // The WebSocket: refused without the token, open with it (and the CSP allows it).
      const ws = await page.evaluate(async (token) => {
        const u = location.origin.replace(/^http/, 'ws') + '/api/ws';
        const attempt = (protocols) =>
          new Promise((res) => {
            const s = protocols ? new WebSocket(u, protocols) : new WebSocket(u);
            s.onopen = () => (res(`open ${s.protocol}`), s.close());
            s.onerror = () => res('refused');
          });
        return [await attempt(null), await attempt(['atoll.v1', `atoll.token.${token}`])];
      }, token);
      assert(ws[0] === 'refused' && ws[1] === 'open atoll.v1', `websocket without / with the token: ${ws}`);

      // Settings: the workspace and the directories graphs may use; a relative one is refused.
      await page.getByTestId('tab-settings').click();
      const wsDir = await page.getByTestId('settings-workspace').textContent({ timeout: T });
      assert(wsDir && wsDir.startsWith('/'), `workspace shown: ${wsDir}`);
      await page.getByTestId('allowed-dir-input').fill('relative/dir');
      await page.getByTestId('allowed-dir-add').click();
      await page.getByTestId('toast-error').filter({ hasText: 'absolute' }).first().waitFor({ timeout: T });
      await page.getByTestId('allowed-dir-input').fill('/tmp');
      await page.getByTestId('allowed-dir-add').click();
      await page.getByTestId('allowed-dir-0').filter({ hasText: '/tmp' }).waitFor({ timeout: T });

      // A graph that reads /etc/passwd is refused at validation, on its field, naming the rule.
      const probs = await page.evaluate(async () => {
        const doc = {
          version: 1, id: '', name: 'snoop',
          nodes: [
            { id: 'src', type: 'source.file', config: { path: '/etc/passwd' } },
            { id: 'out', type: 'sink.discard', config: {} },
          ],
          edges: [{ from: { node: 'src', port: 'out' }, to: { node: 'out', port: 'in' } }],
        };
        return (await window.__atoll.getState().backend.validate(doc)).problems;
      });
      assert(
        probs.length === 1 && probs[0].node === 'src' && probs[0].field === '/path' && /outside the workspace/.test(probs[0].message),
        `problems of a graph reading /etc/passwd: ${JSON.stringify(probs)}`,
      );
      await page.getByTestId('allowed-dir-remove-0').click();
      await page.getByTestId('allowed-dir-0').waitFor({ state: 'detached', timeout: T });
      const csp = errors.filter((e) => /Content Security Policy|Refused to/.test(e));
      assert(csp.length === 0, `CSP violations: ${csp.join(' | ')}`);

      // Another page cannot frame the studio.
      const framer = await context.newPage();
      await framer.setContent(`<iframe id="f" src="${url}" width="800" height="600"></iframe>`);
      await framer.waitForTimeout(1500);
      const inner = framer.frames().find((f) => f !== framer.mainFrame());
      const framed = inner ? await inner.locator('[data-testid="palette"]').count().catch(() => 0) : 0;
      assert(framed === 0, 'the studio rendered inside another page\'s frame');
    } finally {
      await close();
    }
  },
};

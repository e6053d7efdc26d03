// End-to-end scenarios of bundles in the studio: the parameters editor (edit, save, reload) and the
// export dialog (manifest shown, then the .atoll file saved), the saved file checked by
// `atoll-runner verify` and `inspect` trusting the public key the Keys view shows. Registered in
// run.mjs; the runner binary is ATOLL_RUNNER_BIN (default ../bin/atoll-runner, `make bin/atoll-runner`).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { artifactsDir, frontendDir, TOKEN_KEY } from './lib.mjs';

const T = 15000;

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function runnerBin() {
  const bin = resolve(frontendDir, process.env.ATOLL_RUNNER_BIN ?? '../bin/atoll-runner');
  assert(existsSync(bin), `atoll-runner not found at ${bin}: build it with \`make bin/atoll-runner\`, or set ATOLL_RUNNER_BIN`);
  return bin;
}

async function open(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(url);
  await page.getByTestId('palette').waitFor({ timeout: T });
  await page.waitForFunction(() => window.__atoll?.getState().catalog.length > 0, null, { timeout: T });
  return { page, errors };
}

/** Calls the studio API from the page, with the token the studio keeps in the page's session. */
function api(page, method, path, body) {
  return page.evaluate(
    async ([method, path, body, key]) => {
      const headers = { Authorization: `Bearer ${sessionStorage.getItem(key)}` };
      if (body) headers['Content-Type'] = 'application/json';
      const res = await fetch(path, {
        method,
        headers,
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return text ? JSON.parse(text) : null;
    },
    [method, path, body, TOKEN_KEY],
  );
}

/** Opens a graph from the list and waits until the store has it. */
async function openGraph(page, id) {
  await page.evaluate(() => window.__atoll.getState().refreshGraphs());
  await page.getByTestId(`graph-${id}`).locator('.graph-name').click();
  await page.waitForFunction((id) => window.__atoll.getState().info?.id === id, id, { timeout: T });
}

// A generator writing rows to a file whose directory and row count are to become parameters.
const paramsDoc = (genType) => ({
  version: 1,
  id: '',
  name: `e2e params ${Date.now()}`,
  nodes: [
    { id: 'gen', type: genType, config: { count: 10, rate: 0 }, ui: { x: 40, y: 80 } },
    { id: 'file', type: 'sink.file', config: { format: 'jsonl', path: '${param:out_dir}/rows.jsonl' }, ui: { x: 360, y: 80 } },
  ],
  edges: [{ from: { node: 'gen', port: 'out' }, to: { node: 'file', port: 'in' } }],
});

export const exportScenarios = {
  async 'parameters edited, saved and reloaded'({ context, url, types }) {
    const { page, errors } = await open(context, url);
    const info = await api(page, 'POST', 'api/graphs', { name: '', document: paramsDoc(types.gen) });
    await openGraph(page, info.id);
    await page.getByTestId('tab-params').click();
    // The sink refers to a parameter the graph does not declare yet: the editor says so.
    await page.getByTestId('param-undeclared').filter({ hasText: 'out_dir (file)' }).waitFor({ timeout: T });

    await page.getByTestId('param-add').click();
    await page.getByTestId('param-name-0').fill('out_dir');
    await page.getByTestId('param-default-0').fill('out');
    await page.getByTestId('param-doc-0').fill('where the rows go');
    await page.getByTestId('param-add').click();
    await page.getByTestId('param-name-1').fill('rows');
    await page.getByTestId('param-type-1').selectOption('integer');
    // A default that is not of the type is refused where it is typed, and not kept.
    await page.getByTestId('param-default-1').fill('ten');
    await page.getByText('"ten" is not an integer').waitFor({ timeout: T });
    await page.getByTestId('param-default-1').fill('10');
    await page.getByTestId('param-undeclared').waitFor({ state: 'detached', timeout: T });
    await page.screenshot({ path: join(artifactsDir, '20-params-edited.png') });

    await page.locator('.react-flow__pane').click({ position: { x: 20, y: 20 } });
    await page.keyboard.press('Control+s');
    await page.getByTestId('toast-ok').filter({ hasText: 'saved version 2' }).waitFor({ timeout: T });
    const saved = await api(page, 'GET', `api/graphs/${info.id}`);
    const want = [
      { name: 'out_dir', type: 'string', default: 'out', doc: 'where the rows go' },
      { name: 'rows', type: 'integer', default: 10 },
    ];
    assert(
      JSON.stringify(saved.document.parameters) === JSON.stringify(want),
      `saved parameters ${JSON.stringify(saved.document.parameters)}, want ${JSON.stringify(want)}`,
    );

    // After a reload the editor shows what was saved, and the graph is not dirty.
    await page.reload();
    await page.waitForFunction((id) => window.__atoll?.getState().info?.id === id, info.id, { timeout: T });
    await page.getByTestId('tab-params').click();
    await page.getByTestId('param-name-1').waitFor({ timeout: T });
    const shown = await page.evaluate(() =>
      [0, 1].map((i) => [
        document.querySelector(`[data-testid=param-name-${i}]`)?.value,
        document.querySelector(`[data-testid=param-type-${i}]`)?.value,
        document.querySelector(`[data-testid=param-default-${i}]`)?.value,
      ]),
    );
    assert(
      JSON.stringify(shown) === JSON.stringify([['out_dir', 'string', 'out'], ['rows', 'integer', '10']]),
      `after reload the editor shows ${JSON.stringify(shown)}`,
    );
    assert(!(await page.evaluate(() => window.__atoll.getState().dirty())), 'the reloaded graph is dirty');
    assert(errors.length === 0, `page errors: ${errors.join(' | ')}`);
    await page.close();
  },

  async 'export dialog: manifest, then the bundle saved and verified'({ context, url, types }) {
    const runner = runnerBin();
    const { page, errors } = await open(context, url);
    // The moment example: a Wasm module becomes a bundle entry. Give it a parameter too.
    const graphs = await api(page, 'GET', 'api/graphs');
    const moment = graphs.find((g) => g.name === 'Generator → moment.wasm → file');
    assert(moment, `no seeded moment example among ${graphs.map((g) => g.name).join(', ')}`);
    const { document: doc } = await api(page, 'GET', `api/graphs/${moment.id}`);
    doc.parameters = [{ name: 'device', type: 'string', default: 'bench', doc: 'device name' }];
    doc.nodes.find((n) => n.type === 'sink.file').config.path = 'out/${param:device}.jsonl';
    const v = await api(page, 'PUT', `api/graphs/${moment.id}`, { document: doc, message: 'e2e: a device parameter' });
    await openGraph(page, moment.id);

    await page.getByTestId('export-bundle').click();
    await page.getByTestId('export-dialog').waitFor({ timeout: T });
    await page.getByTestId('manifest').waitFor({ timeout: T });
    const entries = await page.getByTestId('manifest-entry').allInnerTexts();
    assert(entries.some((e) => e.includes('graph.json')), `no graph.json among the entries: ${entries.join(' | ')}`);
    assert(entries.some((e) => /assets\/[0-9a-f]{64}\.wasm/.test(e)), `no Wasm module among the entries: ${entries.join(' | ')}`);
    const total = await page.getByTestId('manifest-total').innerText();
    assert(/\d+(\.\d)? (B|KiB|MiB)/.test(total), `total "${total}"`);

    // Runner binaries: offered only when `make runner` built them, else disabled with the reason.
    const runnersOff = await page.getByTestId('include-runners').isDisabled();
    if (runnersOff) {
      const reason = await page.getByTestId('runners-reason').innerText();
      assert(reason.includes('make runner') || reason.includes('runner directory'), `runners disabled without a reason: "${reason}"`);
    }

    // This bundle's default for the parameter.
    await page.getByTestId('export-param-device').fill('owl-7');
    await page.waitForFunction(
      () => document.querySelector('[data-testid=manifest]') && !document.querySelector('[data-testid=export-problem]'),
      null,
      { timeout: T },
    );

    // The public key the Keys view shows (and copies) is the one the runner is given to trust.
    await page.locator('.export-keys summary').click();
    const pub = (await page.getByTestId('public-key').innerText()).trim();
    assert(pub.startsWith('atoll-ed25519 '), `public key "${pub}"`);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(url).origin });
    await page.getByTestId('copy-public-key').click();
    await page.getByTestId('toast-ok').filter({ hasText: 'public key copied' }).waitFor({ timeout: T });
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert(copied === pub, `clipboard holds "${copied}", the view shows "${pub}"`);
    await page.screenshot({ path: join(artifactsDir, '21-export-dialog.png') });

    const [download] = await Promise.all([page.waitForEvent('download', { timeout: T }), page.getByTestId('export-save').click()]);
    const dir = mkdtempSync(join(tmpdir(), 'atoll-e2e-bundle-'));
    try {
      const name = download.suggestedFilename();
      assert(name.endsWith(`-v${v.version}.atoll`), `downloaded "${name}", want …-v${v.version}.atoll`);
      const file = join(dir, name);
      await download.saveAs(file);
      assert(statSync(file).size > 0, 'the download is empty');
      await page.getByTestId('export-saved').waitFor({ timeout: T });
      const trust = join(dir, 'studio.pub');
      writeFileSync(trust, pub + '\n');
      const verified = execFileSync(runner, ['verify', '--trust', trust, file], { encoding: 'utf8' });
      assert(verified.includes('ok, signed by trusted key'), `verify: ${verified}`);
      const inspected = JSON.parse(execFileSync(runner, ['inspect', '--json', '--trust', trust, file], { encoding: 'utf8' }));
      const m = inspected.manifest;
      assert(m.graph_id === moment.id && m.graph_version === v.version, `bundle of ${m.graph_id} v${m.graph_version}`);
      const device = (m.parameters ?? []).find((p) => p.name === 'device');
      assert(device?.default === 'owl-7', `the bundle's device parameter: ${JSON.stringify(device)}`);
      // What the dialog showed is what was saved.
      const shown = (await page.getByTestId('manifest-entry').allInnerTexts()).map((t) => t.split(/\s/)[0]).sort();
      const inBundle = m.entries.map((e) => e.path).sort();
      assert(JSON.stringify(shown) === JSON.stringify(inBundle), `dialog showed ${shown.join(', ')}; bundle holds ${inBundle.join(', ')}`);
      // A runner trusting another key refuses it.
      writeFileSync(trust, 'atoll-ed25519 ' + Buffer.alloc(32, 7).toString('base64') + '\n');
      let refused = '';
      try {
        execFileSync(runner, ['verify', '--trust', trust, file], { encoding: 'utf8', stdio: 'pipe' });
      } catch (err) {
        refused = String(err.stderr);
      }
      assert(refused.includes('refused'), `an untrusted signer was not refused: "${refused}"`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await page.getByTestId('export-close').click();
    await page.getByTestId('export-dialog').waitFor({ state: 'detached', timeout: T });
    assert(errors.length === 0, `page errors: ${errors.join(' | ')}`);
    await page.close();
  },
};

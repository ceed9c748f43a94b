#!/usr/bin/env node
// Browser end-to-end test of the vllm-sr dashboard.
//
//   VLLM_SR_BIN=target/debug/vllm-sr node dashboard/e2e/run.mjs
//
// Env: VLLM_SR_BIN (the binary; default <repo>/target/debug/vllm-sr or $CARGO_TARGET_DIR/debug),
// VSR_SHARED (shared fixtures; default <repo>/../shared), VSR_E2E_ARTIFACTS (screenshots and
// logs; default $CARGO_TARGET_DIR/dashboard-e2e or <repo>/target/dashboard-e2e),
// VSR_REQUIRE_FIXTURES=1 (fail instead of skipping when the reference fixture is missing),
// CHROMIUM (browser executable; default /usr/bin/chromium), VSR_E2E_TIMEOUT_S (overall limit,
// default 360).
//
// Starts a simulated backend, a fixture HTTP server and `vllm-sr serve` in setup mode, then walks
// the dashboard in headless Chromium: first admin, setup wizard, playground, Insights, record,
// builder (diagnostics, preview, deploy, roll back), calibration, topology, probes, status,
// users, and a read-only user. Any console error, page error or 5xx from the dashboard fails the
// run. Every process started here is stopped at the end, also on failure.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const TARGET = process.env.CARGO_TARGET_DIR || path.join(REPO, 'target');
const BIN = process.env.VLLM_SR_BIN || path.join(TARGET, 'debug', 'vllm-sr');
const SHARED = process.env.VSR_SHARED || path.resolve(REPO, '..', 'shared');
const ARTIFACTS = path.resolve(process.env.VSR_E2E_ARTIFACTS || path.join(TARGET, 'dashboard-e2e'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OVERALL_S = Number(process.env.VSR_E2E_TIMEOUT_S || 360);
const FIXTURE = path.join(SHARED, 'reference', 'upstream-amd-2026-03', 'balance.yaml');

const PROMPT = 'Prove that the square root of 2 is irrational, step by step.';
const ADMIN = { username: 'admin', password: 'e2e-admin-password' };
const READER = { username: 'viewer', password: 'e2e-viewer-password' };

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

function check(cond, message) {
  if (!cond) throw new Error(message);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws `what` after `ms`. */
async function until(what, fn, ms = 20000, every = 100) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(every);
  }
}

const children = [];
const tempDirs = [];
let browserContext = null;
let fixtureServer = null;
let cleaned = false;

/** Starts a child process; its output goes to <artifacts>/<name>.log (and is kept in memory). */
function start(name, args, env = {}) {
  const log = fs.createWriteStream(path.join(ARTIFACTS, `${name}.log`));
  // From the repository root, like `vllm-sr` run there (./models is the default models dir).
  const child = spawn(BIN, args, { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = { name, child, out: '', exited: null };
  child.stdout.on('data', (d) => {
    proc.out += d.toString();
    log.write(d);
  });
  child.stderr.on('data', (d) => log.write(d));
  child.on('exit', (code, signal) => {
    proc.exited = { code, signal };
    log.end();
  });
  child.on('error', (e) => {
    proc.exited = { code: null, signal: null, error: e };
  });
  children.push(proc);
  return proc;
}

async function stop(proc) {
  const { child } = proc;
  if (proc.exited || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = await Promise.race([gone.then(() => 'exited'), sleep(5000).then(() => 'timeout')]);
  if (t === 'timeout') {
    child.kill('SIGKILL');
    await Promise.race([gone, sleep(2000)]);
  }
}

async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  if (browserContext) await Promise.race([browserContext.close().catch(() => undefined), sleep(10000)]);
  if (fixtureServer) {
    fixtureServer.closeAllConnections?.();
    await Promise.race([new Promise((r) => fixtureServer.close(r)), sleep(2000)]);
  }
  for (const p of [...children].reverse()) await stop(p);
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
}

function makeTemp(prefix) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

// ---------------------------------------------------------------------------------------------
// Step runner
// ---------------------------------------------------------------------------------------------

const results = [];
let currentPage = null;
let shotCount = 0;
const shots = [];

/**
 * Every visible control has an accessible name (a label, aria-label(ledby), title or text) and
 * can take keyboard focus: checked on each page before its screenshot.
 */
async function checkControls(page, name) {
  const unnamed = await page.evaluate(() => {
    const bad = [];
    for (const el of document.querySelectorAll('input, select, textarea, button, a[href], [role="button"], [contenteditable="true"]')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (el.type === 'hidden') continue;
      const labelled =
        (el.labels && el.labels.length > 0) ||
        el.getAttribute('aria-label') ||
        el.getAttribute('aria-labelledby') ||
        el.getAttribute('title') ||
        ((el.tagName === 'BUTTON' || el.tagName === 'A' || el.getAttribute('role') === 'button') && el.textContent.trim());
      // Tabs use a roving tabindex (arrow keys move between them), so only the selected one is
      // in the tab order.
      const focusable = el.tabIndex >= 0 || el.isContentEditable || el.getAttribute('role') === 'tab';
      if (!labelled || !focusable) bad.push(`${el.tagName.toLowerCase()}${el.dataset.testid ? `[${el.dataset.testid}]` : ''}${!labelled ? ' unlabelled' : ''}${!focusable ? ' not focusable' : ''}`);
    }
    return bad;
  });
  if (unnamed.length) throw new Error(`${name}: controls without a name or focus: ${unnamed.slice(0, 10).join(', ')}`);
}

async function shot(page, name) {
  await checkControls(page, name);
  const file = `${String(++shotCount).padStart(2, '0')}-${name}.png`;
  await page.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true });
  shots.push(file);
  return file;
}

async function step(name, fn) {
  const t0 = Date.now();
  try {
    const note = await fn();
    const ms = Date.now() - t0;
    results.push({ name, ok: true, ms, note });
    console.log(`PASS  ${name} (${(ms / 1000).toFixed(1)} s)${note ? ` — ${note}` : ''}`);
  } catch (e) {
    const ms = Date.now() - t0;
    results.push({ name, ok: false, ms, note: e.message });
    console.log(`FAIL  ${name} (${(ms / 1000).toFixed(1)} s) — ${e.stack || e.message}`);
    if (currentPage) {
      try {
        const file = `FAILED-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`;
        await currentPage.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true, timeout: 10000 });
        console.log(`      screenshot: ${path.join(ARTIFACTS, file)}`);
      } catch {
        /* the page may be gone */
      }
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Browser-side observers: console errors, page errors, 5xx answers
// ---------------------------------------------------------------------------------------------

const problems = [];
// Requests a step provokes on purpose (a 413 import, ...): Chromium logs every non-2xx resource
// as a console error, which is expected for these and only for these.
const expectedHttpErrors = [];
let origin = '';

function expectHttpError(urlPart, status) {
  const e = { urlPart, status, seen: 0 };
  expectedHttpErrors.push(e);
  return () => {
    const i = expectedHttpErrors.indexOf(e);
    if (i >= 0) expectedHttpErrors.splice(i, 1);
    return e.seen;
  };
}

function watch(page) {
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    const url = msg.location()?.url ?? '';
    const m = /Failed to load resource: the server responded with a status of (\d+)/.exec(text);
    if (m) {
      const status = Number(m[1]);
      const hit = expectedHttpErrors.find((e) => e.status === status && url.includes(e.urlPart));
      if (hit) {
        hit.seen++;
        return;
      }
    }
    problems.push(`console error on ${page.url()}: ${text}${url ? ` (${url})` : ''}`);
  });
  page.on('pageerror', (err) => problems.push(`page error on ${page.url()}: ${err.stack || err.message}`));
  page.on('response', (res) => {
    if (origin && res.url().startsWith(origin) && res.status() >= 500) {
      problems.push(`HTTP ${res.status()} from ${res.request().method()} ${res.url()}`);
    }
  });
  page.on('dialog', (d) => void d.accept());
}

// ---------------------------------------------------------------------------------------------
// Locator helpers
// ---------------------------------------------------------------------------------------------

const tid = (page, id) => page.getByTestId(id);
const last = (page, id) => page.getByTestId(id).last();

/** The rendered text (innerText: block boundaries become spaces), whitespace collapsed. */
async function text(loc) {
  return ((await loc.innerText()) ?? '').replace(/\s+/g, ' ').trim();
}

async function textUntil(what, loc, pred, ms = 20000) {
  let seen = '';
  try {
    return await until(
      what,
      async () => {
        seen = await text(loc);
        return pred(seen) ? seen : null;
      },
      ms,
    );
  } catch (e) {
    throw new Error(`${e.message} (last text: ${JSON.stringify(seen.slice(0, 300))})`);
  }
}

/** An `<dd>` following the `<dt>` with `label` inside `scope`. */
async function ddAfter(scope, label) {
  return scope.locator(`xpath=.//dt[normalize-space(.)="${label}"]/following-sibling::dd[1]`).first();
}

/** The cursor's column in the focused CodeMirror line (from the DOM selection CodeMirror keeps in sync). */
async function cursorColumn(page) {
  return page.evaluate(() => {
    const sel = window.getSelection();
    if (!sel || !sel.focusNode) return -1;
    const el = sel.focusNode.nodeType === 1 ? sel.focusNode : sel.focusNode.parentElement;
    const line = el?.closest('.cm-line');
    if (!line) return -1;
    const r = document.createRange();
    r.setStart(line, 0);
    r.setEnd(sel.focusNode, sel.focusOffset);
    return r.toString().replace(/\u200b/g, '').length;
  });
}

/** Moves the cursor within its line to `col` with the arrow keys. */
async function moveToColumn(page, col) {
  for (let tries = 0; tries < 3; tries++) {
    const at = await cursorColumn(page);
    check(at >= 0, 'the cursor is not in a CodeMirror line');
    if (at === col) return;
    const key = at < col ? 'ArrowRight' : 'ArrowLeft';
    for (let i = 0; i < Math.abs(col - at); i++) await page.keyboard.press(key);
  }
  check((await cursorColumn(page)) === col, `could not move the cursor to column ${col}`);
}

const isDash = (s) => s === '' || s === '–' || s === '-';

async function apiJson(page, method, url, body) {
  const state = await (await page.request.get(`${origin}/api/auth/state`)).json();
  const headers = { 'content-type': 'application/json' };
  if (state.csrf) headers['x-csrf-token'] = state.csrf;
  const res = await page.request.fetch(`${origin}${url}`, {
    method,
    headers,
    data: body === undefined ? undefined : JSON.stringify(body),
  });
  let json = null;
  try {
    json = await res.json();
  } catch {
    /* no body */
  }
  return { status: res.status(), json };
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

function hugeYaml() {
  const lines = ['# A valid YAML document over 1 MiB: the import must refuse it by size.', 'items:'];
  const filler = 'x'.repeat(100);
  let size = 0;
  for (let i = 0; size < 1.5 * 1024 * 1024; i++) {
    const l = `  - name: item_${i}\n    value: "${filler}"`;
    lines.push(l);
    size += l.length + 1;
  }
  return lines.join('\n') + '\n';
}

function startFixtureServer(balance) {
  const huge = hugeYaml();
  const server = http.createServer((req, res) => {
    const body = req.url === '/balance.yaml' ? balance : req.url === '/huge.yaml' ? huge : null;
    if (body === null) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/yaml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

async function main() {
  const t0 = Date.now();
  if (!fs.existsSync(FIXTURE)) {
    const msg = `reference fixture missing: ${FIXTURE}`;
    if (process.env.VSR_REQUIRE_FIXTURES === '1') {
      console.error(`dashboard e2e: ${msg} (VSR_REQUIRE_FIXTURES=1)`);
      return 1;
    }
    console.log(`dashboard e2e: skipped — ${msg}`);
    return 0;
  }
  check(fs.existsSync(BIN), `vllm-sr binary not found at ${BIN} (set VLLM_SR_BIN)`);
  check(fs.existsSync(CHROMIUM), `chromium not found at ${CHROMIUM} (set CHROMIUM)`);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const f of fs.readdirSync(ARTIFACTS)) {
    if (f.endsWith('.png') || f.endsWith('.log')) fs.rmSync(path.join(ARTIFACTS, f), { force: true });
  }

  const balance = fs.readFileSync(FIXTURE, 'utf8');
  const models = [...balance.matchAll(/^\s*provider_model_id:\s*["']?([^"'\s#]+)["']?/gm)].map((m) => m[1]);
  check(models.length === 5, `expected 5 provider_model_id values in ${FIXTURE}, found ${models.length}`);

  let simUrl = '';
  let fixtureUrl = '';
  let page = null;
  let replayId = '';

  await step('start the simulated backend', async () => {
    const sim = start('sim-backend', ['sim-backend', '--port', '0', '--models', models.join(',')]);
    const m = await until(
      'the sim-backend address on stdout',
      () => {
        if (sim.exited) throw new Error(`sim-backend exited: ${JSON.stringify(sim.exited)}`);
        return /listening on (http:\/\/[^\s]+)/.exec(sim.out);
      },
      30000,
    );
    simUrl = m[1];
    const r = await fetch(`${simUrl}/v1/models`);
    const ids = ((await r.json()).data ?? []).map((x) => x.id);
    check(models.every((x) => ids.includes(x)), `sim serves ${ids.join(', ')}`);
    return `${simUrl} serving ${models.join(', ')}`;
  });

  await step('start the fixture server', async () => {
    fixtureServer = await startFixtureServer(balance);
    fixtureUrl = `http://127.0.0.1:${fixtureServer.address().port}`;
    return fixtureUrl;
  });

  await step('start vllm-sr serve in setup mode', async () => {
    const dir = makeTemp('vsr-e2e-');
    const portFile = path.join(dir, 'dash.port');
    const serve = start(
      'serve',
      [
        'serve',
        '--config', path.join(dir, 'config.yaml'),
        '--host', '127.0.0.1',
        '--port', '0',
        '--dashboard-port', '0',
        '--dashboard-port-file', portFile,
        '--allow-private-import',
        '--no-watch',
      ],
      { VSR_DATA_DIR: path.join(dir, 'data') },
    );
    const port = await until(
      'the dashboard port file',
      () => {
        if (serve.exited) throw new Error(`serve exited: ${JSON.stringify(serve.exited)}`);
        const t = fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8').trim() : '';
        return /^\d+$/.test(t) ? t : null;
      },
      60000,
    );
    origin = `http://127.0.0.1:${port}`;
    const st = await (await fetch(`${origin}/api/auth/state`)).json();
    check(st.setup_mode === true && st.has_users === false, `auth state: ${JSON.stringify(st)}`);
    return `dashboard at ${origin} (setup mode)`;
  });

  await step('launch chromium', async () => {
    const profile = makeTemp('vsr-e2e-chromium-');
    browserContext = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1440, height: 900 },
      timeout: 60000,
    });
    browserContext.setDefaultTimeout(20000);
    browserContext.on('page', watch);
    for (const p of browserContext.pages()) watch(p);
    page = browserContext.pages()[0] ?? (await browserContext.newPage());
    currentPage = page;
    return `Chromium ${browserContext.browser()?.version() ?? ''}`.trim();
  });

  await step('create the first admin', async () => {
    await page.goto(origin + '/');
    await page.waitForURL('**/login');
    await tid(page, 'bootstrap-submit').waitFor();
    check((await tid(page, 'login-submit').count()) === 0, 'normal sign-in shown during bootstrap');
    await textUntil('the bootstrap heading', page.locator('h2'), (t) => /first admin/i.test(t));
    await tid(page, 'login-username').fill(ADMIN.username);
    await tid(page, 'login-password').fill(ADMIN.password);
    await shot(page, 'login-bootstrap');
    await tid(page, 'bootstrap-submit').click();
    await page.waitForURL('**/setup');
    await textUntil('the current user', tid(page, 'current-user'), (t) => t.includes(ADMIN.username) && t.includes('admin'));
    check(await tid(page, 'nav-setup').isVisible(), 'no Setup link in setup mode');
  });

  await step('setup 1: check the backend connection', async () => {
    await tid(page, 'setup-backend-url').fill(simUrl);
    await tid(page, 'setup-check').click();
    const t = await textUntil('the model list', tid(page, 'setup-models'), (s) => models.every((m) => s.includes(m)), 20000);
    check(/Connected: 5 models/.test(t), `setup-models says: ${t}`);
    check((await tid(page, 'setup-backend-error').count()) === 0, 'backend error shown');
    return t;
  });

  await step('setup 2: import by URL (too large, then the reference profile)', async () => {
    const done = expectHttpError('/api/import', 413);
    await tid(page, 'setup-import-url').fill(`${fixtureUrl}/huge.yaml`);
    await tid(page, 'setup-import-submit').click();
    const err = tid(page, 'setup-error');
    const msg = await textUntil('the import error', err, (s) => s.length > 0, 20000);
    check((await err.getAttribute('role')) === 'alert', 'setup-error is not role=alert');
    check(/too (large|big)|larger than|exceeds|1 ?MiB|1024 KiB/i.test(msg), `the import error does not say it is too large: ${msg}`);
    check((await tid(page, 'setup-source').inputValue()) === '', 'the huge document was loaded anyway');
    await sleep(200);
    done();

    await tid(page, 'setup-import-url').fill(`${fixtureUrl}/balance.yaml`);
    await tid(page, 'setup-import-submit').click();
    await until('the imported YAML in the editor', async () => (await tid(page, 'setup-source').inputValue()) === balance, 20000);
    check((await tid(page, 'setup-error').count()) === 0, 'an import error is still shown');
    return `refused: “${msg}”; balance.yaml loaded (${balance.length} bytes)`;
  });

  await step('setup 3: review and activate', async () => {
    await tid(page, 'setup-review').click();
    const res = tid(page, 'setup-review-result');
    const t = await textUntil('the review result', res, (s) => s.length > 0, 30000);
    check(/The config is valid/.test(t) && /Ready to activate/.test(t), `review: ${t.slice(0, 300)}`);
    const missing = await text(tid(page, 'setup-missing-aliases'));
    check(/^None/.test(missing), `missing aliases: ${missing}`);
    check((await tid(page, 'setup-review-backend-error').count()) === 0, 'review could not ask the backend');
    const errors = await tid(page, 'setup-diagnostics').locator('li[data-severity="error"]').count();
    check(errors === 0, `${errors} error diagnostics`);
    await shot(page, 'setup-review');
    check(await tid(page, 'setup-activate').isEnabled(), 'Activate is disabled');
    await tid(page, 'setup-activate').click();
    const outcome = await until(
      'the playground or an activation error',
      async () => {
        if (new URL(page.url()).pathname === '/playground') return 'ok';
        const err = tid(page, 'setup-review-error');
        return (await err.count()) ? `activation failed: ${await text(err)}` : null;
      },
      60000,
    );
    check(outcome === 'ok', outcome);
    await tid(page, 'playground-input').waitFor();
    await until('setup mode to end', async () => !(await tid(page, 'nav-setup').isVisible()), 20000);
    const st = await (await page.request.get(`${origin}/api/auth/state`)).json();
    check(st.setup_mode === false, 'still in setup mode after activation');
    return 'valid, no missing aliases, activated';
  });

  await step('playground: streamed answer with routing details', async () => {
    await tid(page, 'playground-input').fill(PROMPT);
    const reqP = page.waitForRequest((r) => r.url() === `${origin}/api/playground/chat` && r.method() === 'POST', { timeout: 60000 });
    const resP = page.waitForResponse((r) => r.url() === `${origin}/api/playground/chat`, { timeout: 60000 });
    await tid(page, 'playground-send').click();
    const req = await reqP;
    check(req.postDataJSON()?.stream === true, 'the playground request is not streamed');
    const res = await resP;
    check(res.status() === 200, `playground chat answered ${res.status()}`);
    check((res.headers()['content-type'] ?? '').includes('text/event-stream'), `content-type ${res.headers()['content-type']}`);

    const answer = last(page, 'playground-answer');
    await until('the stream to finish', async () => (await answer.getAttribute('aria-busy')) === 'false', 60000);
    const a = await text(answer);
    check(/simulated/.test(a) && a.includes('[openai/gpt5.4]'), `answer text: ${a}`);
    check((await answer.getByRole('alert').count()) === 0, `the answer shows an error: ${a}`);

    const decision = await textUntil('the decision', last(page, 'playground-decision'), (s) => s.includes('reasoning_math'), 30000);
    const alias = await text(last(page, 'playground-model'));
    check(alias.includes('openai/gpt5.4'), `alias: ${alias}`);
    const signals = last(page, 'playground-signals');
    await until('matched signals', async () => (await signals.locator('.signal-line').count()) > 0, 30000);
    const sigText = await text(signals);
    check(/\bmath\b/.test(sigText), `signals do not list math: ${sigText}`);
    check(/\d(\.\d+|%)/.test(sigText), `no confidences in the signals: ${sigText}`);
    check((await signals.locator('[role="meter"], meter, .meter').count()) > 0, 'no confidence meters');

    const panel = page.getByRole('complementary', { name: 'Routing details' }).last();
    const cost = await textUntil('the cost from the record', last(page, 'playground-cost'), (s) => !isDash(s), 30000);
    const savings = await textUntil('the savings', last(page, 'playground-savings'), (s) => !isDash(s), 5000);
    const pt = await text(await ddAfter(panel, 'Prompt tokens'));
    const ct = await text(await ddAfter(panel, 'Completion tokens'));
    check(/^\d[\d,]*$/.test(pt) && Number(pt.replace(/,/g, '')) > 0, `prompt tokens: ${pt}`);
    check(/^\d[\d,]*$/.test(ct) && Number(ct.replace(/,/g, '')) > 0, `completion tokens: ${ct}`);

    const link = panel.locator('a[href^="/insights/"]').first();
    replayId = decodeURIComponent(((await link.getAttribute('href')) ?? '').replace('/insights/', ''));
    check(replayId.length > 0, 'no replay record link');

    const up = last(page, 'feedback-up');
    check((await up.getAttribute('aria-label')) === 'Good answer', 'feedback-up label');
    await up.click();
    await until('the feedback to be saved', async () => (await up.getAttribute('aria-pressed')) === 'true', 10000);
    await panel.getByText('feedback saved').waitFor();
    await shot(page, 'playground-answer');
    return `${decision.split(' ')[0]} → ${alias}; tokens ${pt}+${ct}; cost ${cost}; saved ${savings}; record ${replayId}`;
  });

  await step('insights: record, cards and charts', async () => {
    await tid(page, 'nav-insights').click();
    await page.waitForURL('**/insights');
    const row = tid(page, `record-row-${replayId}`);
    await row.waitFor({ timeout: 20000 });
    const rowText = await text(row);
    check(rowText.includes('reasoning_math') && rowText.includes('openai/gpt5.4'), `record row: ${rowText}`);
    check(rowText.includes('good'), `the row does not show the feedback: ${rowText}`);
    const saved = await textUntil('total saved', tid(page, 'insights-total-saved'), (s) => /\d/.test(s));
    const pct = await textUntil('saved %', tid(page, 'insights-saved-percent'), (s) => /\d/.test(s));
    const reqs = await text(tid(page, 'insights-requests'));
    check(/\b1\b/.test(reqs), `requests card: ${reqs}`);
    const canvases = await until(
      'a chart canvas',
      async () => {
        const n = await page.locator('[data-testid^="chart-"] canvas').count();
        return n > 0 ? n : null;
      },
      20000,
    );
    const box = await page.locator('[data-testid^="chart-"] canvas').first().boundingBox();
    check(box && box.width > 50 && box.height > 50, `chart canvas size ${JSON.stringify(box)}`);
    check((await tid(page, 'insights-error').count()) === 0, 'insights error shown');
    await page.waitForTimeout(300);
    await shot(page, 'insights');
    return `${saved} saved (${pct}), ${reqs} request(s), ${canvases} chart canvases`;
  });

  await step('record page (admin: with bodies)', async () => {
    await tid(page, `record-row-${replayId}`).locator('a').first().click();
    await page.waitForURL(`**/insights/${encodeURIComponent(replayId)}`);
    await tid(page, 'record-page').waitFor();
    const d = await text(tid(page, 'record-decision'));
    check(d === 'reasoning_math', `record decision: ${d}`);
    check((await text(tid(page, 'record-model'))) === 'openai/gpt5.4', 'record model');
    check((await text(tid(page, 'record-status'))) === '200', 'record status');
    const sig = await text(tid(page, 'record-signals'));
    check(/math/.test(sig) && /\d/.test(sig), `record signals: ${sig}`);
    const cost = await text(tid(page, 'record-cost'));
    const savings = await text(tid(page, 'record-savings'));
    check(!isDash(cost) && !isDash(savings), `cost ${cost}, savings ${savings}`);
    const tokens = await text(await ddAfter(page.locator('body'), 'Total tokens'));
    check(/^\d/.test(tokens), `total tokens: ${tokens}`);
    check(/good/.test(await text(tid(page, 'record-feedback'))), 'record feedback');
    const body = await text(tid(page, 'record-request-body'));
    check(body.includes('square root of 2'), `request body: ${body.slice(0, 200)}`);
    await tid(page, 'record-trace').click();
    await textUntil('the trace decision', tid(page, 'record-trace-decision'), (s) => s.includes('reasoning_math'), 20000);
    // Say this record was misrouted: a probe expecting another decision goes to the Probes page.
    await tid(page, 'probe-expected-decision').fill('premium_legal');
    await tid(page, 'probe-expected-alias').fill('');
    const snippet = await tid(page, 'probe-snippet').inputValue();
    check(snippet.includes('expected_decision: "premium_legal"') && snippet.includes('square root of 2'), `probe snippet: ${snippet}`);
    await tid(page, 'probe-save').click();
    await shot(page, 'record-admin');
    return `decision ${d}, cost ${cost}, saved ${savings}, ${tokens} tokens, request body shown, probe made`;
  });

  let liveBefore = null;
  await step('builder: the DSL tab loads the live config', async () => {
    await tid(page, 'nav-builder').click();
    await page.waitForURL('**/builder');
    const editor = tid(page, 'builder-dsl-editor').locator('.cm-content');
    await editor.waitFor();
    const r = await page.request.get(`${origin}/api/config`);
    check(r.status() === 200, `GET /api/config: ${r.status()}`);
    liveBefore = await r.json();
    check(typeof liveBefore.dsl === 'string' && liveBefore.dsl.includes('ROUTE reasoning_math'), 'the live DSL has no reasoning_math route');
    // CodeMirror renders only the lines in view: compare the head of the document.
    const head = liveBefore.dsl.split('\n').slice(0, 12).join(' ').replace(/\s+/g, ' ').trim();
    await textUntil('the live DSL in the editor', editor, (s) => s.startsWith(head));
    check((await tid(page, 'tab-dsl').getAttribute('aria-selected')) === 'true', 'the DSL tab is not selected');
    const status = await text(tid(page, 'builder-status'));
    check(status === 'Live', `builder status: ${status}`);
    return `live version ${liveBefore.version}, generation ${liveBefore.generation}`;
  });

  await step('builder: a misspelled signal shows a diagnostic and a lint marker', async () => {
    const lines = liveBefore.dsl.split('\n');
    const routeAt = lines.findIndex((l) => /^\s*ROUTE reasoning_math\b/.test(l));
    const whenAt = lines.findIndex((l, i) => i > routeAt && /\bWHEN\b/.test(l) && l.includes('domain("math")'));
    check(routeAt >= 0 && whenAt > routeAt, 'reasoning_math WHEN line not found');
    const col = lines[whenAt].indexOf('domain("math")') + 'domain("math'.length; // just before the closing quote

    const editor = tid(page, 'builder-dsl-editor');
    const content = editor.locator('.cm-content');
    await content.click();
    await page.keyboard.press('Control+Home');
    for (let i = 0; i < whenAt; i++) await page.keyboard.press('ArrowDown');
    const active = editor.locator('.cm-activeLine');
    const lineText = ((await active.textContent()) ?? '').replace(/\u200b/g, '');
    check(lineText === lines[whenAt], `cursor on the wrong line: ${JSON.stringify(lineText.slice(0, 80))}`);
    await moveToColumn(page, col);
    await page.keyboard.type('hx');
    const edited = ((await active.textContent()) ?? '').replace(/\u200b/g, '');
    check(edited.includes('domain("mathhx")'), `edit went astray: ${edited}`);

    const diags = tid(page, 'builder-diagnostics');
    const first = diags.locator('li[data-severity="error"]').first();
    await first.waitFor({ timeout: 20000 });
    const d = await text(first);
    const m = /^(\d+):(\d+): (.*)$/.exec(d);
    check(m, `diagnostic not in line:column form: ${d}`);
    check(Number(m[1]) === whenAt + 1, `diagnostic on line ${m[1]}, expected ${whenAt + 1}: ${d}`);
    check(/mathhx/.test(d), `the diagnostic does not name the misspelled signal: ${d}`);
    await textUntil('the error count', tid(page, 'builder-status'), (s) => /error/.test(s));
    await until('a lint marker in the editor', async () => (await editor.locator('.cm-lintRange-error, .cm-lint-marker-error').count()) > 0, 10000);
    check(await tid(page, 'builder-deploy').isDisabled(), 'Deploy is enabled with errors');
    await shot(page, 'builder-diagnostic');

    // Fix it back.
    await page.keyboard.press('Backspace');
    await page.keyboard.press('Backspace');
    await textUntil('the fixed DSL to be valid', tid(page, 'builder-status'), (s) => s === 'Valid', 20000);
    check((await diags.locator('li').count()) === 0, 'diagnostics remain after the fix');
    return `${d}`;
  });

  let deployedVersion = null;
  await step('builder: change a priority, preview, deploy', async () => {
    const lines = liveBefore.dsl.split('\n');
    const routeAt = lines.findIndex((l) => /^\s*ROUTE simple_general\b/.test(l));
    const prioAt = lines.findIndex((l, i) => i > routeAt && /^\s*PRIORITY\s+\d+\s*$/.test(l));
    check(routeAt >= 0 && prioAt > routeAt, 'simple_general PRIORITY line not found');
    const oldPrio = Number(/\d+/.exec(lines[prioAt])[0]);
    const newPrio = oldPrio + 1;

    const editor = tid(page, 'builder-dsl-editor');
    await editor.locator('.cm-content').click();
    await page.keyboard.press('Control+Home');
    for (let i = 0; i < prioAt; i++) await page.keyboard.press('ArrowDown');
    await page.keyboard.press('End');
    for (let i = 0; i < String(oldPrio).length; i++) await page.keyboard.press('Backspace');
    const compiled = page.waitForResponse((r) => r.url() === `${origin}/api/dsl/compile`, { timeout: 20000 });
    await page.keyboard.type(String(newPrio));
    check((await compiled).status() === 200, 'the DSL compile failed');
    const edited = ((await editor.locator('.cm-activeLine').textContent()) ?? '').trim();
    check(edited === `PRIORITY ${newPrio}`, `edited line: ${edited}`);
    await textUntil('the edited DSL to be valid', tid(page, 'builder-status'), (s) => s === 'Valid', 20000);
    const score = await textUntil('the probe score', tid(page, 'builder-probe-score'), (s) => /Probes: \d+\/\d+/.test(s), 30000);

    await tid(page, 'builder-preview').click();
    const diff = tid(page, 'builder-diff');
    await diff.waitFor({ timeout: 30000 });
    fs.writeFileSync(path.join(ARTIFACTS, 'builder-preview.diff'), (await diff.textContent()) ?? '');
    const adds = await diff.locator('.diff-add').allTextContents();
    const dels = await diff.locator('.diff-del').allTextContents();
    check(adds.some((l) => new RegExp(`priority:\\s*${newPrio}\\b`).test(l)), `diff has no added line with ${newPrio} (${adds.length} added lines, see builder-preview.diff)`);
    check(dels.some((l) => new RegExp(`priority:\\s*${oldPrio}\\b`).test(l)), `diff has no removed line with ${oldPrio} (${dels.length} removed lines, see builder-preview.diff)`);
    const impact = await text(tid(page, 'builder-impact'));
    check(/Changed/.test(impact) && /Covered/.test(impact), `impact: ${impact.slice(0, 200)}`);
    const covered = /(\d+) of (\d+) records had a captured prompt/.exec(impact);
    check(covered && Number(covered[1]) >= 1, `impact covers no record: ${impact.slice(0, 300)}`);
    check(/\d+(\.\d+)?\s?%/.test(impact), `no changed share: ${impact.slice(0, 200)}`);
    check(/Probes on the draft: \d+\/\d+/.test(impact), 'no probe result in the preview');
    const score2 = await text(tid(page, 'builder-probe-score'));
    await shot(page, 'builder-preview');

    const rowsBefore = await tid(page, 'builder-versions').locator('tbody tr').count();
    await tid(page, 'builder-deploy-message').fill(`e2e: simple_general priority ${oldPrio} → ${newPrio}`);
    check(await tid(page, 'builder-deploy').isEnabled(), 'Deploy is disabled');
    await tid(page, 'builder-deploy').click();
    await page.getByText(/Deployed version/).waitFor({ timeout: 30000 });
    check((await tid(page, 'builder-error').count()) === 0, 'deploy error shown');
    await until('the versions list to grow', async () => (await tid(page, 'builder-versions').locator('tbody tr').count()) === rowsBefore + 1, 10000);
    const cfg = await (await page.request.get(`${origin}/api/config`)).json();
    check(cfg.yaml !== liveBefore.yaml, 'the live config did not change');
    check(new RegExp(`priority:\\s*${newPrio}\\b`).test(cfg.yaml), `the live YAML has no priority ${newPrio}`);
    deployedVersion = cfg.version;
    return `${score} → ${score2}; covered ${covered[1]}/${covered[2]}; deployed version ${cfg.version} (${rowsBefore} → ${rowsBefore + 1} versions)`;
  });

  await step('builder: roll back to the previous version', async () => {
    check(liveBefore.version !== null && liveBefore.version !== undefined, 'the config before the deploy had no version');
    const rowsBefore = await tid(page, 'builder-versions').locator('tbody tr').count();
    const btn = tid(page, `version-rollback-${liveBefore.version}`);
    check(await btn.isEnabled(), 'Roll back is disabled');
    check(await tid(page, `version-rollback-${deployedVersion}`).isDisabled(), 'the live version can be rolled back to');
    await btn.click();
    await page.getByText(/Rolled back: now version/).waitFor({ timeout: 30000 });
    await until('the versions list to grow', async () => (await tid(page, 'builder-versions').locator('tbody tr').count()) === rowsBefore + 1, 10000);
    const cfg = await (await page.request.get(`${origin}/api/config`)).json();
    check(cfg.yaml === liveBefore.yaml, 'the live config is not back to what it was');
    check(cfg.version !== liveBefore.version && cfg.version !== deployedVersion, `live version ${cfg.version}`);
    await textUntil('the editor to show the status Live', tid(page, 'builder-status'), (s) => s === 'Live');
    await shot(page, 'builder-versions');
    return `rolled back to ${liveBefore.version} as version ${cfg.version}; the live YAML matches`;
  });

  await step('calibration page', async () => {
    await tid(page, 'nav-calibration').click();
    await page.waitForURL('**/calibration');
    await tid(page, 'calibration-signals').or(page.getByText(/No (signal|data|records)/i).first()).first().waitFor();
    await page.waitForTimeout(300);
    await shot(page, 'calibration');
  });

  await step('topology: a test query highlights its path', async () => {
    await tid(page, 'nav-topology').click();
    await page.waitForURL('**/topology');
    await tid(page, 'topology-svg').waitFor();
    await tid(page, 'topology-query').fill(PROMPT);
    await tid(page, 'topology-eval').click();
    await page.locator('[data-testid="topology-hot-d:reasoning_math"]').waitFor({ timeout: 30000 });
    await page.locator('[data-testid="topology-hot-a:openai/gpt5.4"]').waitFor();
    const hot = await page.locator('[data-hot="true"]').count();
    check(hot >= 3, `only ${hot} highlighted nodes`);
    check((await page.locator('path.edge.hot').count()) > 0, 'no highlighted edge');
    check((await text(tid(page, 'topology-decision'))).includes('reasoning_math'), 'topology decision');
    await shot(page, 'topology');
    return `${hot} nodes highlighted`;
  });

  await step('probes: run the profile probes', async () => {
    await tid(page, 'nav-probes').click();
    await page.waitForURL('**/probes');
    // The probe made from the record comes first: it fails (the router picks reasoning_math).
    const manifest = tid(page, 'probes-manifest');
    check((await manifest.inputValue()).includes('premium_legal'), 'the record probe is not on the Probes page');
    await tid(page, 'probes-run').click();
    await textUntil('the record probe score', tid(page, 'probes-score'), (s) => /0\s*\/\s*1/.test(s), 60000);
    const failed = await text(tid(page, 'probes-results'));
    check(failed.includes('premium_legal') && failed.includes('reasoning_math'), `record probe row: ${failed}`);
    // An empty manifest runs the profile's own.
    await manifest.fill('');
    await tid(page, 'probes-run').click();
    const score = await textUntil('the probe score', tid(page, 'probes-score'), (s) => /\d+\s*\/\s*\d+/.test(s) && !/\/\s*1\b/.test(s), 60000);
    const rows = tid(page, 'probes-results').locator('tbody tr');
    const n = await rows.count();
    check(n > 0, 'no probe rows');
    const pass = await tid(page, 'probes-results').locator('tbody tr.pass').count();
    const fail = await tid(page, 'probes-results').locator('tbody tr.fail').count();
    check(pass + fail === n, 'rows without pass/fail');
    await shot(page, 'probes');
    return `${score} (${pass} pass, ${fail} fail)`;
  });

  await step('status: backends and logs', async () => {
    await tid(page, 'nav-status').click();
    await page.waitForURL('**/status');
    const backends = await textUntil('the backends table', tid(page, 'status-backends'), (s) => s.includes(new URL(simUrl).host));
    for (const m of models) check(backends.includes(m), `backend ${m} not listed`);
    const gen = await text(tid(page, 'status-generation'));
    check(/\d/.test(gen), `generation: ${gen}`);
    await textUntil('log lines', tid(page, 'logs-lines'), (s) => s.length > 0 && !/No log/i.test(s), 20000);
    await shot(page, 'status');
    return `generation ${gen}`;
  });

  await step('users: create a read user', async () => {
    await tid(page, 'nav-users').click();
    await page.waitForURL('**/users');
    await tid(page, `user-row-${ADMIN.username}`).waitFor();
    await tid(page, 'user-new-name').fill(READER.username);
    await tid(page, 'user-new-password').fill(READER.password);
    await tid(page, 'user-new-role').selectOption('read');
    await tid(page, 'user-create').click();
    await tid(page, `user-row-${READER.username}`).waitFor();
    check((await tid(page, `user-role-${READER.username}`).inputValue()) === 'read', 'the new user is not read');
    check((await tid(page, 'users-error').count()) === 0, 'users error shown');
    await textUntil('the audit entry', tid(page, 'audit-table'), (s) => s.includes(READER.username));
    await shot(page, 'users');
  });

  await step('log out and sign in as the read user', async () => {
    await tid(page, 'logout').click();
    await page.waitForURL('**/login');
    await tid(page, 'login-submit').waitFor();
    await shot(page, 'login');
    await tid(page, 'login-username').fill(READER.username);
    await tid(page, 'login-password').fill(READER.password);
    await tid(page, 'login-submit').click();
    await page.waitForURL('**/playground');
    await textUntil('the read role badge', tid(page, 'current-role'), (s) => s === 'read');
    check((await tid(page, 'nav-users').count()) === 0, 'read user sees Users');
    check((await tid(page, 'nav-probes').count()) === 0, 'read user sees Probes');
  });

  await step('read user: no deploy in the builder, 403 from the API', async () => {
    await tid(page, 'nav-builder').click();
    await page.waitForURL('**/builder');
    await tid(page, 'builder-dsl-editor').locator('.cm-content').waitFor();
    const deploy = tid(page, 'builder-deploy');
    check((await deploy.count()) === 0 || (await deploy.isDisabled()), 'Deploy is enabled for a read user');
    check((await tid(page, 'builder-preview').isDisabled()), 'Preview is enabled for a read user');
    const live = await (await page.request.get(`${origin}/api/config`)).json();
    const r = await apiJson(page, 'POST', '/api/config/deploy', { yaml: live.yaml, message: 'should be refused' });
    check(r.status === 403, `deploy as read answered ${r.status}`);
    check(r.json?.error?.code === 'forbidden', `deploy refused with ${JSON.stringify(r.json)}`);
    await shot(page, 'builder-read-user');
    return `deploy refused: 403 ${r.json.error.code}`;
  });

  await step('read user: record without bodies, Insights loads', async () => {
    await page.goto(`${origin}/insights/${encodeURIComponent(replayId)}`);
    await tid(page, 'record-page').waitFor();
    check((await text(tid(page, 'record-decision'))) === 'reasoning_math', 'record decision');
    check((await tid(page, 'record-request-body').count()) === 0, 'the read user sees the request body');
    check((await tid(page, 'record-response-body').count()) === 0, 'the read user sees the response body');
    const rec = await page.request.get(`${origin}/api/records/${encodeURIComponent(replayId)}`);
    const j = await rec.json();
    check(j.request_body == null && j.response_body == null, 'the API returns bodies to a read user');
    await shot(page, 'record-read-user');
    await tid(page, 'nav-insights').click();
    await page.waitForURL('**/insights');
    await tid(page, `record-row-${replayId}`).waitFor();
    await textUntil('total saved', tid(page, 'insights-total-saved'), (s) => /\d/.test(s));
    await page.locator('[data-testid^="chart-"] canvas').first().waitFor();
    await shot(page, 'insights-read-user');
  });

  await step('no console errors, page errors or 5xx answers', async () => {
    await page.waitForTimeout(300);
    if (problems.length) throw new Error(`${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
    return `${((Date.now() - t0) / 1000).toFixed(1)} s in all`;
  });
  return 0;
}

// ---------------------------------------------------------------------------------------------

let exitCode = 1;
const overall = setTimeout(() => {
  console.log(`FAIL  overall timeout (${OVERALL_S} s)`);
  void cleanup().finally(() => process.exit(1));
}, OVERALL_S * 1000);

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    console.log(`interrupted (${sig})`);
    void cleanup().finally(() => process.exit(130));
  });
}

const started = Date.now();
try {
  exitCode = await main();
} catch (e) {
  exitCode = 1;
  if (!results.some((r) => !r.ok)) console.log(`FAIL  ${e.stack || e.message}`);
  if (problems.length) console.log(`also seen in the browser:\n  ${problems.join('\n  ')}`);
} finally {
  await cleanup();
  clearTimeout(overall);
}
if (results.length) {
  const ok = results.filter((r) => r.ok).length;
  console.log(
    `\ndashboard e2e: ${exitCode === 0 ? 'PASSED' : 'FAILED'} — ${ok}/${results.length} steps in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  console.log(`artifacts: ${ARTIFACTS}${shots.length ? ` (${shots.length} screenshots)` : ''}`);
}
process.exit(exitCode);

// The dashboard (/ui) in headless Chromium against the real daemon.
//
// Not part of `cargo test` (that must run on a machine without Chromium):
// scripts/ui_test.sh and .ci/run run it after the debug binary is built.
//
// Starts `commodore run` (two engines, faults enabled, a free loopback port,
// a fresh data dir), then in Debian's Chromium through playwright-core:
//   1. /ui without a token: the token field, no data, no request for any;
//      a wrong token typed in is refused with the daemon's message;
//   2. /ui#token=…: both engines shown, the token gone from the address bar
//      and never in a request's URL;
//   3. an escalation clicked (with a reason): the level shown changes, and
//      the daemon says so too;
//   4. a panic injected through the API into an engine's analyzer: its
//      restart appears live (tree and event log) without a reload.
// A screenshot at each step goes to <target>/ui-artifacts/, with the daemon's
// log. The daemon is killed at the end, failure or not. Exit 0 when every
// check passed, 1 with the failed check's message otherwise.
//
// Environment: COMMODORE_BIN (default <target>/debug/commodore), CHROMIUM
// (default /usr/bin/chromium), CARGO_TARGET_DIR (default <repo>/target).

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const target = process.env.CARGO_TARGET_DIR
  ? path.resolve(repo, process.env.CARGO_TARGET_DIR)
  : path.join(repo, 'target');
const bin = process.env.COMMODORE_BIN || path.join(target, 'debug', 'commodore');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const artifacts = path.join(target, 'ui-artifacts');
// Every wait is bounded: generous, for a loaded 2-core machine.
const WAIT_MS = 60_000;
const ENGINES = ['KC', 'CC'];
const FAULTED = 'master/engines/KC/analyzer';

class Failed extends Error {}
function check(cond, message) {
  if (!cond) throw new Failed(message);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `probe` until it returns a truthy value (bounded); that value.
async function until(what, probe, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      if (e instanceof Failed) throw e;
      last = e;
    }
    await sleep(100);
  }
  throw new Failed(`timed out after ${ms / 1000} s waiting for ${what} (last: ${last})`);
}

let daemon = null;
let context = null;
let tmp = null;
let step = 'start';

async function main() {
  check(fs.existsSync(bin), `no daemon binary at ${bin}: build it first (cargo build)`);
  check(fs.existsSync(chromiumPath),
    `no Chromium at ${chromiumPath}: apt-get install -y chromium (or set CHROMIUM)`);
  fs.rmSync(artifacts, { recursive: true, force: true });
  fs.mkdirSync(artifacts, { recursive: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commodore-ui-'));
  const data = path.join(tmp, 'data');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const config = path.join(tmp, 'ui-test.toml');
  // The bundled data at the default speed; drawdown escalations out of reach,
  // so the level is NORMAL until the test escalates it.
  fs.writeFileSync(config, [
    `data_dir = ${JSON.stringify(data)}`,
    '[control]',
    `listen = "127.0.0.1:${port}"`,
    '[faults]',
    'enabled = true',
    '[risk]',
    'day_drawdown_warning = 0.8',
    'day_drawdown_halt = 0.9',
    'peak_drawdown_warning = 0.8',
    'peak_drawdown_halt = 0.9',
    'account_drawdown_warning = 0.8',
    'account_drawdown_halt = 0.9',
    'account_drawdown_panic = 0.95',
    '',
  ].join('\n'));

  step = 'daemon start';
  const log = fs.openSync(path.join(artifacts, 'daemon.log'), 'w');
  const env = { ...process.env, NO_COLOR: '1', RUST_LOG: 'info' };
  delete env.COMMODORE_CONTROL_TOKEN;
  for (const k of Object.keys(env)) if (k.startsWith('COMMODORE__')) delete env[k];
  daemon = spawn(bin, ['run', '--config', config], { env, stdio: ['ignore', log, log] });
  let exited = null;
  daemon.on('exit', (code, signal) => { exited = { code, signal }; });
  await until('the daemon to be ready (GET /readyz 200)', async () => {
    check(!exited, `the daemon exited at start (${JSON.stringify(exited)}); see ${artifacts}/daemon.log`);
    const r = await fetch(`${base}/readyz`);
    return r.status === 200;
  });
  const token = fs.readFileSync(path.join(data, 'control.token'), 'utf8').trim();
  const apiCall = async (method, p, body) => {
    const r = await fetch(base + p, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await r.json();
    check(r.ok, `${method} ${p}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  };

  step = 'browser start';
  context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1400, height: 1800 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const problems = [];
  const requests = [];
  const watch = (page) => {
    page.on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => problems.push(`page error: ${e.stack || e.message}`));
    page.on('console', (m) => {
      // A CSP refusal is a console error: the page must need nothing it refuses.
      if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) {
        problems.push(`console: ${m.text()}`);
      }
    });
  };
  const shot = (page, name) => page.screenshot({ path: path.join(artifacts, name), fullPage: true });

  // 1. No token: nothing shown, nothing asked.
  step = '1. /ui without a token';
  const anon = await context.newPage();
  watch(anon);
  const res = await anon.goto(`${base}/ui`);
  check(res.status() === 200, `/ui answered ${res.status()}`);
  const csp = res.headers()['content-security-policy'] || '';
  check(csp.includes("script-src 'self'"), `/ui's CSP: ${csp}`);
  await anon.waitForSelector('#token-input', { state: 'visible', timeout: WAIT_MS });
  // Give the script the time to do anything it would do on its own.
  await anon.waitForLoadState('networkidle');
  check(await anon.isHidden('#dash'), 'the dashboard is visible without a token');
  check(await anon.locator('.engine').count() === 0, 'engine cards without a token');
  const text = await anon.locator('body').innerText();
  for (const id of ENGINES) {
    check(!new RegExp(`\\b${id}\\b`).test(text), `engine ${id} named on the page without a token`);
  }
  const asked = requests.filter((u) => /\/v1\/|\/metrics/.test(u));
  check(asked.length === 0, `requests for data without a token: ${asked.join(', ')}`);
  await shot(anon, '1-no-token.png');

  step = '1b. a wrong token typed in';
  await anon.fill('#token-input', 'not-the-token-0123456789');
  await anon.click('#token-form button[type=submit]');
  await until('the refusal to be shown', async () =>
    /refused/i.test(await anon.textContent('#login-message')));
  check(await anon.isHidden('#dash'), 'the dashboard is visible after a refused token');
  check(await anon.locator('.engine').count() === 0, 'engine cards after a refused token');
  check(await anon.evaluate(() => sessionStorage.length) === 0, 'a refused token was kept');
  await shot(anon, '1b-wrong-token.png');
  await anon.close();

  // 2. The token in the fragment: both engines, the fragment gone.
  step = '2. /ui#token=…';
  const page = await context.newPage();
  watch(page);
  await page.goto(`${base}/ui#token=${token}`);
  for (const id of ENGINES) {
    await page.waitForSelector(`.engine[data-engine="${id}"] .equity:not(:empty)`, { timeout: WAIT_MS });
  }
  check(!page.url().includes('#'), `the fragment is still in the address bar: ${page.url().replace(token, '<token>')}`);
  check(!page.url().includes(token), 'the token is still in the address bar');
  const leaked = requests.filter((u) => u.includes(token));
  check(leaked.length === 0, `the token in a request's URL: ${leaked.map((u) => u.replace(token, '<token>')).join(', ')}`);
  await until('the tree and the event log to fill', async () =>
    (await page.locator(`#tree .node[data-path="${FAULTED}"]`).count()) === 1
    && (await page.locator('#log tbody tr').count()) > 0);
  await page.evaluate(() => { window.notReloaded = true; });
  await shot(page, '2-dashboard.png');

  // 3. Escalate: the level shown changes.
  step = '3. escalate';
  const before = (await page.textContent('#risk-level')).trim();
  check(before === 'NORMAL', `the level before the escalation is ${before}, not NORMAL`);
  await page.selectOption('#risk-select', 'HALT');
  // The reason carries markup: it must show as text, never run.
  const hostile = 'ui test: escalate from the dashboard <img src=x onerror="window.__xss=1">';
  await page.fill('#risk-reason-input', hostile);
  await page.click('#escalate');
  await until('the level shown to be HALT', async () =>
    (await page.textContent('#risk-level')).trim() === 'HALT');
  const status = await apiCall('GET', '/v1/status');
  check(status.risk.level === 'HALT', `the daemon's level is ${status.risk.level}`);
  check(/ui test/.test(status.risk.reason), `the reason journaled: ${status.risk.reason}`);
  await until('the risk_changed event in the log', async () =>
    (await page.locator('#log tbody tr[data-kind="risk_changed"]').count()) > 0);
  const logText = await page.textContent('#log tbody tr[data-kind="risk_changed"]');
  check(logText.includes('<img src=x'), `the reason shown as text: ${logText}`);
  check(await page.evaluate(() => window.__xss === undefined), 'markup in a reason ran as code');
  check((await page.locator('#log img, #risk-changes img').count()) === 0, 'markup in a reason became an element');
  await shot(page, '3-escalated.png');

  // 4. A panic in KC's analyzer: its restart appears live.
  step = '4. a restart, live';
  const node = page.locator(`#tree .node[data-path="${FAULTED}"]`);
  const restartsBefore = Number(await node.getAttribute('data-restarts'));
  await apiCall('POST', '/v1/faults', { path: FAULTED, kind: 'panic' });
  await until(`a restarted event of ${FAULTED} in the event log`, async () =>
    (await page.locator(`#log tbody tr[data-kind="restarted"][data-path="${FAULTED}"]`).count()) > 0);
  await until(`${FAULTED}'s restarts to grow in the tree`, async () =>
    Number(await node.getAttribute('data-restarts')) > restartsBefore);
  check(await page.evaluate(() => window.notReloaded === true), 'the page was reloaded');
  // The filter: only the faulted path's events.
  await page.fill('#path-filter', 'KC/analyzer');
  await until('the filtered log', async () => {
    const paths = await page.locator('#log tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.path));
    return paths.length > 0 && paths.every((p) => p.includes('KC/analyzer'));
  });
  await shot(page, '4-restart-live.png');
  await page.fill('#path-filter', '');

  check(problems.length === 0, `the page had problems:\n${problems.join('\n')}`);
}

async function cleanup() {
  if (context) await context.close().catch(() => {});
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
    daemon.kill('SIGTERM');
    const gone = await Promise.race([
      new Promise((r) => daemon.once('exit', () => r(true))),
      sleep(10_000).then(() => false),
    ]);
    if (!gone) daemon.kill('SIGKILL');
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    await cleanup();
    process.exit(1);
  });
}

let code = 0;
try {
  await main();
  console.log(`ui test: every check passed; screenshots in ${artifacts}`);
} catch (e) {
  code = 1;
  console.error(`ui test FAILED at step "${step}": ${e instanceof Failed ? e.message : (e && e.stack) || e}`);
  console.error(`screenshots and the daemon's log: ${artifacts}`);
  if (context) {
    for (const p of context.pages()) {
      await p.screenshot({ path: path.join(artifacts, 'failure.png'), fullPage: true }).catch(() => {});
    }
  }
} finally {
  await cleanup();
}
process.exit(code);

// The commodore dashboard. Plain JavaScript, no dependencies, served by the
// daemon itself (src/api/ui.rs).
//
// The page holds no secret: it asks for the control token (a field, or
// `#token=…` in the URL fragment, which never reaches the server), keeps it in
// sessionStorage for this tab, and sends it as `Authorization: Bearer` with
// every request. Without a token it fetches nothing and shows nothing; a 401
// forgets the token and asks again. Events come live from
// GET /v1/events/stream, read with fetch() (EventSource cannot send the
// header, and the token never goes in a URL) and resumed from the last seq.
// Everything kept is bounded: the event log (MAX_LOG), the charts (the
// server's history ring, drawn from its last HISTORY_POINTS samples).
'use strict';

(() => {
  const TOKEN_KEY = 'commodore.token';
  const MAX_LOG = 1000;
  const HISTORY_POINTS = 8640;
  const STATUS_EVERY_MS = 2000;
  const TREE_EVERY_MS = 5000;
  const HISTORY_EVERY_MS = 10000;
  const MAX_SSE_BUFFER = 1 << 20;
  const FLASH_MS = 5000;
  const LEVELS = ['NORMAL', 'WARNING', 'HALT', 'PANIC'];
  const OUTCOMES = ['executed', 'vetoed', 'low_score', 'risk_rejected', 'gate_closed',
    'breaker_open', 'buffered', 'error'];
  // Events that change the supervision tree: the tree is fetched again.
  const TREE_KINDS = new Set(['started', 'failed', 'restarted', 'escalated', 'gave_up',
    'stopped', 'suppressed', 'fault_injected']);
  // Events that change what /v1/status shows: fetched again at once.
  const STATUS_KINDS = new Set(['risk_changed', 'mode_changed', 'operator', 'breaker_opened',
    'breaker_half_open', 'breaker_closed', 'order_filled', 'config_reloaded', 'rolled']);
  const SVG_NS = 'http://www.w3.org/2000/svg';

  let token = null;
  // Bumped whenever the token changes: answers to an older session are dropped.
  let session = 0;
  let controller = null;
  let timers = [];
  let data = fresh();

  function fresh() {
    return {
      status: null,
      nodes: [],
      events: [],
      lastSeq: 0,
      kinds: new Set(),
      samples: [],
      historyNext: 0,
      flash: new Map(),
      seen: null,
      logDirty: false,
    };
  }

  const $ = (id) => document.getElementById(id);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // ---- the token -------------------------------------------------------

  // `#token=…` from the address bar, which is then cleaned; null if none.
  function takeFragmentToken() {
    if (!location.hash || location.hash.length < 2) return null;
    const params = new URLSearchParams(location.hash.slice(1));
    if (!params.has('token')) return null;
    const t = (params.get('token') || '').trim();
    history.replaceState(null, '', location.pathname + location.search);
    return t || null;
  }

  function begin() {
    $('token-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const t = $('token-input').value.trim();
      $('token-input').value = '';
      if (!t) {
        showLogin('Enter the token first.');
        return;
      }
      sessionStorage.setItem(TOKEN_KEY, t);
      connect(t);
    });
    $('forget').addEventListener('click', () => disconnect('Token forgotten.'));
    $('escalate').addEventListener('click', () => riskCommand('escalate'));
    $('reset').addEventListener('click', () => riskCommand('reset'));
    $('set-mode').addEventListener('click', setMode);
    $('kind-filter').addEventListener('change', () => renderLog());
    $('path-filter').addEventListener('input', () => renderLog());
    window.addEventListener('hashchange', () => {
      const t = takeFragmentToken();
      if (t) {
        sessionStorage.setItem(TOKEN_KEY, t);
        connect(t);
      }
    });
    const fromUrl = takeFragmentToken();
    if (fromUrl) sessionStorage.setItem(TOKEN_KEY, fromUrl);
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) connect(saved);
    else showLogin('');
  }

  function showLogin(message) {
    $('login').hidden = false;
    $('dash').hidden = true;
    $('forget').hidden = true;
    $('stream').hidden = true;
    $('login-message').textContent = message;
    setPill($('conn'), 'no token', 'off');
    $('token-input').focus();
  }

  function connect(t) {
    stopAll();
    token = t;
    session += 1;
    controller = new AbortController();
    $('login').hidden = true;
    $('dash').hidden = false;
    $('forget').hidden = false;
    $('stream').hidden = false;
    $('login-message').textContent = '';
    setPill($('conn'), 'connecting', 'wait');
    const s = session;
    refreshStatus(s);
    refreshTree(s);
    refreshHistory(s);
    readStream(s);
    timers.push(setInterval(() => refreshStatus(s), STATUS_EVERY_MS));
    timers.push(setInterval(() => refreshTree(s), TREE_EVERY_MS));
    timers.push(setInterval(() => refreshHistory(s), HISTORY_EVERY_MS));
  }

  // Stops every request and timer, and wipes every figure from the page.
  function stopAll() {
    session += 1;
    if (controller) controller.abort();
    controller = null;
    for (const t of timers) clearInterval(t);
    timers = [];
    data = fresh();
    clear($('engines'));
    clear($('tree'));
    clear($('risk-chart'));
    clear($('outcomes-chart'));
    clear($('outcomes-legend'));
    clear($('risk-changes'));
    clear(document.querySelector('#log tbody'));
    const kinds = $('kind-filter');
    while (kinds.options.length > 1) kinds.remove(1);
    const modes = $('mode-select');
    while (modes.options.length > 1) modes.remove(1);
    for (const id of ['risk-level', 'risk-since', 'risk-reason', 'mode-current', 'mode-auto',
      'account-equity', 'account-drawdown', 'uptime', 'version', 'action-message', 'log-count']) {
      $(id).textContent = '';
    }
    $('risk-level').className = 'level';
  }

  function disconnect(message) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    stopAll();
    showLogin(message);
  }

  class Refused extends Error {}

  // One request with the token; the parsed JSON answer, or throws with the
  // API's own message. A 401 forgets the token.
  async function api(method, path, body) {
    if (!token) throw new Refused('no token');
    const s = session;
    const headers = { Authorization: 'Bearer ' + token };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      signal: controller ? controller.signal : undefined,
    });
    const text = await resp.text();
    let json = null;
    try { json = JSON.parse(text); } catch (_) { json = null; }
    if (s !== session) throw new Refused('stale');
    if (resp.status === 401) {
      const why = json && json.error ? json.error.message : 'the token was refused';
      disconnect('The daemon refused the token (' + why + '). Enter its token again.');
      throw new Refused('unauthorized');
    }
    if (!resp.ok) {
      const msg = json && json.error ? json.error.message : (resp.status + ' ' + text.slice(0, 200));
      throw new Error(msg);
    }
    setPill($('conn'), 'connected', 'ok');
    return json;
  }

  function quiet(e) {
    if (e instanceof Refused || (e && e.name === 'AbortError')) return;
    setPill($('conn'), 'unreachable', 'bad');
    $('conn').title = String(e && e.message ? e.message : e);
  }

  // ---- reads -----------------------------------------------------------

  async function refreshStatus(s) {
    try {
      const st = await api('GET', '/v1/status');
      if (s !== session) return;
      data.status = st;
      renderStatus();
    } catch (e) { quiet(e); }
  }

  async function refreshTree(s) {
    try {
      const t = await api('GET', '/v1/tree');
      if (s !== session) return;
      data.nodes = t.nodes || [];
      renderTree();
    } catch (e) { quiet(e); }
  }

  // The server's samples since the last asked, page by page (at most ten
  // pages a call); a daemon started again numbers them from 1 again.
  async function refreshHistory(s) {
    try {
      for (let page = 0; page < 10; page += 1) {
        const h = await api('GET', '/v1/history?since=' + data.historyNext);
        if (s !== session) return;
        if (h.next < data.historyNext) {
          data.samples = [];
          data.historyNext = 0;
          continue;
        }
        for (const sample of h.samples) data.samples.push(sample);
        if (data.samples.length > HISTORY_POINTS) data.samples.splice(0, data.samples.length - HISTORY_POINTS);
        data.historyNext = h.next;
        if (!h.more) break;
      }
      renderCharts();
    } catch (e) { quiet(e); }
  }

  let treeSoon = null;
  let statusSoon = null;
  function soon(which) {
    const s = session;
    if (which === 'tree' && !treeSoon) {
      treeSoon = setTimeout(() => { treeSoon = null; refreshTree(s); }, 150);
    }
    if (which === 'status' && !statusSoon) {
      statusSoon = setTimeout(() => { statusSoon = null; refreshStatus(s); }, 150);
    }
  }

  // ---- the live events ---------------------------------------------------

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function readStream(s) {
    let wait = 1000;
    while (s === session) {
      try {
        // The newest events on first opening, then from the last seq seen.
        const q = data.lastSeq > 0 ? 'since=' + data.lastSeq : 'tail=' + MAX_LOG;
        const resp = await fetch('/v1/events/stream?' + q, {
          headers: { Authorization: 'Bearer ' + token, Accept: 'text/event-stream' },
          cache: 'no-store',
          signal: controller.signal,
        });
        if (s !== session) return;
        if (resp.status === 401) {
          const j = await resp.json().catch(() => null);
          const why = j && j.error ? j.error.message : 'the token was refused';
          if (s === session) disconnect('The daemon refused the token (' + why + '). Enter its token again.');
          return;
        }
        if (!resp.ok) {
          const j = await resp.json().catch(() => null);
          throw new Error(j && j.error ? j.error.message : 'stream answered ' + resp.status);
        }
        setPill($('stream'), 'live', 'ok');
        $('stream').title = '';
        wait = 1000;
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done || s !== session) break;
          buf += value;
          let end;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            sseBlock(block);
          }
          if (buf.length > MAX_SSE_BUFFER) throw new Error('an event over 1 MiB');
        }
      } catch (e) {
        if (s !== session || (e && e.name === 'AbortError')) return;
        $('stream').title = String(e && e.message ? e.message : e);
      }
      if (s !== session) return;
      setPill($('stream'), 'reconnecting', 'wait');
      await sleep(wait);
      wait = Math.min(wait * 2, 15000);
    }
  }

  function sseBlock(block) {
    const lines = [];
    let type = 'message';
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') lines.push(value);
      if (field === 'event') type = value;
    }
    if (type === 'reset') {
      // The daemon's journal is not the one our last seq came from (a fresh
      // start): the log starts over with what this stream sends.
      data.lastSeq = 0;
      data.events.length = 0;
      renderRiskChanges();
      renderLog();
      return;
    }
    if (lines.length === 0) return;
    let ev;
    try { ev = JSON.parse(lines.join('\n')); } catch (_) { return; }
    onEvent(ev);
  }

  function onEvent(ev) {
    if (typeof ev.seq !== 'number' || ev.seq <= data.lastSeq) return;
    data.lastSeq = ev.seq;
    data.events.push(ev);
    if (data.events.length > MAX_LOG) data.events.splice(0, data.events.length - MAX_LOG);
    if (!data.kinds.has(ev.kind)) {
      data.kinds.add(ev.kind);
      addKindOption(ev.kind);
    }
    if (TREE_KINDS.has(ev.kind)) {
      soon('tree');
      soon('status');
    }
    if (STATUS_KINDS.has(ev.kind)) soon('status');
    if (ev.kind === 'risk_changed') renderRiskChanges();
    if (!data.logDirty) {
      data.logDirty = true;
      setTimeout(renderLog, 200);
    }
  }

  function addKindOption(kind) {
    const sel = $('kind-filter');
    const opts = Array.from(sel.options).slice(1).map((o) => o.value);
    opts.push(kind);
    opts.sort();
    const chosen = sel.value;
    while (sel.options.length > 1) sel.remove(1);
    for (const k of opts) sel.add(new Option(k, k));
    sel.value = chosen;
  }

  // ---- commands ----------------------------------------------------------

  function say(text, bad) {
    const m = $('action-message');
    m.textContent = text;
    m.className = bad ? 'bad' : 'ok';
  }

  async function command(what, path, body) {
    try {
      const answer = await api('POST', path, body);
      say(what + ': ' + describe(answer), false);
      soon('status');
      soon('tree');
      return answer;
    } catch (e) {
      if (e instanceof Refused) return null;
      say(what + ' refused: ' + (e && e.message ? e.message : e), true);
      return null;
    }
  }

  function describe(a) {
    if (!a) return 'done';
    if (a.risk) return (a.message ? a.message + '; ' : '') + 'risk is ' + a.risk.level;
    if (a.mode) return 'mode is ' + a.mode.current + (a.mode.auto ? ' (auto)' : '');
    if (a.engine) {
      const e = a.engine;
      return 'engine ' + e.id + ' is ' + (e.stopped ? 'stopped' : e.state) + (e.paused ? ', paused' : '')
        + (a.changed === false ? ' (no change)' : '');
    }
    return 'done';
  }

  async function riskCommand(verb) {
    const level = $('risk-select').value;
    const reason = $('risk-reason-input').value;
    const answer = await command(verb + ' ' + level, '/v1/risk/' + verb, { level, reason });
    if (answer && answer.risk && data.status) {
      data.status.risk = answer.risk;
      renderStatus();
    }
  }

  async function setMode() {
    const mode = $('mode-select').value;
    await command('mode ' + mode, '/v1/mode', { mode });
  }

  async function engineCommand(id, verb, reasonInput) {
    if (verb === 'stop' && !window.confirm('Stop engine ' + id + '? It stays stopped across restarts until started.')) {
      return;
    }
    const reason = reasonInput.value;
    const answer = await command(verb + ' ' + id, '/v1/engines/' + encodeURIComponent(id) + '/' + verb, { reason });
    if (answer) reasonInput.value = '';
  }

  // ---- rendering ---------------------------------------------------------

  function setPill(node, text, cls) {
    node.textContent = text;
    node.className = 'pill ' + cls;
  }

  function num(x) {
    const n = Number(x);
    return Number.isFinite(n) ? n : 0;
  }

  function money(x) {
    if (x === null || x === undefined) return '—';
    return num(x).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function signed(x) {
    const n = num(x);
    return (n > 0 ? '+' : '') + money(x);
  }

  function shortTime(iso) {
    return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';
  }

  function duration(s) {
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + m + 'm ' + (s % 60) + 's';
  }

  function renderStatus() {
    const st = data.status;
    if (!st) return;
    $('version').textContent = 'v' + st.version;
    const lvl = $('risk-level');
    lvl.textContent = st.risk.level;
    lvl.className = 'level level-' + st.risk.level.toLowerCase();
    $('risk-since').textContent = 'since ' + shortTime(st.risk.since);
    $('risk-reason').textContent = st.risk.reason || '';
    $('mode-current').textContent = st.mode.current;
    $('mode-auto').textContent = st.mode.auto ? 'auto' : 'set by an operator';
    $('account-equity').textContent = money(st.equity);
    $('account-drawdown').textContent = (num(st.drawdown) * 100).toFixed(2) + ' %';
    $('uptime').textContent = duration(st.uptime_s);
    const modes = $('mode-select');
    const tiers = (st.mode.tiers || []).filter((t) => typeof t === 'string');
    const have = Array.from(modes.options).slice(1).map((o) => o.value);
    if (have.join(',') !== tiers.join(',')) {
      const chosen = modes.value;
      while (modes.options.length > 1) modes.remove(1);
      for (const t of tiers) modes.add(new Option(t, t));
      if (Array.from(modes.options).some((o) => o.value === chosen)) modes.value = chosen;
    }
    renderEngines();
    renderCharts();
  }

  function renderEngines() {
    const box = $('engines');
    const ids = new Set(data.status.engines.map((e) => e.id));
    for (const card of Array.from(box.children)) {
      if (!ids.has(card.dataset.engine)) card.remove();
    }
    for (const e of data.status.engines) {
      let card = box.querySelector('[data-engine="' + CSS.escape(e.id) + '"]');
      if (!card) {
        card = $('engine-template').content.firstElementChild.cloneNode(true);
        card.dataset.engine = e.id;
        card.querySelector('.engine-id').textContent = e.id;
        const reason = card.querySelector('.engine-reason');
        for (const b of card.querySelectorAll('button[data-verb]')) {
          b.addEventListener('click', () => engineCommand(e.id, b.dataset.verb, reason));
        }
        box.appendChild(card);
      }
      const state = e.stopped ? 'stopped' : e.state;
      const pill = card.querySelector('.engine-state');
      pill.textContent = state;
      pill.className = 'engine-state pill state-' + state;
      card.dataset.state = state;
      card.querySelector('.paused').hidden = !e.paused;
      card.querySelector('.restarts').textContent = 'restarts ' + e.restarts;
      card.querySelector('.contract').textContent = e.contract ? 'trading ' + e.contract : '';
      card.querySelector('.equity').textContent = money(e.equity);
      const realized = card.querySelector('.realized');
      realized.textContent = signed(e.realized_pnl);
      realized.className = 'realized ' + pnlClass(e.realized_pnl);
      card.querySelector('.last-price').textContent = e.last_price === null ? '—' : e.last_price;
      const b = e.breaker || {};
      const breaker = card.querySelector('.breaker');
      breaker.textContent = (b.state || '?') + ' · ' + (b.consecutive_failures || 0) + ' failing · opened ' + (b.opens || 0) + '×';
      breaker.className = 'breaker breaker-' + (b.state || 'unknown');
      const body = card.querySelector('.positions tbody');
      clear(body);
      if (!e.positions || e.positions.length === 0) {
        const tr = el('tr', 'flat');
        const td = el('td', 'muted', 'flat');
        td.colSpan = 5;
        tr.appendChild(td);
        body.appendChild(tr);
      } else {
        for (const p of e.positions) {
          const q = num(p.qty);
          const tr = el('tr');
          tr.appendChild(el('td', null, p.symbol));
          tr.appendChild(el('td', 'numeric', Math.abs(q)));
          tr.appendChild(el('td', q > 0 ? 'long' : 'short', q > 0 ? 'long' : 'short'));
          tr.appendChild(el('td', 'numeric', p.avg_price));
          tr.appendChild(el('td', 'numeric ' + pnlClass(p.unrealized_pnl), signed(p.unrealized_pnl)));
          body.appendChild(tr);
        }
      }
    }
  }

  function pnlClass(x) {
    const n = num(x);
    return n > 0 ? 'gain' : (n < 0 ? 'loss' : '');
  }

  function renderTree() {
    const box = $('tree');
    clear(box);
    const byPath = new Map(data.nodes.map((n) => [n.path, n]));
    const children = new Set(data.nodes.flatMap((n) => n.children || []));
    const roots = data.nodes.filter((n) => !children.has(n.path));
    const now = Date.now();
    // A node whose state or restarts changed since the last tree shown is
    // highlighted for a few seconds (not on the first tree: nothing to compare).
    if (data.seen) {
      for (const n of data.nodes) {
        const was = data.seen.get(n.path);
        if (was && (was.state !== n.state || was.restarts !== n.restarts)) {
          data.flash.set(n.path, now + FLASH_MS);
        }
      }
    }
    data.seen = new Map(data.nodes.map((n) => [n.path, { state: n.state, restarts: n.restarts }]));
    const walk = (n, depth) => {
      const row = el('div', 'node');
      row.dataset.path = n.path;
      row.dataset.state = n.state;
      row.dataset.restarts = String(n.restarts);
      row.style.setProperty('--depth', String(depth));
      const until = data.flash.get(n.path);
      if (until && until > now) row.classList.add('flash');
      row.appendChild(el('span', 'name', n.path.split('/').pop()));
      row.appendChild(el('span', 'pill state-' + n.state, n.state));
      row.appendChild(el('span', 'muted small', n.kind + (n.strategy ? ' ' + n.strategy : '')));
      const r = el('span', 'restarts' + (n.restarts > 0 ? ' hot' : ''), n.restarts > 0 ? '↻ ' + n.restarts : '');
      row.appendChild(r);
      if (n.last_failure) {
        const f = el('span', 'failure small', n.last_failure);
        f.title = n.last_failure;
        row.appendChild(f);
      }
      row.title = n.path;
      box.appendChild(row);
      for (const c of n.children || []) {
        const child = byPath.get(c);
        if (child) walk(child, depth + 1);
      }
    };
    for (const r of roots) walk(r, 0);
    for (const [p, until] of data.flash) if (until <= now) data.flash.delete(p);
  }

  function renderLog() {
    data.logDirty = false;
    const kind = $('kind-filter').value;
    const path = $('path-filter').value.trim().toLowerCase();
    const body = document.querySelector('#log tbody');
    const rows = [];
    for (let i = data.events.length - 1; i >= 0; i -= 1) {
      const ev = data.events[i];
      if (kind && ev.kind !== kind) continue;
      if (path && !String(ev.path).toLowerCase().includes(path)) continue;
      rows.push(ev);
    }
    const frag = document.createDocumentFragment();
    for (const ev of rows) {
      const tr = el('tr', 'kind-' + ev.kind);
      tr.dataset.kind = ev.kind;
      tr.dataset.path = ev.path;
      tr.appendChild(el('td', 'numeric', ev.seq));
      tr.appendChild(el('td', 'nowrap', shortTime(ev.at)));
      tr.appendChild(el('td', null, ev.kind));
      tr.appendChild(el('td', null, ev.path));
      tr.appendChild(el('td', 'detail', ev.detail));
      frag.appendChild(tr);
    }
    clear(body);
    body.appendChild(frag);
    $('log-count').textContent = rows.length + ' shown of the last ' + data.events.length
      + ' (at most ' + MAX_LOG + ')';
  }

  function renderRiskChanges() {
    const list = $('risk-changes');
    clear(list);
    const changes = data.events.filter((e) => e.kind === 'risk_changed').slice(-8).reverse();
    for (const e of changes) {
      const li = el('li');
      li.appendChild(el('span', 'muted', shortTime(e.at) + ' '));
      li.appendChild(el('span', null, e.detail));
      list.appendChild(li);
    }
  }

  // The server's samples, and the status now as the newest point.
  function series() {
    const points = data.samples.map((s) => ({
      t: Date.parse(s.wall_at),
      risk: s.risk,
      equity: s.equity,
      engines: s.engines,
    }));
    const st = data.status;
    if (st) {
      points.push({
        t: Date.parse(st.started_at) + st.uptime_s * 1000,
        risk: st.risk.level,
        equity: st.equity,
        engines: st.engines.map((e) => ({
          id: e.id,
          equity: e.equity,
          outcomes: (e.activity && e.activity.outcomes) || {},
        })),
      });
    }
    return points.filter((p) => Number.isFinite(p.t));
  }

  function renderCharts() {
    if (!data.status) return;
    const pts = series();
    for (const card of $('engines').children) {
      const id = card.dataset.engine;
      const line = [];
      for (const p of pts) {
        const e = (p.engines || []).find((x) => x.id === id);
        if (e) line.push([p.t, num(e.equity)]);
      }
      lineChart(card.querySelector('.equity-chart'), line, money);
    }
    stepChart($('risk-chart'), pts.map((p) => [p.t, LEVELS.indexOf(p.risk)]));
    outcomesChart($('outcomes-chart'), pts);
    renderRiskChanges();
  }

  function hhmm(t) {
    const d = new Date(t);
    return d.toISOString().slice(11, 16);
  }

  const W = 480;
  const PAD_L = 70;
  const PAD_R = 8;

  function lineChart(node, line, fmt) {
    clear(node);
    const H = 110;
    const top = 8;
    const bottom = H - 18;
    if (line.length === 0) {
      node.appendChild(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, 'no samples yet'));
      return;
    }
    let [t0, t1] = [line[0][0], line[line.length - 1][0]];
    if (t1 <= t0) t1 = t0 + 1;
    let lo = Math.min(...line.map((p) => p[1]));
    let hi = Math.max(...line.map((p) => p[1]));
    if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
    const x = (t) => PAD_L + ((t - t0) / (t1 - t0)) * (W - PAD_L - PAD_R);
    const y = (v) => bottom - ((v - lo) / (hi - lo)) * (bottom - top);
    node.appendChild(svg('line', { x1: PAD_L, y1: bottom, x2: W - PAD_R, y2: bottom, class: 'axis' }));
    node.appendChild(svg('text', { x: PAD_L - 4, y: top + 8, 'text-anchor': 'end', class: 'tick' }, fmt(hi)));
    node.appendChild(svg('text', { x: PAD_L - 4, y: bottom, 'text-anchor': 'end', class: 'tick' }, fmt(lo)));
    node.appendChild(svg('text', { x: PAD_L, y: H - 4, class: 'tick' }, hhmm(t0)));
    node.appendChild(svg('text', { x: W - PAD_R, y: H - 4, 'text-anchor': 'end', class: 'tick' }, hhmm(t1) + ' UTC'));
    const d = line.map((p, i) => (i ? 'L' : 'M') + x(p[0]).toFixed(1) + ' ' + y(p[1]).toFixed(1)).join(' ');
    node.appendChild(svg('path', { d, class: 'line' }));
    const last = line[line.length - 1];
    node.appendChild(svg('circle', { cx: x(last[0]), cy: y(last[1]), r: 3, class: 'dot' }));
  }

  function stepChart(node, line) {
    clear(node);
    const H = 120;
    const top = 10;
    const bottom = H - 18;
    const y = (lvl) => bottom - (lvl / 3) * (bottom - top);
    LEVELS.forEach((name, i) => {
      node.appendChild(svg('line', { x1: PAD_L, y1: y(i), x2: W - PAD_R, y2: y(i), class: 'grid' }));
      node.appendChild(svg('text', { x: PAD_L - 4, y: y(i) + 4, 'text-anchor': 'end', class: 'tick level-' + name.toLowerCase() }, name));
    });
    const pts = line.filter((p) => p[1] >= 0);
    if (pts.length === 0) return;
    let [t0, t1] = [pts[0][0], pts[pts.length - 1][0]];
    if (t1 <= t0) t1 = t0 + 1;
    const x = (t) => PAD_L + ((t - t0) / (t1 - t0)) * (W - PAD_L - PAD_R);
    let d = 'M' + x(pts[0][0]).toFixed(1) + ' ' + y(pts[0][1]).toFixed(1);
    for (let i = 1; i < pts.length; i += 1) {
      d += ' H' + x(pts[i][0]).toFixed(1) + ' V' + y(pts[i][1]).toFixed(1);
    }
    node.appendChild(svg('path', { d, class: 'line step' }));
    node.appendChild(svg('text', { x: PAD_L, y: H - 4, class: 'tick' }, hhmm(t0)));
    node.appendChild(svg('text', { x: W - PAD_R, y: H - 4, 'text-anchor': 'end', class: 'tick' }, hhmm(t1) + ' UTC'));
  }

  // Per wall-clock minute, each outcome's count: the growth of the engines'
  // counters between consecutive points (a counter that fell started again
  // with its engine: its value is the growth).
  function perMinute(pts) {
    const minutes = new Map();
    for (let i = 1; i < pts.length; i += 1) {
      const m = Math.floor(pts[i].t / 60000) * 60000;
      const bucket = minutes.get(m) || {};
      for (const e of pts[i].engines || []) {
        const prev = (pts[i - 1].engines || []).find((x) => x.id === e.id);
        for (const o of OUTCOMES) {
          const now = num((e.outcomes || {})[o]);
          const before = prev ? num((prev.outcomes || {})[o]) : now;
          const grew = now >= before ? now - before : now;
          bucket[o] = (bucket[o] || 0) + grew;
        }
      }
      minutes.set(m, bucket);
    }
    return Array.from(minutes.entries()).sort((a, b) => a[0] - b[0]).slice(-60);
  }

  function outcomesChart(node, pts) {
    clear(node);
    const H = 140;
    const top = 8;
    const bottom = H - 18;
    const mins = perMinute(pts);
    const legend = $('outcomes-legend');
    clear(legend);
    for (const o of OUTCOMES) {
      const item = el('span', 'key');
      item.appendChild(el('span', 'swatch o-' + o));
      item.appendChild(document.createTextNode(o));
      legend.appendChild(item);
    }
    if (mins.length === 0) {
      node.appendChild(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, 'no full sample interval yet'));
      return;
    }
    const totals = mins.map(([, b]) => OUTCOMES.reduce((s, o) => s + (b[o] || 0), 0));
    const hi = Math.max(1, ...totals);
    const slot = (W - PAD_L - PAD_R) / 60;
    const y = (v) => bottom - (v / hi) * (bottom - top);
    node.appendChild(svg('line', { x1: PAD_L, y1: bottom, x2: W - PAD_R, y2: bottom, class: 'axis' }));
    node.appendChild(svg('text', { x: PAD_L - 4, y: top + 8, 'text-anchor': 'end', class: 'tick' }, hi));
    node.appendChild(svg('text', { x: PAD_L - 4, y: bottom, 'text-anchor': 'end', class: 'tick' }, 0));
    const first = 60 - mins.length;
    mins.forEach(([m, b], i) => {
      let acc = 0;
      const bx = PAD_L + (first + i) * slot + 1;
      for (const o of OUTCOMES) {
        const v = b[o] || 0;
        if (!v) continue;
        const y1 = y(acc + v);
        const rect = svg('rect', { x: bx.toFixed(1), y: y1.toFixed(1), width: Math.max(1, slot - 2).toFixed(1), height: (y(acc) - y1).toFixed(1), class: 'o-' + o });
        rect.appendChild(svg('title', {}, hhmm(m) + ' ' + o + ': ' + v));
        node.appendChild(rect);
        acc += v;
      }
    });
    if (W - PAD_R - (PAD_L + first * slot) > 90) {
      node.appendChild(svg('text', { x: PAD_L + first * slot, y: H - 4, class: 'tick' }, hhmm(mins[0][0])));
    }
    node.appendChild(svg('text', { x: W - PAD_R, y: H - 4, 'text-anchor': 'end', class: 'tick' }, hhmm(mins[mins.length - 1][0]) + ' UTC'));
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', begin);
  else begin();
})();

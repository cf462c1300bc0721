// The qwasm chat page (web/index.html). No framework: a few DOM helpers, the
// shared model/chat code in lib/, and the JS API's createEngine (the model
// runs in a Web Worker).

import { newEngine, describePath, pickThreads, qwasmApi } from './lib/engine.mjs';
import { DEFAULT_MODEL, loadModel, listCached, deleteCached, modelName, modelKey, formatBytes,
  ProgressMeter } from './lib/models.mjs';
import { DEFAULT_SETTINGS, normalizeSettings, Stored, generateReply, describeError, threadsFor,
  frameBatcher, replyNote } from './lib/chat.mjs';

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

const settingsStore = new Stored('qwasm.settings', DEFAULT_SETTINGS);
const convStore = new Stored('qwasm.conversation', []);
const modelStore = new Stored('qwasm.model', null);

const state = {
  engine: null,
  engineThreads: 0,
  info: null,
  loaded: false,
  loading: false,
  busy: false,
  settings: normalizeSettings(settingsStore.get()),
  messages: sanitizeConversation(convStore.get()),
  source: null,      // what is loaded / being loaded: { url } or { file }
  loadCtl: null,
  genCtl: null,
  gen: null,         // the current/last generation: { pieces, piecesAtStop, finishReason, tokensPerSecond }
  lastLoad: null,    // { from, cached, notice, ms }
};
// for tests and the curious
window.qwasmApp = state;

function sanitizeConversation(v) {
  if (!Array.isArray(v)) return [];
  return v.filter((m) => m && (m.role === 'user' || m.role === 'assistant') && typeof m.content === 'string')
    .map((m) => ({ role: m.role, content: m.content, note: typeof m.note === 'string' ? m.note : undefined }));
}

// ------------------------------------------------------------ engine --

async function ensureEngine() {
  const threads = pickThreads(state.settings.threads);
  if (state.engine && state.engineThreads === threads) return state.engine;
  if (state.engine) {
    const old = state.engine;
    state.engine = null;
    state.loaded = false;
    await old.dispose().catch(() => {});
  }
  $('path').textContent = 'engine: starting…';
  state.engine = await newEngine({ threads });
  state.engineThreads = threads;
  return state.engine;
}

function engineLost(e) {
  // a WORKER error disposes the engine: start a new one next time
  if (e?.code === 'WORKER') {
    state.engine = null;
    state.loaded = false;
    state.info = null;
  }
}

// ------------------------------------------------------------- model --

const meter = new ProgressMeter();

function showError(text, retry) {
  $('error-text').textContent = text;
  $('error').hidden = false;
  $('retry').hidden = !retry;
  $('retry').onclick = retry ? () => { $('error').hidden = true; retry(); } : null;
}

function setStatus(text) { $('load-status').textContent = text; }

async function load(source) {
  if (state.loading) state.loadCtl?.abort();
  if (state.busy) state.genCtl?.abort();
  const ctl = new AbortController();
  state.loadCtl = ctl;
  state.loading = true;
  state.loaded = false;
  state.source = source;
  updateControls();
  $('error').hidden = true;
  const name = source.file ? source.file.name : modelName(source.url);
  $('model-name').textContent = name;
  meter.reset();
  state.progress = null;
  $('progress').value = 0;
  $('progress-text').textContent = 'starting…';
  $('progress-box').hidden = false;
  $('cancel-load').hidden = false;
  const t0 = performance.now();
  try {
    const engine = await ensureEngine();
    const r = await loadModel(engine, source, {
      signal: ctl.signal,
      onStatus: setStatus,
      onProgress: (loaded, total) => {
        meter.update(loaded, total);
        state.progress = { loaded, total };
        $('progress').value = meter.percent;
        $('progress-text').textContent = meter.text;
      },
    });
    if (ctl !== state.loadCtl) return; // superseded
    state.info = await engine.info();
    state.loaded = true;
    const ms = performance.now() - t0;
    state.lastLoad = { from: r.from, cached: r.cached, notice: r.notice, ms };
    $('progress').value = 100;
    $('progress-text').textContent = `${formatBytes(state.info.fileBytes)} · 100%`;
    $('cancel-load').hidden = true;
    const from = { cache: 'from the cache', network: 'downloaded', file: 'from the file' }[r.from];
    setStatus(`Loaded ${name} (${formatBytes(state.info.fileBytes)}, ${fmtParams(state.info.nParams)} parameters) ` +
      `${from} in ${(ms / 1000).toFixed(1)} s${r.cached && r.from === 'network' ? '; cached for next time' : ''}.` +
      (r.notice ? ` Note: ${r.notice}.` : ''));
    $('path').textContent = describePath(state.info);
    if (source.url) modelStore.set({ url: source.url });
    if (window.matchMedia('(max-width: 640px)').matches) {
      // phones: give the conversation the room
      $('model-panel').open = false;
      $('progress-box').hidden = true;
    }
  } catch (e) {
    if (ctl !== state.loadCtl) return;
    engineLost(e);
    $('progress-box').hidden = true;
    setStatus('');
    if (e?.code === 'ABORTED') setStatus('Loading cancelled.');
    else showError(describeError(e), () => load(source));
    if (!state.engine) $('path').textContent = 'engine: not running';
  } finally {
    if (ctl === state.loadCtl) {
      state.loading = false;
      state.loadCtl = null;
    }
    updateControls();
    refreshCached();
  }
}

/** Same-origin URLs are shown as paths. */
function displayUrl(url) {
  try {
    const u = new URL(url, location.href);
    return u.origin === location.origin ? u.pathname + u.search : u.href;
  } catch {
    return url;
  }
}

function fmtParams(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(1) + 'B';
  if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  return (n / 1e3).toFixed(0) + 'K';
}

async function refreshCached() {
  const list = $('cached-list');
  let items = [];
  try { items = await listCached(); } catch (e) { items = []; }
  list.replaceChildren();
  if (!items.length) { list.append(el('li', 'empty', 'none')); return; }
  for (const m of items) {
    const li = el('li');
    li.dataset.url = m.url;
    const use = el('button', 'link cached-name', m.name);
    use.type = 'button';
    use.title = `${m.url}\nsha256 ${m.sha256}\nstored ${m.storedAt}`;
    use.onclick = () => { $('model-url').value = displayUrl(m.url); load({ url: m.url }); };
    const del = el('button', 'delete', 'Delete');
    del.type = 'button';
    del.setAttribute('aria-label', `Delete ${m.name} from the cache`);
    del.onclick = async () => { await deleteCached(m.url); refreshCached(); };
    li.append(use, el('span', 'size', formatBytes(m.size)), del);
    list.append(li);
  }
}

// -------------------------------------------------------------- chat --

function messageEl(m) {
  const d = el('div', `msg ${m.role}`);
  d.append(el('div', 'who', m.role === 'user' ? 'You' : 'Model'));
  d.append(el('div', 'text', m.content));
  if (m.note) d.append(el('div', 'note', m.note));
  return d;
}

function renderMessages() {
  const box = $('messages');
  box.replaceChildren();
  if (!state.messages.length) {
    box.append(el('p', 'hint', 'Type the beginning of a story. The default model (stories260K) is tiny: it ' +
      'continues children\'s stories, it does not follow instructions.'));
  }
  for (const m of state.messages) box.append(messageEl(m));
  box.scrollTop = box.scrollHeight;
}

function saveConversation() { convStore.set(state.messages); }

async function send(text) {
  if (!text || !state.loaded || state.busy) return;
  const engine = state.engine;
  state.busy = true;
  const ctl = new AbortController();
  state.genCtl = ctl;
  state.gen = { pieces: 0, piecesAtStop: null, finishReason: null, tokensPerSecond: NaN, done: false };
  const gen = state.gen;
  state.messages.push({ role: 'user', content: text });
  saveConversation();
  renderMessages();
  const reply = { role: 'assistant', content: '' };
  const node = messageEl(reply);
  node.classList.add('streaming');
  const textNode = node.querySelector('.text');
  $('messages').append(node);
  updateControls();
  $('speed').textContent = 'generating…';
  const box = $('messages');
  const view = frameBatcher((all) => {
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    textNode.textContent = all;
    if (nearBottom) box.scrollTop = box.scrollHeight;
  });
  const threads = threadsFor(state.settings.threads, state.info);
  gen.threads = threads;
  try {
    const r = await generateReply(engine, state.messages, state.settings, {
      signal: ctl.signal,
      threads,
      info: state.info,
      template: (await qwasmApi()).plainTemplate,
      onPiece: (piece, all) => {
        gen.pieces++;
        view.update(all);
      },
    });
    reply.content = r.text;
    gen.finishReason = r.finishReason;
    gen.tokensPerSecond = r.tokensPerSecond;
    gen.dropped = r.dropped;
    const note = replyNote(r);
    if (note) reply.note = note;
    const tps = Number.isFinite(r.tokensPerSecond) ? `${r.tokensPerSecond.toFixed(1)} tokens/s` : '';
    $('speed').textContent = [tps, `${r.usage?.completion_tokens ?? r.pieces} tokens`,
      `${threads} thread${threads === 1 ? '' : 's'}`].filter(Boolean).join(' · ');
  } catch (e) {
    engineLost(e);
    reply.note = `error: ${describeError(e)}`;
    $('speed').textContent = '';
    if (!state.engine) {
      state.loaded = false;
      showError(describeError(e) + ' Reload the model to continue.', state.source ? () => load(state.source) : null);
    }
  } finally {
    view.flush();
    if (reply.content || reply.note) state.messages.push(reply);
    saveConversation();
    gen.done = true;
    state.busy = false;
    state.genCtl = null;
    renderMessages();
    updateControls();
    $('input').focus();
  }
}

function stop() {
  if (!state.genCtl) return;
  if (state.gen && state.gen.piecesAtStop === null) state.gen.piecesAtStop = state.gen.pieces;
  state.genCtl.abort();
}

function updateControls() {
  $('send').disabled = !state.loaded || state.busy;
  $('send').hidden = state.busy;
  $('stop').hidden = !state.busy;
  $('load-model').disabled = false;
  $('input').placeholder = state.loaded ? 'Once upon a time' : (state.loading ? 'loading the model…' : 'load a model first');
}

// ---------------------------------------------------------- settings --

function fillThreads() {
  const sel = $('set-threads');
  sel.replaceChildren();
  const isolated = globalThis.crossOriginIsolated === true;
  const max = Math.max(4, Math.min(16, navigator.hardwareConcurrency || 1));
  const auto = el('option', '', `auto (${pickThreads('auto')})`);
  auto.value = 'auto';
  sel.append(auto);
  for (let i = 1; i <= max; i++) {
    const o = el('option', '', String(i));
    o.value = String(i);
    sel.append(o);
  }
  sel.disabled = !isolated;
  $('threads-note').textContent = isolated
    ? 'auto: up to 4 threads, but models under 8 MB generate on one (faster for them). ' +
      'A change reloads the model.'
    : 'This page is not cross-origin isolated, so it runs single-threaded (serve it with COOP/COEP headers for threads).';
}

function openSettings() {
  const s = state.settings;
  $('set-system').value = s.systemPrompt;
  $('set-temperature').value = s.temperature;
  $('set-topk').value = s.topK;
  $('set-topp').value = s.topP;
  $('set-minp').value = s.minP;
  $('set-maxtokens').value = s.maxTokens;
  fillThreads();
  $('set-threads').value = String(s.threads);
  $('settings').showModal();
}

function readSettingsForm() {
  return normalizeSettings({
    systemPrompt: $('set-system').value,
    temperature: $('set-temperature').value,
    topK: $('set-topk').value,
    topP: $('set-topp').value,
    minP: $('set-minp').value,
    maxTokens: $('set-maxtokens').value,
    threads: $('set-threads').value,
  });
}

// ------------------------------------------------------------- wiring --

function init() {
  $('model-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const url = $('model-url').value.trim();
    if (!url) { showError('Enter a model URL (or pick a local file).', null); return; }
    try { modelKey(url); } catch { showError(`Not a valid URL: ${url}`, null); return; }
    load({ url });
  });
  $('use-default').addEventListener('click', () => {
    $('model-url').value = displayUrl(DEFAULT_MODEL);
    load({ url: DEFAULT_MODEL });
  });
  $('model-file').addEventListener('change', () => {
    const f = $('model-file').files?.[0];
    if (f) load({ file: f });
  });
  $('cancel-load').addEventListener('click', () => state.loadCtl?.abort());
  $('composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = $('input').value.trim();
    if (!text || !state.loaded || state.busy) return;
    $('input').value = '';
    send(text);
  });
  $('input').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $('composer').requestSubmit();
    }
  });
  $('stop').addEventListener('click', stop);
  $('new-chat').addEventListener('click', () => {
    stop();
    state.messages = [];
    saveConversation();
    renderMessages();
    $('speed').textContent = '';
    $('input').focus();
  });
  $('settings-button').addEventListener('click', openSettings);
  $('settings-reset').addEventListener('click', () => {
    state.settings = normalizeSettings({ ...DEFAULT_SETTINGS });
    settingsStore.set(state.settings);
    $('settings').close('reset');
    openSettings();
  });
  $('settings').addEventListener('close', () => {
    if ($('settings').returnValue !== 'save') return;
    const before = pickThreads(state.settings.threads);
    state.settings = readSettingsForm();
    settingsStore.set(state.settings);
    if (pickThreads(state.settings.threads) !== before && state.source && (state.loaded || state.loading))
      load(state.source);
  });
  addEventListener('pagehide', saveConversation);

  renderMessages();
  updateControls();
  refreshCached();
  const saved = modelStore.get();
  const url = typeof saved?.url === 'string' ? saved.url : DEFAULT_MODEL;
  $('model-url').value = displayUrl(url);
  if (!globalThis.crossOriginIsolated) $('path').textContent = 'engine: not cross-origin isolated: single-threaded';
  load({ url });
}

init();

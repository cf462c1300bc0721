// <qwasm-chat>: the chat widget as a custom element with a shadow root.
// Loaded by web/qwasm-widget.js. Host-page styles cannot reach inside (shadow
// DOM, and the host box itself is reset with !important declarations, which
// win over the page's from inside the shadow root); the widget's styles stay
// inside its shadow root.
//
// Attributes: model (URL, relative to the page), title (or chat-title: no tooltip), system-prompt,
// theme (light|dark|auto), threads, temperature, max-tokens, and for the
// floating form: floating, position (bottom-right|bottom-left), open.

import { newEngine, describePath, pickThreads, qwasmApi } from './engine.mjs';
import { DEFAULT_MODEL, loadModel, modelName, formatBytes, ProgressMeter } from './models.mjs';
import { DEFAULT_SETTINGS, normalizeSettings, generateReply, describeError, frameBatcher, replyNote } from './chat.mjs';

const CSS = `
:host {
  all: initial !important;
  display: block !important;
  contain: layout style !important;
  width: var(--qwasm-chat-width, 100%) !important;
  height: var(--qwasm-chat-height, 480px) !important;
  box-sizing: border-box !important;
}
:host([floating]) {
  position: fixed !important;
  z-index: 2147483000 !important;
  bottom: 20px !important;
  right: 20px !important;
  left: auto !important;
  top: auto !important;
  width: auto !important;
  height: auto !important;
  contain: none !important;
}
:host([floating][position=bottom-left]) { left: 20px !important; right: auto !important; }
:host([hidden]) { display: none !important; }

.root {
  all: initial;
  --qw-bg: #ffffff; --qw-panel: #f6f7f9; --qw-text: #1d2330; --qw-muted: #667085; --qw-line: #dde1e8;
  --qw-accent: #3b5bdb; --qw-accent-text: #ffffff; --qw-user: #e7ecff; --qw-err-bg: #fff0f0; --qw-err: #b42318;
  display: block; height: 100%; box-sizing: border-box;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--qw-text); text-align: left; direction: ltr;
}
.root.dark {
  --qw-bg: #1d2128; --qw-panel: #14171c; --qw-text: #e6e8ec; --qw-muted: #98a2b3; --qw-line: #313743;
  --qw-accent: #6f8cff; --qw-accent-text: #0b1020; --qw-user: #27304a; --qw-err-bg: #3a1d1d; --qw-err: #ffb4ab;
}
*, *::before, *::after { box-sizing: border-box; }
button, textarea { font: inherit; color: inherit; margin: 0; letter-spacing: normal; text-transform: none; }
button { cursor: pointer; border: 1px solid var(--qw-line); background: var(--qw-bg); border-radius: 8px;
  padding: 5px 10px; line-height: 1.2; }
button:disabled { opacity: .5; cursor: default; }
:focus-visible { outline: 2px solid var(--qw-accent); outline-offset: 1px; }

.panel { display: flex; flex-direction: column; height: 100%; background: var(--qw-bg);
  border: 1px solid var(--qw-line); border-radius: 12px; overflow: hidden; }
:host([floating]) .panel { position: absolute; bottom: 68px; right: 0; width: min(380px, calc(100vw - 40px));
  height: min(560px, calc(100vh - 110px)); box-shadow: 0 10px 40px rgb(0 0 0 / .25); }
:host([floating][position=bottom-left]) .panel { right: auto; left: 0; }
:host([floating]:not([open])) .panel { display: none; }
header { display: flex; align-items: center; gap: 6px; padding: 8px 10px; background: var(--qw-panel);
  border-bottom: 1px solid var(--qw-line); }
header .title { flex: 1; font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
header button { border: none; background: none; padding: 4px 6px; color: var(--qw-muted); font-size: 13px; }
header .close { font-size: 20px; line-height: 1; }
:host(:not([floating])) header .close { display: none; }
.load { padding: 6px 10px; border-bottom: 1px solid var(--qw-line); font-size: 12px; color: var(--qw-muted); }
.load[hidden] { display: none; }
progress { display: block; width: 100%; height: 6px; accent-color: var(--qw-accent); margin-bottom: 3px; }
.error { margin: 8px 10px 0; padding: 6px 8px; border-radius: 8px; background: var(--qw-err-bg); color: var(--qw-err);
  display: flex; gap: 8px; align-items: center; justify-content: space-between; font-size: 13px; }
.error[hidden] { display: none; }
.messages { flex: 1; overflow-y: auto; padding: 10px; display: flex; flex-direction: column; gap: 8px; }
.hint { color: var(--qw-muted); font-size: 13px; margin: auto 0; text-align: center; }
.msg { max-width: 90%; padding: 6px 10px; border-radius: 10px; white-space: pre-wrap; overflow-wrap: anywhere; }
.msg.user { align-self: flex-end; background: var(--qw-user); }
.msg.assistant { align-self: flex-start; background: var(--qw-panel); border: 1px solid var(--qw-line); }
.msg .note { font-size: 11px; color: var(--qw-muted); font-style: italic; }
.msg.streaming .text::after { content: "▍"; color: var(--qw-accent); }
form { display: flex; gap: 6px; padding: 8px; border-top: 1px solid var(--qw-line); align-items: flex-end; }
textarea { flex: 1; resize: none; min-height: 38px; max-height: 120px; border: 1px solid var(--qw-line);
  border-radius: 8px; padding: 7px 8px; background: var(--qw-bg); line-height: 1.4; }
.send { background: var(--qw-accent); color: var(--qw-accent-text); border-color: var(--qw-accent); min-height: 38px; }
.stop { background: var(--qw-err-bg); color: var(--qw-err); border-color: var(--qw-err); min-height: 38px; }
.send[hidden], .stop[hidden] { display: none; }
.foot { display: flex; justify-content: space-between; gap: 8px; padding: 0 10px 6px; font-size: 11px;
  color: var(--qw-muted); }
.foot .speed { white-space: nowrap; }
.fab { display: none; }
:host([floating]) .fab { display: flex; align-items: center; justify-content: center; width: 56px; height: 56px;
  border-radius: 50%; border: none; padding: 0; background: var(--qw-accent); color: var(--qw-accent-text);
  box-shadow: 0 4px 16px rgb(0 0 0 / .3); margin-left: auto; }
:host([floating][position=bottom-left]) .fab { margin-left: 0; }
.fab svg { width: 26px; height: 26px; fill: currentColor; }
@media (max-width: 480px) {
  :host([floating]) .panel { position: fixed; inset: 8px 8px 76px 8px; width: auto; height: auto; }
}
`;

const ICON_CHAT = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';
const ICON_CLOSE = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4L12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z"/></svg>';

const TEMPLATE = `
<div class="root">
  <div class="panel" role="region">
    <header><span class="title"></span>
      <button type="button" class="new" title="Start a new conversation">New chat</button>
      <button type="button" class="close" aria-label="Close">×</button></header>
    <div class="load" hidden><progress max="100" value="0"></progress><span class="ptext"></span></div>
    <div class="error" role="alert" hidden><span class="etext"></span><button type="button" class="retry">Retry</button></div>
    <div class="messages" aria-live="polite"></div>
    <form><textarea rows="1" aria-label="Message"></textarea>
      <button type="submit" class="send" disabled>Send</button><button type="button" class="stop" hidden>Stop</button></form>
    <div class="foot"><span class="path"></span><span class="speed"></span></div>
  </div>
  <button type="button" class="fab" aria-label="Open chat" aria-expanded="false">${ICON_CHAT}</button>
</div>`;

const h = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

export class QwasmChat extends HTMLElement {
  static get observedAttributes() { return ['title', 'chat-title', 'theme', 'open']; }

  constructor() {
    super();
    this.state = { loaded: false, loading: false, busy: false, messages: [], gen: null, info: null,
      lastLoad: null, progress: null };
    this.engine = null;
    this.meter = new ProgressMeter();
    const root = this.attachShadow({ mode: 'open' });
    const style = document.createElement('style');
    style.textContent = CSS;
    root.append(style);
    const tpl = document.createElement('template');
    tpl.innerHTML = TEMPLATE;
    root.append(tpl.content.cloneNode(true));
    this.$ = (sel) => root.querySelector(sel);
    this.$('.fab').addEventListener('click', () => this.toggle());
    this.$('.close').addEventListener('click', () => this.toggle(false));
    this.$('.new').addEventListener('click', () => this.newChat());
    this.$('.stop').addEventListener('click', () => this.stop());
    this.$('form').addEventListener('submit', (ev) => { ev.preventDefault(); this.submit(); });
    this.$('textarea').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); this.submit(); }
    });
    this.media = window.matchMedia('(prefers-color-scheme: dark)');
    this.onMedia = () => this.applyTheme();
  }

  connectedCallback() {
    this.media.addEventListener('change', this.onMedia);
    this.applyTheme();
    this.applyTitle();
    this.render();
    if (!this.hasAttribute('floating') || this.hasAttribute('open')) this.ensureLoaded();
  }

  disconnectedCallback() {
    this.media.removeEventListener('change', this.onMedia);
    this.genCtl?.abort();
    this.loadCtl?.abort();
    const e = this.engine;
    this.engine = null;
    this.state.loaded = false;
    e?.dispose().catch(() => {});
  }

  attributeChangedCallback(name) {
    if (name === 'theme') this.applyTheme();
    if (name === 'title' || name === 'chat-title') this.applyTitle();
    if (name === 'open') {
      this.$('.fab').setAttribute('aria-expanded', String(this.hasAttribute('open')));
      this.$('.fab').innerHTML = this.hasAttribute('open') ? ICON_CLOSE : ICON_CHAT;
      this.$('.fab').setAttribute('aria-label', this.hasAttribute('open') ? 'Close chat' : 'Open chat');
    }
  }

  get modelUrl() {
    const m = this.getAttribute('model');
    return m ? new URL(m, document.baseURI).href : DEFAULT_MODEL;
  }

  get settings() {
    return normalizeSettings({
      ...DEFAULT_SETTINGS,
      systemPrompt: this.getAttribute('system-prompt') ?? '',
      temperature: this.getAttribute('temperature') ?? DEFAULT_SETTINGS.temperature,
      maxTokens: this.getAttribute('max-tokens') ?? DEFAULT_SETTINGS.maxTokens,
    });
  }

  applyTheme() {
    const t = this.getAttribute('theme') || 'auto';
    const dark = t === 'dark' || (t !== 'light' && this.media.matches);
    this.$('.root').classList.toggle('dark', dark);
  }

  applyTitle() {
    // chat-title: the same without the browser's hover tooltip that title= brings
    const t = this.getAttribute('chat-title') || this.getAttribute('title') || 'Chat';
    this.$('.title').textContent = t;
    this.$('.panel').setAttribute('aria-label', t);
  }

  toggle(open = !this.hasAttribute('open')) {
    this.toggleAttribute('open', open);
    if (open) {
      this.ensureLoaded();
      setTimeout(() => this.$('textarea').focus(), 0);
    }
  }

  async ensureLoaded() {
    if (this.state.loaded || this.state.loading) return;
    const s = this.state;
    s.loading = true;
    this.loadCtl = new AbortController();
    const ctl = this.loadCtl;
    this.$('.error').hidden = true;
    this.$('.load').hidden = false;
    this.meter.reset();
    this.$('progress').value = 0;
    this.$('.ptext').textContent = `loading ${modelName(this.modelUrl)}…`;
    this.updateControls();
    try {
      const threadsAttr = this.getAttribute('threads');
      const threads = threadsAttr ? pickThreads(threadsAttr) : 1;
      if (!this.engine) this.engine = await newEngine({ threads });
      const r = await loadModel(this.engine, { url: this.modelUrl }, {
        signal: ctl.signal,
        onProgress: (loaded, total) => {
          this.meter.update(loaded, total);
          s.progress = { loaded, total };
          this.$('progress').value = this.meter.percent;
          this.$('.ptext').textContent = this.meter.text;
        },
      });
      s.info = await this.engine.info();
      s.lastLoad = r;
      s.loaded = true;
      this.$('.load').hidden = true;
      const t = s.info.threads ?? 1;
      this.$('.path').textContent = `${modelName(this.modelUrl)} · ${s.info.kernelPath} · ${t} thread${t === 1 ? '' : 's'}`;
      this.$('.path').title = `${formatBytes(s.info.fileBytes)}, ${r.from === 'cache' ? 'from the cache' : 'downloaded'}; ${describePath(s.info)}`;
    } catch (e) {
      if (e?.code === 'WORKER') this.engine = null;
      this.$('.load').hidden = true;
      if (this.isConnected) this.showError(describeError(e));
    } finally {
      s.loading = false;
      this.updateControls();
    }
  }

  showError(text) {
    this.$('.etext').textContent = text;
    this.$('.error').hidden = false;
    this.$('.retry').onclick = () => { this.$('.error').hidden = true; this.ensureLoaded(); };
  }

  updateControls() {
    const s = this.state;
    this.$('.send').disabled = !s.loaded || s.busy;
    this.$('.send').hidden = s.busy;
    this.$('.stop').hidden = !s.busy;
    this.$('textarea').placeholder = s.loaded ? 'Type a message' : 'Loading the model…';
  }

  messageEl(m) {
    const d = h('div', `msg ${m.role}`);
    d.append(h('div', 'text', m.content));
    if (m.note) d.append(h('div', 'note', m.note));
    return d;
  }

  render() {
    const box = this.$('.messages');
    box.replaceChildren();
    if (!this.state.messages.length) box.append(h('p', 'hint', 'Runs entirely in your browser. Say something.'));
    for (const m of this.state.messages) box.append(this.messageEl(m));
    box.scrollTop = box.scrollHeight;
  }

  newChat() {
    this.stop();
    this.state.messages = [];
    this.render();
    this.$('.speed').textContent = '';
  }

  stop() {
    const g = this.state.gen;
    if (!this.genCtl) return;
    if (g && g.piecesAtStop === null) g.piecesAtStop = g.pieces;
    this.genCtl.abort();
  }

  async submit() {
    const ta = this.$('textarea');
    const text = ta.value.trim();
    const s = this.state;
    if (!text || !s.loaded || s.busy) return;
    ta.value = '';
    s.busy = true;
    const ctl = new AbortController();
    this.genCtl = ctl;
    const gen = { pieces: 0, piecesAtStop: null, finishReason: null, done: false };
    s.gen = gen;
    s.messages.push({ role: 'user', content: text });
    this.render();
    const reply = { role: 'assistant', content: '' };
    const node = this.messageEl(reply);
    node.classList.add('streaming');
    const tn = node.querySelector('.text');
    const box = this.$('.messages');
    box.append(node);
    this.updateControls();
    const view = frameBatcher((all) => {
      tn.textContent = all;
      box.scrollTop = box.scrollHeight;
    });
    try {
      const r = await generateReply(this.engine, s.messages, this.settings, {
        signal: ctl.signal,
        info: s.info,
        template: (await qwasmApi()).plainTemplate,
        onPiece: (piece, all) => {
          gen.pieces++;
          view.update(all);
        },
      });
      reply.content = r.text;
      gen.finishReason = r.finishReason;
      const note = replyNote(r);
      if (note) reply.note = note;
      this.$('.speed').textContent = Number.isFinite(r.tokensPerSecond) ? `${r.tokensPerSecond.toFixed(0)} tokens/s` : '';
    } catch (e) {
      if (e?.code === 'WORKER') { this.engine = null; s.loaded = false; }
      reply.note = `error: ${describeError(e)}`;
    } finally {
      view.flush();
      if (reply.content || reply.note) s.messages.push(reply);
      gen.done = true;
      s.busy = false;
      this.genCtl = null;
      this.render();
      this.updateControls();
      this.dispatchEvent(new CustomEvent('qwasm-reply', { detail: { ...gen, text: reply.content } }));
    }
  }
}

/** Defines <qwasm-chat>; with data-model on the script tag, adds the floating widget to the page. */
export function install(data = {}) {
  if (!customElements.get('qwasm-chat')) customElements.define('qwasm-chat', QwasmChat);
  if (data.model === undefined) return null;
  const el = document.createElement('qwasm-chat');
  el.setAttribute('floating', '');
  el.setAttribute('model', data.model);
  const map = { title: 'chat-title', systemPrompt: 'system-prompt', position: 'position', theme: 'theme',
    threads: 'threads', temperature: 'temperature', maxTokens: 'max-tokens' };
  for (const [k, a] of Object.entries(map)) if (data[k] !== undefined) el.setAttribute(a, data[k]);
  const add = () => document.body.append(el);
  if (document.body) add();
  else document.addEventListener('DOMContentLoaded', add, { once: true });
  return el;
}

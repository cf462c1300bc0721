// qwasm's public JavaScript API: the engine in a worker (a Web Worker in
// browsers, worker_threads in Node), every method async. docs/JSAPI.md is the
// reference, wasm/qwasm.d.ts the types.
//
//   import { createEngine } from './qwasm.mjs';
//   const engine = await createEngine({ model: '/models/stories260K-q8_0.gguf', onProgress });
//   const c = engine.complete({ prompt: 'Once upon a time', maxTokens: 64, temperature: 0 });
//   for await (const piece of c) out.textContent += piece;
//   console.log(await c.stats);
//   await engine.dispose();
//
// Every rejection is a QwasmError (one class, from engine.mjs) whose code
// survives the worker boundary. If the worker dies (a wasm trap, an uncaught
// error) every pending call rejects with code WORKER and the engine is
// disposed; the worker never leaves a caller hanging.
import { QwasmError, EngineHost } from './engine.mjs';

export { QwasmError };

const IS_NODE = typeof process === 'object' && typeof process.versions === 'object' &&
  typeof process.versions.node === 'string';
const hasScheme = (s) => /^[a-z][a-z0-9+.-]*:/i.test(s);
const disposedError = () => new QwasmError('INVALID_ARGUMENT', 'the engine has been disposed');

/**
 * The plain prompt format (no chat template): the system message(s), if any,
 * then "\n\n", then the other messages' contents in order; an assistant
 * message continues the user message before it directly, every other
 * boundary is "\n". [{role: 'user', content: 'Once upon a time'}] gives
 * exactly "Once upon a time".
 */
export function plainTemplate(messages) {
  if (!Array.isArray(messages)) throw new QwasmError('INVALID_ARGUMENT', 'messages must be an array');
  const text = (m, i) => {
    if (!m || typeof m !== 'object') throw new QwasmError('INVALID_ARGUMENT', `messages[${i}] is not an object`);
    if (!['system', 'user', 'assistant'].includes(m.role))
      throw new QwasmError('INVALID_ARGUMENT', `messages[${i}].role must be 'system', 'user' or 'assistant', got '${m.role}'`);
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) // OpenAI content parts: the text ones
      return m.content.map((p) => (p && p.type === 'text' && typeof p.text === 'string' ? p.text : '')).join('');
    throw new QwasmError('INVALID_ARGUMENT', `messages[${i}].content must be a string`);
  };
  const sys = [], rest = [];
  messages.forEach((m, i) => (m?.role === 'system' ? sys : rest).push([m, text(m, i)]));
  let out = sys.length ? sys.map((x) => x[1]).join('\n') + '\n\n' : '';
  rest.forEach(([m, t], i) => {
    if (i > 0) out += m.role === 'assistant' && rest[i - 1][0].role === 'user' ? '' : '\n';
    out += t;
  });
  return out;
}

// ------------------------------------------------------------ transport --
// {send(msg, transfer), terminate()} and messages delivered to onMessage;
// onDeath(message) when the worker goes away unasked.

async function workerTransport(onMessage, onDeath, workerUrl) {
  const url = workerUrl ? new URL(workerUrl, import.meta.url) : new URL('./worker.mjs', import.meta.url);
  if (IS_NODE) {
    const { Worker } = await import('node:worker_threads');
    // the worker takes Node's options, except those only a main script can have
    const execArgv = [];
    for (let i = 0, a = process.execArgv; i < a.length; i++) {
      if (['-e', '-p', '--eval', '--print'].includes(a[i])) { i++; continue; }
      if (/^--(input-type|eval|print)(=|$)/.test(a[i])) continue;
      execArgv.push(a[i]);
    }
    const w = new Worker(url, { execArgv });
    let ended = false;
    w.on('message', onMessage);
    w.on('error', (e) => onDeath(`the worker failed: ${e?.message ?? e}`));
    w.on('messageerror', () => onDeath('a message from the worker could not be deserialized'));
    w.on('exit', (code) => { if (!ended) onDeath(`the worker exited (code ${code})`); });
    return {
      send: (m, transfer) => w.postMessage(m, transfer ?? []),
      terminate: async () => { ended = true; await w.terminate(); },
    };
  }
  const w = new Worker(url, { type: 'module' });
  w.onmessage = (ev) => onMessage(ev.data);
  w.onerror = (ev) => { ev.preventDefault?.(); onDeath(`the worker failed: ${ev.message ?? 'error'}`); };
  w.onmessageerror = () => onDeath('a message from the worker could not be deserialized');
  return {
    send: (m, transfer) => w.postMessage(m, transfer ?? []),
    terminate: async () => w.terminate(),
  };
}

// The same host, in this thread: requests and replies are passed as they are.
function localTransport(onMessage, onDeath) {
  let host = new EngineHost((m) => queueMicrotask(() => onMessage(m)), () => {});
  return {
    send: (m) => host?.handle(m),
    terminate: async () => { host = null; },
  };
}

// ---------------------------------------------------------------- client --

class Client {
  constructor() {
    this.pending = new Map(); // id -> { resolve, reject, onProgress, onPiece }
    this.nextId = 1;
    this.disposed = false;
    this.transport = null;
  }

  onMessage(m) {
    if (!m || typeof m !== 'object') return;
    if (m.fatal) { this.die(`the worker died: ${m.fatal.message}`); return; }
    const p = this.pending.get(m.id);
    if (!p) return;
    if ('progress' in m) { p.onProgress?.(m.progress[0], m.progress[1]); return; }
    if ('piece' in m) { p.onPiece?.(m.piece); return; }
    this.pending.delete(m.id);
    p.cleanup?.();
    if (m.ok) p.resolve(m.value);
    else p.reject(new QwasmError(m.error?.code ?? 'WORKER', m.error?.message ?? 'unknown error'));
  }

  die(message) {
    if (this.disposed && !this.pending.size) return;
    this.disposed = true;
    const err = new QwasmError('WORKER', message);
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) { p.cleanup?.(); p.reject(err); }
    this.transport?.terminate().catch(() => {});
  }

  /** Sends a request; the promise settles with its reply. */
  call(op, args = {}, { onProgress, onPiece, signal, transfer } = {}) {
    if (this.disposed) return Promise.reject(disposedError());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const p = { resolve, reject, onProgress, onPiece };
      if (signal) {
        const onAbort = () => { if (this.pending.has(id)) this.transport.send({ id: 0, op: 'cancel', args: { target: id } }); };
        signal.addEventListener('abort', onAbort, { once: true });
        p.cleanup = () => signal.removeEventListener('abort', onAbort);
        if (signal.aborted) queueMicrotask(onAbort);
      }
      this.pending.set(id, p);
      p.id = id;
      try {
        this.transport.send({ id, op, args }, transfer);
      } catch (e) {
        this.pending.delete(id);
        p.cleanup?.();
        reject(e instanceof QwasmError ? e : new QwasmError('INVALID_ARGUMENT', `cannot send the request: ${e?.message ?? e}`));
      }
    });
  }

  cancel(id) {
    if (this.pending.has(id) && !this.disposed) this.transport.send({ id: 0, op: 'cancel', args: { target: id } });
  }

  async dispose() {
    if (this.disposed) return;
    // ask the worker to free the module (and its threads), then end it
    const bye = this.call('dispose').catch(() => {});
    let timer;
    await Promise.race([bye, new Promise((r) => { timer = setTimeout(r, 2000); })]);
    clearTimeout(timer);
    this.disposed = true;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) { p.cleanup?.(); p.reject(disposedError()); }
    await this.transport.terminate().catch(() => {});
  }
}

// ---------------------------------------------------------------- engine --

// A model source as it can cross to the worker: relative URLs resolved here
// (the worker's base URL is its own script), URL objects as strings, Node
// file: URLs as paths; ReadableStreams transferred.
async function prepareSource(src, transfer) {
  if (Array.isArray(src)) {
    const out = [];
    for (const s of src) out.push(await prepareSource(s, transfer));
    return out;
  }
  if (typeof URL === 'function' && src instanceof URL) src = src.href;
  if (typeof src === 'string') {
    if (IS_NODE) {
      if (/^file:/i.test(src)) return (await import('node:url')).fileURLToPath(src);
      if (!hasScheme(src)) return (await import('node:path')).resolve(src);
      return src;
    }
    return new URL(src, globalThis.location?.href).href;
  }
  if (typeof ReadableStream === 'function' && src instanceof ReadableStream) transfer.push(src);
  return src;
}

const LOAD_KEYS = ['name', 'size', 'sizes', 'expectSha256', 'computeSha256', 'rangeChunkBytes'];
const COMPLETE_KEYS = ['prompt', 'maxTokens', 'temperature', 'topK', 'topP', 'minP', 'repeatPenalty',
  'repeatLastN', 'seed', 'stop', 'addBos', 'nCtx', 'threads', 'cachePrompt'];
const pick = (o, keys) => {
  const r = {};
  for (const k of keys) if (o[k] !== undefined) r[k] = o[k];
  return r;
};

let chatSeq = 0;
const chatId = () => `chatcmpl-${Date.now().toString(36)}${(chatSeq++).toString(36)}${Math.random().toString(36).slice(2, 8)}`;

class QwasmEngine {
  constructor(client, variant, threads) {
    this._c = client;
    this.variant = variant;
    this.threads = threads;
    this.modelName = null;
    const self = this;
    this.chat = { completions: { create: (req) => self._chat(req) } };
  }

  /** Loads (or replaces) the model; resolves with ModelInfo + EngineInfo. */
  async load(model, opts = {}) {
    const transfer = [];
    const source = await prepareSource(model, transfer);
    const args = { source, opts: { ...pick(opts, LOAD_KEYS), progress: typeof opts.onProgress === 'function' } };
    const info = await this._c.call('load', args, { onProgress: opts.onProgress, signal: opts.signal, transfer });
    const first = Array.isArray(model) ? model[0] : model;
    const str = typeof first === 'string' ? first : typeof URL === 'function' && first instanceof URL ? first.href : null;
    this.modelName = opts.name ?? (str !== null ? str.replace(/[?#].*$/, '').split(/[\\/]/).pop()
      : typeof first?.name === 'string' && first.name ? first.name : 'model.gguf');
    return info;
  }

  info() { return this._c.call('info'); }
  tokenize(text, opts = {}) {
    return this._c.call('tokenize', { text: String(text), ...(opts.addBos !== undefined ? { addBos: !!opts.addBos } : {}) });
  }
  detokenize(ids) { return this._c.call('detokenize', { ids: Array.from(ids ?? []) }); }
  eval(tokens, opts = {}) { return this._c.call('eval', { tokens: Array.from(tokens ?? []), opts: pick(opts, ['top', 'batch', 'nCtx', 'threads']) }); }
  dispose() { return this._c.dispose(); }

  /**
   * Generates text after opts.prompt: an async iterable of text pieces with a
   * `stats` promise. Aborting opts.signal (or leaving the loop early) ends the
   * iteration at once (no throw; nothing more is yielded) and stops the
   * worker before its next token; stats.finishReason is then 'aborted'.
   */
  complete(opts = {}) {
    const queue = [];
    let wake = null, state = 'running', error = null, abortedHere = false;
    const signal = opts.signal;
    const ping = () => { const w = wake; wake = null; w?.(); };
    let id = 0;
    const onPiece = (p) => { if (!abortedHere) { queue.push(p); ping(); } };
    const call = this._c.call('complete', pick(opts, COMPLETE_KEYS), { onPiece, signal });
    id = this._c.nextId - 1;
    const onAbort = () => { abortedHere = true; queue.length = 0; ping(); };
    if (signal) {
      if (signal.aborted) onAbort(); else signal.addEventListener('abort', onAbort, { once: true });
    }
    const stats = call.then((s) => {
      if (abortedHere && s) s.finishReason = 'aborted';
      return s;
    });
    stats.catch(() => {}); // a caller that only iterates sees the error there
    call.then(() => { state = 'done'; ping(); }, (e) => { state = 'error'; error = e; ping(); })
      .finally(() => signal?.removeEventListener('abort', onAbort));
    const client = this._c;
    const it = {
      async next() {
        for (;;) {
          if (abortedHere) return { value: undefined, done: true };
          if (queue.length) return { value: queue.shift(), done: false };
          if (state === 'error') { state = 'failed'; throw error; }
          if (state !== 'running') return { value: undefined, done: true };
          await new Promise((r) => { wake = r; });
        }
      },
      async return() {
        if (state === 'running') { abortedHere = true; queue.length = 0; client.cancel(id); }
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() { return this; },
    };
    return { [Symbol.asyncIterator]: () => it, next: () => it.next(), return: () => it.return(), stats };
  }

  _chatArgs(req) {
    if (!req || typeof req !== 'object') throw new QwasmError('INVALID_ARGUMENT', 'create() needs a request object');
    const template = req.template ?? plainTemplate;
    if (typeof template !== 'function') throw new QwasmError('INVALID_ARGUMENT', 'template must be a function (messages) => prompt');
    const prompt = template(req.messages);
    if (typeof prompt !== 'string') throw new QwasmError('INVALID_ARGUMENT', 'the template must return a string');
    // OpenAI's snake_case names are taken too
    const o = {
      ...req,
      maxTokens: req.maxTokens ?? req.max_tokens ?? req.max_completion_tokens,
      topP: req.topP ?? req.top_p,
      topK: req.topK ?? req.top_k,
      minP: req.minP ?? req.min_p,
      repeatPenalty: req.repeatPenalty ?? req.repeat_penalty,
      repeatLastN: req.repeatLastN ?? req.repeat_last_n,
      prompt,
    };
    return o;
  }

  async _chat(req) {
    const o = this._chatArgs(req);
    const id = chatId(), created = Math.floor(Date.now() / 1000), model = req.model ?? this.modelName ?? 'model.gguf';
    const finish = (s) => (s.finishReason === 'length' || s.finishReason === 'context' ? 'length' : 'stop');
    const usage = (s) => ({ prompt_tokens: s.promptTokens, completion_tokens: s.genTokens, total_tokens: s.promptTokens + s.genTokens,
      prompt_tokens_details: { cached_tokens: s.promptCached ?? 0 } });
    if (!req.stream) {
      const c = this.complete(o);
      let content = '';
      for await (const piece of c) content += piece;
      const s = await c.stats;
      if (req.signal?.aborted) throw new QwasmError('ABORTED', 'the request was aborted');
      return {
        id, object: 'chat.completion', created, model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finish(s) }],
        usage: usage(s),
      };
    }
    const c = this.complete(o);
    const chunk = (delta, finishReason, extra) => ({
      id, object: 'chat.completion.chunk', created, model,
      choices: [{ index: 0, delta, finish_reason: finishReason }], ...extra,
    });
    async function* gen() {
      let ended = false;
      try {
        yield chunk({ role: 'assistant', content: '' }, null);
        for await (const piece of c) yield chunk({ content: piece }, null);
        const s = await c.stats;
        ended = true;
        yield chunk({}, finish(s), { usage: usage(s) });
      } finally {
        if (!ended) await c.return();
      }
    }
    const g = gen();
    g.stats = c.stats;
    return g;
  }
}

/**
 * Creates an engine (in a worker unless opts.worker === false) and, with
 * opts.model, loads a model. See docs/JSAPI.md.
 */
export async function createEngine(opts = {}) {
  const threads = opts.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 512)
    throw new QwasmError('INVALID_ARGUMENT', `threads must be an integer in [1, 512], got ${threads}`);
  let variant = opts.variant ?? 'auto';
  let runThreads = threads;
  if (variant === 'auto') {
    const canMt = IS_NODE || globalThis.crossOriginIsolated === true;
    variant = threads > 1 && canMt ? 'mt' : 'st';
    if (variant === 'st') runThreads = 1;
  }
  if (variant !== 'st' && variant !== 'mt') throw new QwasmError('INVALID_ARGUMENT', `unknown variant '${variant}' (auto, st, mt)`);
  if (opts.simd !== undefined && !['auto', 'simd128', 'relaxed'].includes(opts.simd))
    throw new QwasmError('INVALID_ARGUMENT', `unknown simd '${opts.simd}' (auto, simd128, relaxed)`);
  const client = new Client();
  const onMessage = (m) => client.onMessage(m);
  const onDeath = (why) => client.die(why);
  try {
    client.transport = opts.worker === false ? localTransport(onMessage, onDeath)
      : await workerTransport(onMessage, onDeath, opts.workerUrl);
  } catch (e) {
    throw new QwasmError('WORKER', `cannot start the worker: ${e?.message ?? e}`);
  }
  const engine = new QwasmEngine(client, variant, runThreads);
  try {
    const moduleUrl = opts.moduleUrl === undefined ? undefined : String(new URL(opts.moduleUrl, globalThis.location?.href ?? import.meta.url));
    await client.call('init', { variant, simd: opts.simd ?? 'auto', threads: runThreads, ...(moduleUrl ? { moduleUrl } : {}) });
    if (opts.model !== undefined) await engine.load(opts.model, opts);
  } catch (e) {
    await client.dispose().catch(() => {});
    throw e;
  }
  return engine;
}

// qwasm in JavaScript: a small layer over the WebAssembly module built by
// scripts/build-wasm.sh (build-wasm/ single-threaded, build-wasm-mt/ pthreads).
// Works in Node and browsers; the model bytes are streamed straight into their
// final place in wasm memory (one allocation, no copy afterwards).
//
//   import { Engine } from './engine.mjs';
//   const e = await Engine.create({ variant: 'st' });   // or { variant: 'mt', threads: 2 }
//   await e.load('/path/model.gguf');                  // Node path, URL, Blob, ArrayBuffer or Uint8Array
//   for await (const piece of e.complete({ prompt: 'Once upon a time', maxTokens: 64, temperature: 0 }))
//     process.stdout.write(piece);
//   e.dispose();
//
// Every failure is a QwasmError whose `code` is the library's status name
// (BAD_MODEL, TRUNCATED, UNSUPPORTED_TYPE, OUT_OF_MEMORY, INVALID_ARGUMENT, IO, ...)
// and whose message is the text the native CLI prints for it.

const IS_NODE = typeof process === 'object' && typeof process.versions === 'object' &&
  typeof process.versions.node === 'string';

export class QwasmError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'QwasmError';
    this.code = code;
  }
}

const MODULE_DIRS = { st: '../build-wasm/', mt: '../build-wasm-mt/' };
// the field order of qwb_model_info (wasm/bindings.c)
const INFO_FIELDS = ['nVocab', 'nCtxTrain', 'nEmbd', 'nLayer', 'nHead', 'nHeadKv', 'headDim',
  'nFf', 'ropeDim', 'ropeBase', 'ropeNeox', 'rmsEps', 'tiedOutput', 'bos', 'eos', 'addBos',
  'nParams', 'weightBytes', 'fileBytes', 'ggufVersion', 'nShards', 'ropeFreqs'];
const BOOL_FIELDS = new Set(['ropeNeox', 'tiedOutput', 'addBos', 'ropeFreqs']);

const now = () => (typeof performance === 'object' ? performance.now() : Date.now());
const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

// ------------------------------------------------------------ formatting --
// printf-compatible number formatting, so that JS output equals the C CLI's.

/** printf("%.<digits>f", x) for a double, exactly (correct rounding, ties to even). */
export function formatFixed(x, digits) {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const neg = x < 0 || Object.is(x, -0);
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, Math.abs(x));
  const bits = dv.getBigUint64(0);
  let e = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  if (e === 0) e = 1; else mant |= 1n << 52n;
  const e2 = e - 1075; // |x| = mant * 2^e2 exactly
  let num = mant * 10n ** BigInt(digits), den = 1n;
  if (e2 >= 0) num <<= BigInt(e2); else den <<= BigInt(-e2);
  let q = num / den;
  const r2 = (num % den) * 2n;
  if (r2 > den || (r2 === den && (q & 1n))) q += 1n;
  let s = q.toString();
  if (digits > 0) {
    s = s.padStart(digits + 1, '0');
    s = s.slice(0, -digits) + '.' + s.slice(-digits);
  }
  return (neg ? '-' : '') + s;
}

/** printf("%g", x) (precision 6). */
export function formatG(x) {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [m, ex] = x.toExponential(5).split('e');
  const X = Number(ex);
  const strip = (s) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (X < -4 || X >= 6) {
    const a = Math.abs(X);
    return strip(m) + 'e' + (X < 0 ? '-' : '+') + (a < 10 ? '0' : '') + a;
  }
  return strip(formatFixed(x, 5 - X));
}

/** One line of `qwasm eval` output (without the newline). */
export function formatEvalRow(row) {
  return `{"pos":${row.pos},"token":${row.token},"top":[` +
    row.top.map(([id, l]) => `[${id},${formatFixed(l, 6)}]`).join(',') + ']}';
}

/** The text `qwasm info` prints (with the trailing newline). */
export function formatInfo(info, path) {
  const i = info;
  const f2 = (x) => formatFixed(x, 2);
  return [
    `file:            ${path} (${i.nShards} part${i.nShards > 1 ? 's' : ''}, ${f2(i.fileBytes / 1e6)} MB, GGUF v${i.ggufVersion})`,
    `architecture:    ${i.arch}`,
    `parameters:      ${i.nParams} (${f2(i.nParams / 1e6)} M)`,
    `weights:         ${f2(i.weightBytes / 1e6)} MB (${f2(8.0 * i.weightBytes / i.nParams)} bits per parameter)`,
    `vocab:           ${i.nVocab} (bos ${i.bos}, eos ${i.eos}, add bos ${i.addBos ? 'yes' : 'no'})`,
    `context (train): ${i.nCtxTrain}`,
    `width:           ${i.nEmbd}`,
    `layers:          ${i.nLayer}`,
    `heads:           ${i.nHead} (kv ${i.nHeadKv}, head size ${i.headDim})`,
    `feed-forward:    ${i.nFf}`,
    `rope:            ${i.ropeDim} dims, base ${formatG(i.ropeBase)}, ${i.ropeNeox ? 'neox' : 'normal'}${i.ropeFreqs ? ', per-frequency factors' : ''}`,
    `rms epsilon:     ${formatG(i.rmsEps)}`,
    `output:          ${i.tiedOutput ? 'tied to token_embd' : 'separate'}`,
    `kv cache:        ${formatFixed(2.0 * i.nLayer * i.nHeadKv * i.headDim * 4 / 1024.0, 1)} KB per token (F32)`,
    'tensor types:   ' + i.tensorTypes.map((t) => ` ${t.type} x${t.count}`).join(''),
  ].join('\n') + '\n';
}

// --------------------------------------------------------------- engine --

export class Engine {
  /**
   * Instantiates the WebAssembly module. opts.variant 'st' (default) or 'mt'
   * (pthreads; needs cross-origin isolation in browsers); opts.threads
   * (default 1) is the thread count used for contexts, and sizes the worker
   * pool of the mt variant; opts.moduleUrl overrides where qwasm.mjs is.
   */
  static async create(opts = {}) {
    const variant = opts.variant ?? 'st';
    if (!MODULE_DIRS[variant]) throw new QwasmError('INVALID_ARGUMENT', `unknown variant '${variant}' (st, mt)`);
    const threads = opts.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1 || threads > 512)
      throw new QwasmError('INVALID_ARGUMENT', `--threads expects an integer in [1, 512], got '${threads}'`);
    if (variant === 'st' && threads > 1 && !opts.allowInlineThreads)
      throw new QwasmError('INVALID_ARGUMENT', 'the single-threaded build runs 1 thread (use the mt variant)');
    const moduleUrl = new URL(opts.moduleUrl ?? MODULE_DIRS[variant] + 'qwasm.mjs', import.meta.url);
    const factory = (await import(moduleUrl.href)).default;
    const args = { qwPoolSize: Math.max(1, threads - 1) };
    if (IS_NODE && moduleUrl.protocol === 'file:') {
      // Node's fetch() cannot read file: URLs; hand the module its binary
      const { readFile } = await import('node:fs/promises');
      args.wasmBinary = await readFile(new URL('qwasm.wasm', moduleUrl));
    }
    args.print = () => {};
    args.printErr = () => {};
    const mod = await factory(args);
    return new Engine(mod, variant, threads);
  }

  constructor(mod, variant, threads) {
    this.mod = mod;
    this.variant = variant;
    this.threads = threads;
    this.model = 0;
    this.modelBytes = 0;
    this.info_ = null;
    this.lastStats = null;
  }

  // ---- memory helpers
  u8() { return new Uint8Array(this.mod.qwBuffer()); }
  str(ptr) {
    if (!ptr) return '';
    const h = this.u8();
    let end = ptr;
    while (h[end]) end++;
    return utf8d.decode(h.slice(ptr, end));
  }
  alloc(n) {
    const p = this.mod._qwb_malloc(n);
    if (!p) throw new QwasmError('OUT_OF_MEMORY', `cannot allocate ${n} bytes in wasm memory`);
    return p;
  }
  free(p) { if (p) this.mod._qwb_free(p); }
  cstr(s) {
    const b = utf8.encode(s);
    const p = this.alloc(b.length + 1);
    const h = this.u8();
    h.set(b, p);
    h[p + b.length] = 0;
    return [p, b.length];
  }
  fail(prefix = '') {
    const m = this.mod;
    const code = this.str(m._qwb_status_name(m._qwb_last_status()));
    return new QwasmError(code, prefix + this.str(m._qwb_last_error()));
  }
  need() {
    if (!this.mod) throw new QwasmError('INVALID_ARGUMENT', 'the engine has been disposed');
    if (!this.model) throw new QwasmError('INVALID_ARGUMENT', 'no model loaded');
  }

  /** The active kernel path ("wasm-simd128" or "scalar"). */
  kernelPath() { return this.str(this.mod._qwb_kernel_path()); }

  /**
   * Loads a GGUF model (replacing the current one), streaming its bytes
   * straight into their final place in wasm memory: the header is parsed and
   * checked as soon as it is in (a hostile or unsupported file fails before
   * the rest is transferred), the file gets one allocation, and each chunk is
   * written at its offset; nothing is copied afterwards. `source`:
   *   - a file path (Node; read in chunks),
   *   - a URL (string with a scheme, or URL object; relative strings in
   *     browsers): fetched, the body read chunk by chunk; the size comes from
   *     Content-Length (without it, or with a Content-Encoding, the body is
   *     buffered first: not zero-copy),
   *   - a Blob / File (read with stream()),
   *   - an ArrayBuffer / typed array (copied in once).
   * opts.onProgress(bytes, total) after every chunk (monotonic, ends at
   * total); opts.signal (AbortSignal) cancels: QwasmError code ABORTED,
   * everything freed, the engine stays usable. opts.name: the name used in
   * messages (default: the path / URL / File name / 'model.gguf').
   * Network failures: code NETWORK.
   */
  async load(source, opts = {}) {
    if (!this.mod) throw new QwasmError('INVALID_ARGUMENT', 'the engine has been disposed');
    this.unload();
    const signal = opts.signal;
    const onProgress = typeof opts.onProgress === 'function' ? opts.onProgress : null;
    const aborted = () => new QwasmError('ABORTED', 'loading was aborted');
    if (signal?.aborted) throw aborted();
    try {
      let m;
      if (typeof source === 'string' && IS_NODE && !/^[a-z][a-z0-9+.-]*:/i.test(source)) {
        m = await this.loadPath(source, opts.name ?? source, signal, onProgress);
      } else if (typeof source === 'string' || (typeof URL === 'function' && source instanceof URL)) {
        m = await this.loadUrl(String(source), opts.name ?? String(source), signal, onProgress);
      } else if (typeof Blob === 'function' && source instanceof Blob) {
        const name = opts.name ?? (typeof source.name === 'string' && source.name ? source.name : 'model.gguf');
        m = await this.loadChunks(source.size, name, source.stream(), signal, onProgress);
      } else if (source instanceof ArrayBuffer || ArrayBuffer.isView(source) ||
                 (typeof SharedArrayBuffer === 'function' && source instanceof SharedArrayBuffer)) {
        const bytes = source instanceof Uint8Array ? source
          : ArrayBuffer.isView(source) ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
          : new Uint8Array(source);
        const step = 1 << 22;
        const chunks = (function* () {
          for (let off = 0; off < bytes.length; off += step) yield bytes.subarray(off, off + step);
        })();
        m = await this.loadChunks(bytes.length, opts.name ?? 'model.gguf', chunks, signal, onProgress);
      } else {
        throw new QwasmError('INVALID_ARGUMENT', 'load() needs a path, URL, Blob, ArrayBuffer or typed array');
      }
      this.model = m;
      this.info_ = this.readInfo();
      return this.info_;
    } catch (e) {
      if (signal?.aborted && !(e instanceof QwasmError && e.code === 'ABORTED')) throw aborted();
      throw e;
    }
  }

  // The staged loader (qwb_loader_*): `feed(sink)` delivers the file's bytes
  // in order, either sink.push(chunk) or sink.view(n) (a fresh view of wasm
  // memory at the current offset; fill it, then sink.commit(k)). Returns the
  // model handle; the loader is freed whatever happens.
  async streamInto(total, name, signal, onProgress, feed) {
    const mod = this.mod;
    if (!Number.isSafeInteger(total) || total < 0) throw new QwasmError('INVALID_ARGUMENT', `${name}: invalid size ${total}`);
    if (total > 0xfffff000) throw new QwasmError('OUT_OF_MEMORY', `${name}: ${total} bytes is too large for this address space`);
    const [np] = this.cstr(name);
    const l = mod._qwb_loader_create(total, np);
    this.free(np);
    if (!l) throw this.fail();
    try {
      // the buffer's address is fixed; the ArrayBuffer over wasm memory is
      // not (growth replaces it), so every view is made fresh
      const base = mod._qwb_loader_buffer(l) >>> 0;
      let have = 0, need = 1, headerOk = false;
      const sink = {
        view: (n) => new Uint8Array(mod.qwBuffer(), base + have, Math.min(n, total - have)),
        commit: (k) => {
          if (signal?.aborted) throw new QwasmError('ABORTED', 'loading was aborted');
          have += k;
          if (!headerOk && have >= need) {
            const r = mod._qwb_loader_header(l, have);
            if (r < 0) throw this.fail();
            if (r === 0) headerOk = true; else need = r;
          }
          if (onProgress) onProgress(have, total);
        },
        push: (chunk) => {
          if (signal?.aborted) throw new QwasmError('ABORTED', 'loading was aborted');
          if (chunk.length > total - have)
            throw new QwasmError('NETWORK', `${name}: more bytes than the ${total} announced`);
          if (chunk.length === 0) return;
          sink.view(chunk.length).set(chunk);
          sink.commit(chunk.length);
        },
        get have() { return have; },
      };
      await feed(sink);
      if (signal?.aborted) throw new QwasmError('ABORTED', 'loading was aborted');
      const m = mod._qwb_loader_finish(l, have);
      if (!m) throw this.fail();
      return m;
    } finally {
      mod._qwb_loader_free(l);
    }
  }

  // chunks: a ReadableStream or an (async) iterable of Uint8Array
  async loadChunks(total, name, chunks, signal, onProgress) {
    return this.streamInto(total, name, signal, onProgress, async (sink) => {
      if (typeof chunks.getReader === 'function') {
        const reader = chunks.getReader();
        let done = false;
        try {
          for (;;) {
            if (signal?.aborted) break;
            const r = await reader.read();
            if (r.done) { done = true; break; }
            sink.push(r.value);
          }
        } finally {
          if (!done) await reader.cancel().catch(() => {});
          reader.releaseLock();
        }
      } else {
        for await (const c of chunks) {
          sink.push(c);
          if (signal?.aborted) break;
        }
      }
    });
  }

  // A file path (Node): read straight into the loader's buffer, 4 MB at a
  // time, yielding to the event loop between reads (for the abort signal).
  // Errors worded as the C library's qw_map_file words them.
  async loadPath(path, name, signal, onProgress) {
    const fs = await import('node:fs');
    const errno = { ENOENT: 'No such file or directory', EACCES: 'Permission denied',
      ENOTDIR: 'Not a directory', ELOOP: 'Too many levels of symbolic links',
      ENAMETOOLONG: 'File name too long', EMFILE: 'Too many open files' };
    let fd;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new QwasmError('IO', `cannot open '${path}': ${errno[e.code] ?? e.message}`);
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new QwasmError('IO', `'${path}' is not a regular file`);
      if (st.size === 0) throw new QwasmError('BAD_MODEL', `'${path}' is empty`);
      if (st.size > 0xfffff000) throw new QwasmError('OUT_OF_MEMORY', `'${path}' is too large for this address space`);
      const size = st.size;
      return await this.streamInto(size, name, signal, onProgress, async (sink) => {
        while (sink.have < size) {
          const view = sink.view(1 << 22);
          const got = fs.readSync(fd, view, 0, view.length, sink.have);
          if (got <= 0) throw new QwasmError('IO', `short read on '${path}'`);
          sink.commit(got);
          if (sink.have < size) await new Promise((r) => setImmediate(r));
        }
      });
    } finally {
      fs.closeSync(fd);
    }
  }

  async loadUrl(url, name, signal, onProgress) {
    let res;
    try {
      res = await fetch(url, signal ? { signal } : {});
    } catch (e) {
      if (signal?.aborted) throw new QwasmError('ABORTED', 'loading was aborted');
      throw new QwasmError('NETWORK', `${name}: cannot fetch: ${e.cause?.message ?? e.message}`);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new QwasmError('NETWORK', `${name}: HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}`);
    }
    const enc = (res.headers.get('content-encoding') ?? 'identity').toLowerCase();
    const len = res.headers.get('content-length');
    let total = len !== null && enc === 'identity' && /^\d+$/.test(len.trim()) ? Number(len) : NaN;
    const netError = (e, have) => {
      if (e instanceof QwasmError) return e;
      if (signal?.aborted) return new QwasmError('ABORTED', 'loading was aborted');
      const why = e?.cause?.message ?? e?.message ?? String(e);
      return new QwasmError('NETWORK', `${name}: the connection failed after ${have}${Number.isFinite(total) ? ` of ${total}` : ''} bytes (${why})`);
    };
    if (!res.body) throw new QwasmError('NETWORK', `${name}: the response has no body`);
    if (!Number.isSafeInteger(total)) {
      // no usable Content-Length: buffer the body, then load it (one copy)
      const parts = [];
      let n = 0;
      const reader = res.body.getReader();
      try {
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          parts.push(r.value);
          n += r.value.length;
        }
      } catch (e) {
        throw netError(e, n);
      } finally {
        reader.releaseLock();
      }
      total = n;
      return this.loadChunks(total, name, parts, signal, onProgress);
    }
    if (total === 0) {
      await res.body.cancel().catch(() => {});
      throw new QwasmError('BAD_MODEL', `'${name}' is empty`);
    }
    let have = 0;
    const body = res.body;
    const counted = {
      getReader: () => {
        const r = body.getReader();
        return {
          read: async () => {
            try {
              const x = await r.read();
              if (!x.done) have += x.value.length;
              return x;
            } catch (e) {
              throw netError(e, have);
            }
          },
          cancel: () => r.cancel(),
          releaseLock: () => r.releaseLock(),
        };
      },
    };
    const m = await this.loadChunks(total, name, counted, signal, onProgress);
    return m;
  }

  readInfo() {
    const m = this.mod;
    const n = INFO_FIELDS.length;
    const p = this.alloc(8 * n);
    m._qwb_model_info(this.model, p);
    const v = new Float64Array(m.qwBuffer(), p, n).slice();
    this.free(p);
    const info = { arch: this.str(m._qwb_model_arch(this.model)) };
    INFO_FIELDS.forEach((k, i) => { info[k] = BOOL_FIELDS.has(k) ? v[i] !== 0 : v[i]; });
    info.tensorTypes = [];
    for (let t = 0; t < 64; t++) {
      const c = m._qwb_model_type_count(this.model, t);
      if (c) info.tensorTypes.push({ type: this.str(m._qwb_type_name(t)), count: c });
    }
    return info;
  }

  /** Hyperparameters, tokens, sizes and tensor types of the loaded model. */
  info() {
    this.need();
    return { ...this.info_, kernelPath: this.kernelPath(), variant: this.variant };
  }

  /** Token ids of text; addBos defaults to the model's add_bos flag. */
  tokenize(text, opts = {}) {
    this.need();
    const addBos = opts.addBos ?? this.info_.addBos;
    const [tp, len] = this.cstr(text);
    let cap = len + 8, out = 0;
    try {
      for (;;) {
        out = this.alloc(4 * cap);
        const k = this.mod._qwb_tokenize(this.model, tp, len, addBos ? 1 : 0, out, cap);
        if (k < 0) throw this.fail('cannot tokenize: ');
        if (k <= cap) return Array.from(new Int32Array(this.mod.qwBuffer(), out, k));
        this.free(out);
        out = 0;
        cap = k;
      }
    } finally {
      this.free(out);
      this.free(tp);
    }
  }

  /** Text of one token (raw piece, as qw_token_to_bytes gives it). */
  tokenText(id) {
    this.need();
    const p = this.alloc(256);
    try {
      const k = this.mod._qwb_token_to_bytes(this.model, id, p, 256);
      if (k < 0) throw new QwasmError('INVALID_ARGUMENT', `token id ${id} is out of range`);
      return utf8d.decode(this.u8().slice(p, p + k));
    } finally {
      this.free(p);
    }
  }

  newContext(nCtx, threads) {
    const c = this.mod._qwb_context_create(this.model, nCtx, threads);
    if (!c) throw this.fail('cannot create the context: ');
    return c;
  }

  /**
   * Teacher-forced logits: for every position P, the `top` (default 5) most
   * likely next tokens, [{pos, token, top: [[id, logit], ...]}], what
   * `qwasm eval` prints. batch: decode the first `batch` tokens as one batch,
   * then one token at a time (default: all as one batch). nCtx (default: the
   * sequence length), threads (default: the engine's).
   */
  eval(tokens, opts = {}) {
    this.need();
    const m = this.mod;
    const V = this.info_.nVocab;
    const ids = Array.from(tokens);
    const n = ids.length;
    const top = opts.top ?? 5;
    if (n === 0) throw new QwasmError('INVALID_ARGUMENT', 'no tokens to evaluate');
    if (!Number.isInteger(top) || top < 1) throw new QwasmError('INVALID_ARGUMENT', `top must be a positive integer, got ${top}`);
    for (let i = 0; i < n; i++)
      if (!Number.isInteger(ids[i]) || ids[i] < 0 || ids[i] >= V)
        throw new QwasmError('INVALID_ARGUMENT', `token id ${ids[i]} at index ${i} is out of range [0, ${V})`);
    const batch = Math.min(opts.batch ?? n, n);
    if (!Number.isInteger(batch) || batch < 1) throw new QwasmError('INVALID_ARGUMENT', `batch must be a positive integer, got ${opts.batch}`);
    const K = Math.min(top, V);
    const ctx = this.newContext(opts.nCtx > 0 ? opts.nCtx : n, opts.threads ?? this.threads);
    const tp = this.alloc(4 * n), topIds = this.alloc(4 * K), topVals = this.alloc(4 * K);
    const rows = [];
    try {
      new Int32Array(m.qwBuffer(), tp, n).set(ids);
      const collect = (rowInBatch, pos) => {
        const k = m._qwb_top_k(ctx, V, rowInBatch, K, topIds, topVals);
        const buf = m.qwBuffer();
        const idv = new Int32Array(buf, topIds, k), lv = new Float32Array(buf, topVals, k);
        const t = [];
        for (let j = 0; j < k; j++) t.push([idv[j], lv[j]]);
        rows.push({ pos, token: ids[pos], top: t });
      };
      if (m._qwb_decode(ctx, tp, batch, 1) !== 0) throw this.fail('decode failed: ');
      for (let p = 0; p < batch; p++) collect(p, p);
      for (let p = batch; p < n; p++) {
        if (m._qwb_decode(ctx, tp + 4 * p, 1, 1) !== 0) throw this.fail('decode failed: ');
        collect(0, p);
      }
      return rows;
    } finally {
      this.free(tp); this.free(topIds); this.free(topVals);
      m._qwb_context_free(ctx);
    }
  }

  /**
   * Generates text after a prompt, as `qwasm run` does; an async iterator of
   * text pieces (the prompt itself is not repeated). Options: prompt,
   * maxTokens (128), temperature (0.8; 0 = greedy), topK (40), topP (0.95),
   * minP (0.05), repeatPenalty (1), repeatLastN (64), seed (default: the
   * time in seconds), stop (string or strings), addBos, nCtx, threads.
   * After the iteration, engine.lastStats holds token counts and timings.
   */
  async *complete(opts = {}) {
    this.need();
    const m = this.mod;
    const hp = this.info_;
    if (typeof opts.prompt !== 'string') throw new QwasmError('INVALID_ARGUMENT', 'run needs a prompt (-p TEXT)');
    const nPredict = opts.maxTokens ?? 128;
    const stops = opts.stop === undefined ? [] : [].concat(opts.stop);
    if (stops.some((s) => typeof s !== 'string' || s === '')) throw new QwasmError('INVALID_ARGUMENT', '--stop string is empty');
    const prompt = this.tokenize(opts.prompt, { addBos: opts.addBos ?? hp.addBos });
    const nPrompt = prompt.length;
    if (nPrompt === 0) throw new QwasmError('INVALID_ARGUMENT', 'the prompt is empty and the model adds no BOS token');
    let nCtx = opts.nCtx ?? 0;
    if (nCtx <= 0) {
      const want = nPrompt + nPredict;
      nCtx = want < hp.nCtxTrain ? want : hp.nCtxTrain;
      if (nCtx < 16) nCtx = 16;
    }
    if (nPrompt > nCtx) throw new QwasmError('INVALID_ARGUMENT', `the prompt has ${nPrompt} tokens but the context holds ${nCtx}`);
    const d = new Float64Array(6);
    { const p = this.alloc(48); m._qwb_sampler_defaults(p); d.set(new Float64Array(m.qwBuffer(), p, 6)); this.free(p); }
    let seed = opts.seed ?? Math.floor(Date.now() / 1000);
    seed = BigInt.asUintN(64, BigInt(seed));
    const threads = opts.threads ?? this.threads;
    const ctx = this.newContext(nCtx, threads);
    let smp = 0, detok = 0, tp = 0, piece = 0;
    const stats = { promptTokens: nPrompt, promptMs: 0, genTokens: 0, genMs: 0, threads, contextFull: false, stopped: false };
    this.lastStats = stats;
    try {
      smp = m._qwb_sampler_create(hp.nVocab, opts.temperature ?? d[0], opts.topK ?? d[1],
        opts.topP ?? d[2], opts.minP ?? d[3], opts.repeatPenalty ?? d[4], opts.repeatLastN ?? d[5],
        Number(seed & 0xffffffffn), Number(seed >> 32n));
      if (!smp) throw this.fail('bad sampling options: ');
      for (const t of prompt) m._qwb_sampler_accept(smp, t);
      tp = this.alloc(4 * nPrompt);
      new Int32Array(m.qwBuffer(), tp, nPrompt).set(prompt);
      detok = m._qwb_detok_new();
      piece = this.alloc(256);
      if (!detok) throw new QwasmError('OUT_OF_MEMORY', 'out of memory');
      const t0 = now();
      if (m._qwb_decode(ctx, tp, nPrompt, 0) !== 0) throw this.fail('decode failed: ');
      const t1 = now();
      stats.promptMs = t1 - t0;
      const eos = hp.eos;
      let text = '';      // produced, not yet emitted (could start a stop string)
      let nGen = 0, stopped = false;
      // what of `text` may be emitted now; sets stopped on a stop string
      const flush = (final) => {
        for (const s of stops) {
          const hit = text.indexOf(s);
          if (hit >= 0) {
            const out = text.slice(0, hit);
            text = '';
            stopped = true;
            return out;
          }
        }
        let safe = text.length;
        if (!final) {
          for (const s of stops) {
            for (let k = s.length - 1; k > 0; k--) {
              if (k <= text.length && text.endsWith(s.slice(0, k))) {
                if (text.length - k < safe) safe = text.length - k;
                break;
              }
            }
          }
        }
        const out = text.slice(0, safe);
        text = text.slice(safe);
        return out;
      };
      const readPiece = (k) => utf8d.decode(this.u8().slice(piece, piece + k));
      while (nGen < nPredict && !stopped) {
        const tok = m._qwb_sampler_sample(smp, ctx);
        if (tok === eos) break;
        m._qwb_sampler_accept(smp, tok);
        nGen++;
        stats.genTokens = nGen;
        const k = m._qwb_detok_push(this.model, detok, tok, piece, 256);
        if (k < 0) throw new QwasmError('INVALID_ARGUMENT', `cannot detokenize token ${tok}`);
        text += readPiece(k);
        const out = flush(false);
        if (out) yield out;
        if (stopped || nGen === nPredict) break;
        if (m._qwb_context_pos(ctx) >= m._qwb_context_n_ctx(ctx)) {
          stats.contextFull = true;
          stats.nCtx = m._qwb_context_n_ctx(ctx);
          break;
        }
        new Int32Array(m.qwBuffer(), tp, 1)[0] = tok;
        if (m._qwb_decode(ctx, tp, 1, 0) !== 0) throw this.fail('decode failed: ');
      }
      if (!stopped) {
        const k = m._qwb_detok_flush(detok, piece, 256);
        if (k > 0) text += readPiece(k);
        const out = flush(true);
        if (out) yield out;
      }
      stats.stopped = stopped;
      stats.genMs = now() - t1;
    } finally {
      this.free(piece);
      this.free(tp);
      if (detok) m._qwb_detok_free(detok);
      if (smp) m._qwb_sampler_free(smp);
      m._qwb_context_free(ctx);
    }
  }

  /** Frees the model (the engine stays usable). */
  unload() {
    if (this.model) this.mod._qwb_model_free(this.model);
    this.free(this.modelBytes);
    this.model = 0;
    this.modelBytes = 0;
    this.info_ = null;
  }

  /** Frees everything, including the worker threads of the mt variant. */
  dispose() {
    if (!this.mod) return;
    this.unload();
    if (this.mod.PThread) this.mod.PThread.terminateAllThreads();
    this.mod = null;
  }
}

// qwasm in JavaScript: a small layer over the WebAssembly module built by
// scripts/build-wasm.sh (build-wasm/ single-threaded, build-wasm-mt/ pthreads,
// and the same two with relaxed SIMD in build-wasm-relaxed/, build-wasm-mt-relaxed/).
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

// build directories by thread variant and SIMD flavour (scripts/build-wasm.sh)
const MODULE_DIRS = {
  st: { simd128: '../build-wasm/', relaxed: '../build-wasm-relaxed/' },
  mt: { simd128: '../build-wasm-mt/', relaxed: '../build-wasm-mt-relaxed/' },
};
const SIMD_FLAVOURS = ['auto', 'simd128', 'relaxed'];

// A module with three functions (type, function, export and code sections,
// written by hand): f(a, b, c) = lane 0 of f32x4.relaxed_madd of three
// splats; g() = lane 0 of i32x4.relaxed_dot_i8x16_i7x16_add_s(A, B, C)
// for A = (-128, 127, -1, 5) x 4, B = (127, 127, 127, 0) x 4, C = 7:
// 7 - 16256 + 16129 - 127 = -247; h() = lanes 0 + 1 of
// i16x8.relaxed_dot_i8x16_i7x16_s(E, F) for E = (-128, -128, 5, -3) x 4,
// F = (127, 127, 2, 0) x 4: -32512 + 10 = -32502. The relaxed builds use
// exactly these three relaxed-SIMD instructions.
const DOT_A = [0x80, 0x7f, 0xff, 0x05], DOT_B = [0x7f, 0x7f, 0x7f, 0x00];
const DOT_E = [0x80, 0x80, 0x05, 0xfd], DOT_F = [0x7f, 0x7f, 0x02, 0x00];
const H_BODY = [0x01, 0x01, 0x7b, // one v128 local
  0xfd, 0x0c, ...DOT_E, ...DOT_E, ...DOT_E, ...DOT_E, // v128.const E
  0xfd, 0x0c, ...DOT_F, ...DOT_F, ...DOT_F, ...DOT_F, // v128.const F
  0xfd, 0x92, 0x02, // i16x8.relaxed_dot_i8x16_i7x16_s
  0x22, 0x00, 0xfd, 0x18, 0x00, // local.tee 0, i16x8.extract_lane_s 0
  0x20, 0x00, 0xfd, 0x18, 0x01, // local.get 0, i16x8.extract_lane_s 1
  0x6a, // i32.add
  0x0b];
const G_BODY = [0x00,
  0xfd, 0x0c, ...DOT_A, ...DOT_A, ...DOT_A, ...DOT_A, // v128.const A
  0xfd, 0x0c, ...DOT_B, ...DOT_B, ...DOT_B, ...DOT_B, // v128.const B
  0x41, 0x07, 0xfd, 0x11, // i32.const 7, i32x4.splat
  0xfd, 0x93, 0x02, // i32x4.relaxed_dot_i8x16_i7x16_add_s
  0xfd, 0x1b, 0x00, // i32x4.extract_lane 0
  0x0b];
const F_BODY = [0x00,
  0x20, 0x00, 0xfd, 0x13, 0x20, 0x01, 0xfd, 0x13, 0x20, 0x02, 0xfd, 0x13, // 3x local.get, f32x4.splat
  0xfd, 0x85, 0x02, // f32x4.relaxed_madd
  0xfd, 0x1f, 0x00, // f32x4.extract_lane 0
  0x0b];
const CODE = [0x03, F_BODY.length, ...F_BODY, G_BODY.length, ...G_BODY, H_BODY.length, ...H_BODY];
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x0c, 0x02, 0x60, 0x03, 0x7d, 0x7d, 0x7d, 0x01, 0x7d, 0x60, 0x00, 0x01, 0x7f, // types
  0x03, 0x04, 0x03, 0x00, 0x01, 0x01, // f: type 0, g and h: type 1
  0x07, 0x0d, 0x03, 0x01, 0x66, 0x00, 0x00, 0x01, 0x67, 0x00, 0x01, 0x01, 0x68, 0x00, 0x02, // export "f", "g", "h"
  0x0a, CODE.length, ...CODE,
]);

/**
 * Whether this runtime has relaxed SIMD with a FUSED multiply-add and an
 * exact integer dot product, i.e. can run the relaxed builds bit-identically
 * to the native engine: { ok, reason }. relaxed_madd may legally round twice
 * (hardware without FMA); then the relaxed builds would give different
 * numbers, so they are not used. The probe: (1 + 2^-12)^2 - (1 + 2^-11) is
 * 2^-24 exactly, which only a fused multiply-add returns (rounding the
 * product first gives 0); 2 * 3 + 1 = 7 checks that the third operand is the
 * addend; g() and h() check the dot products at the ends of the ranges we use.
 */
export function relaxedSimdSupport() {
  if (typeof WebAssembly !== 'object') return { ok: false, reason: 'no WebAssembly' };
  let valid = false;
  try { valid = WebAssembly.validate(RELAXED_PROBE); } catch { valid = false; }
  if (!valid) return { ok: false, reason: 'relaxed SIMD is not available in this runtime' };
  const { f, g, h } = new WebAssembly.Instance(new WebAssembly.Module(RELAXED_PROBE)).exports;
  const a = 1 + 2 ** -12, c = -(1 + 2 ** -11);
  if (f(2, 3, 1) !== 7) return { ok: false, reason: 'relaxed_madd does not compute a * b + c' };
  if (f(a, a, c) !== 2 ** -24) return { ok: false, reason: 'relaxed_madd is not fused on this machine' };
  if (g() !== -247) return { ok: false, reason: 'relaxed_dot_i8x16_i7x16_add_s does not give the exact sums' };
  if (h() !== -32502) return { ok: false, reason: 'relaxed_dot_i8x16_i7x16_s does not give the exact sums' };
  return { ok: true, reason: 'relaxed SIMD with a fused multiply-add' };
}
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

// ---------------------------------------------------------------- loading --

const DEFAULT_RANGE_CHUNK = 256 * 1024 * 1024;
const abortedError = () => new QwasmError('ABORTED', 'loading was aborted');
const hasScheme = (s) => /^[a-z][a-z0-9+.-]*:/i.test(s);
const why = (e) => e?.cause?.message ?? e?.message ?? String(e);

/** One turn of the macrotask queue (not setTimeout's clamp): lets pending
 * messages and timers run. */
export function macrotask() {
  if (typeof setImmediate === 'function') return new Promise((r) => setImmediate(r));
  return new Promise((r) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => { ch.port1.close(); r(); };
    ch.port2.postMessage(0);
  });
}

/** name-0000K-of-0000N.gguf -> { stem, part, total } (the C library's rule), else null. */
export function splitName(path) {
  const m = /^(.*)-(\d{5,})-of-(\d{5,})\.gguf$/.exec(path);
  if (!m || m[1] === '') return null;
  const part = Number(m[2]), total = Number(m[3]);
  if (total < 1 || part < 1 || part > total || total > 99999) return null;
  return { stem: m[1], part, total };
}
const partName = (stem, i, n) => `${stem}-${String(i).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.gguf`;

// Every part: name, size (known after prepare()), feed(sink) writes exactly
// its bytes in order (sink.push(chunk), or sink.view(n) + sink.commit(k)),
// close() releases what prepare() opened.

class BytesPart {
  constructor(name, bytes) { this.name = name; this.bytes = bytes; this.size = bytes.length; }
  async prepare() {}
  async feed(sink) {
    const step = 1 << 22;
    for (let off = 0; off < this.bytes.length; off += step) sink.push(this.bytes.subarray(off, off + step));
  }
}

// A Blob / File (stream() opened at feed time) or a ReadableStream of bytes.
class StreamPart {
  constructor(name, size, open, env) { this.name = name; this.size = size; this.open = open; this.env = env; }
  async prepare() {}
  async feed(sink) {
    const { signal } = this.env;
    const reader = this.open().getReader();
    let done = false;
    try {
      for (;;) {
        if (signal?.aborted) throw abortedError();
        let r;
        try {
          r = await reader.read();
        } catch (e) {
          if (signal?.aborted) throw abortedError();
          throw new QwasmError('IO', `${this.name}: reading failed after ${sink.have} of ${this.size} bytes (${why(e)})`);
        }
        if (r.done) { done = true; break; }
        const v = r.value instanceof Uint8Array ? r.value : new Uint8Array(r.value);
        if (v.length > this.size - sink.have)
          throw new QwasmError('INVALID_ARGUMENT', `${this.name}: the stream has more bytes than the ${this.size} announced`);
        sink.push(v);
      }
    } finally {
      if (!done) await reader.cancel().catch(() => {});
      try { reader.releaseLock(); } catch { /* already released */ }
    }
  }
}

// A file path (Node): read straight into the loader's buffer, 4 MB at a
// time, yielding to the event loop between reads (for the abort signal).
// Errors worded as the C library's qw_map_file words them.
class PathPart {
  constructor(path, name, env) { this.path = path; this.name = name; this.env = env; this.fd = null; this.size = NaN; }
  async prepare() {
    const fs = await import('node:fs');
    this.fs = fs;
    const path = this.path;
    const errno = { ENOENT: 'No such file or directory', EACCES: 'Permission denied',
      ENOTDIR: 'Not a directory', ELOOP: 'Too many levels of symbolic links',
      ENAMETOOLONG: 'File name too long', EMFILE: 'Too many open files' };
    try {
      this.fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new QwasmError('IO', `cannot open '${path}': ${errno[e.code] ?? e.message}`);
    }
    const st = fs.fstatSync(this.fd);
    if (!st.isFile()) throw new QwasmError('IO', `'${path}' is not a regular file`);
    if (st.size === 0) throw new QwasmError('BAD_MODEL', `'${path}' is empty`);
    if (st.size > 0xfffff000) throw new QwasmError('OUT_OF_MEMORY', `'${path}' is too large for this address space`);
    this.size = st.size;
  }
  async feed(sink) {
    while (sink.have < this.size) {
      const view = sink.view(1 << 22);
      const got = this.fs.readSync(this.fd, view, 0, view.length, sink.have);
      if (got <= 0) throw new QwasmError('IO', `short read on '${this.path}'`);
      sink.commit(got);
      if (sink.have < this.size) await new Promise((r) => setImmediate(r));
    }
  }
  close() {
    if (this.fd !== null) this.fs.closeSync(this.fd);
    this.fd = null;
  }
}

function parseContentRange(h) {
  const m = h === null ? null : /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(h);
  if (!m) return null;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? null : Number(m[3]) };
}

// A URL. The first request asks for bytes 0..rangeChunk-1: a 206 answer
// (Content-Range checked) gives the size and the rest comes as consecutive
// Range requests of rangeChunk bytes, each checked (206, Content-Range exactly
// the bytes asked for, same total), so files past 2 GB load; a 200 answer
// (the server ignores Range) is read as one stream, its size from
// Content-Length (without one, or with a Content-Encoding, the body is
// buffered first). Only the first request may be answered 200.
class UrlPart {
  constructor(url, name, env, keepFirst = true) {
    this.url = url; this.name = name; this.env = env; this.keepFirst = keepFirst;
    this.size = NaN; this.first = null; this.buffered = null; this.ranged = false;
  }
  async request(range) {
    const { signal } = this.env;
    const init = {};
    if (signal) init.signal = signal;
    if (range) init.headers = { Range: `bytes=${range[0]}-${range[1]}` };
    try {
      return await fetch(this.url, init);
    } catch (e) {
      if (signal?.aborted) throw abortedError();
      throw new QwasmError('NETWORK', `${this.name}: cannot fetch: ${why(e)}`);
    }
  }
  httpError(res, what = '') {
    res.body?.cancel().catch(() => {});
    return new QwasmError('NETWORK', `${this.name}: HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}${what}`);
  }
  netError(e, have) {
    if (e instanceof QwasmError) return e;
    if (this.env.signal?.aborted) return abortedError();
    return new QwasmError('NETWORK', `${this.name}: the connection failed after ${have}${Number.isFinite(this.size) ? ` of ${this.size}` : ''} bytes (${why(e)})`);
  }
  // the first answer, whose size and kind decide how the rest is fetched
  async prepare() {
    const chunk = this.env.rangeChunk;
    const res = await this.request([0, chunk - 1]);
    if (res.status === 206) {
      const cr = parseContentRange(res.headers.get('content-range'));
      if (!cr || cr.total === null || cr.start !== 0 || cr.end !== Math.min(chunk, cr.total) - 1) {
        res.body?.cancel().catch(() => {});
        throw new QwasmError('NETWORK', `${this.name}: Content-Range '${res.headers.get('content-range')}' does not answer the request for bytes 0-${chunk - 1}`);
      }
      this.ranged = true;
      this.size = cr.total;
      this.first = { res, upto: cr.end + 1 };
    } else if (res.status === 200) {
      const enc = (res.headers.get('content-encoding') ?? 'identity').toLowerCase();
      const len = res.headers.get('content-length');
      const total = len !== null && enc === 'identity' && /^\s*\d+\s*$/.test(len) ? Number(len) : NaN;
      if (!res.body) throw new QwasmError('NETWORK', `${this.name}: the response has no body`);
      if (Number.isSafeInteger(total)) {
        this.size = total;
        this.first = { res, upto: total };
      } else {
        // no usable Content-Length: buffer the body, then load it (one copy)
        this.buffered = [];
        let n = 0;
        const reader = res.body.getReader();
        try {
          for (;;) {
            const r = await reader.read();
            if (r.done) break;
            this.buffered.push(r.value);
            n += r.value.length;
          }
        } catch (e) {
          throw this.netError(e, n);
        } finally {
          reader.releaseLock();
        }
        this.size = n;
      }
    } else if (res.status === 416 && /^\s*bytes\s+\*\/0\s*$/i.test(res.headers.get('content-range') ?? '')) {
      this.size = 0; // an empty file (the loader says so)
      res.body?.cancel().catch(() => {});
    } else {
      throw this.httpError(res);
    }
    if (this.size === 0) throw new QwasmError('BAD_MODEL', `'${this.name}' is empty`);
    if (!this.keepFirst && this.first) {
      // later parts of a split model: asked for again when their turn comes
      this.first.res.body?.cancel().catch(() => {});
      this.first = null;
    }
  }
  // reads res's body into the sink up to byte `upto` of the file
  async pump(res, sink, upto, strict) {
    if (!res.body) throw new QwasmError('NETWORK', `${this.name}: the response has no body`);
    const reader = res.body.getReader();
    let done = false;
    try {
      for (;;) {
        let r;
        try {
          r = await reader.read();
        } catch (e) {
          throw this.netError(e, sink.have);
        }
        if (r.done) { done = true; break; }
        if (r.value.length > upto - sink.have)
          throw new QwasmError('NETWORK', `${this.name}: the server sent more bytes than it announced`);
        sink.push(r.value);
      }
    } finally {
      if (!done) await reader.cancel().catch(() => {});
      reader.releaseLock();
    }
    if (strict && sink.have < upto)
      throw new QwasmError('NETWORK', `${this.name}: the connection failed after ${sink.have} of ${this.size} bytes (the answer ended early)`);
  }
  async feed(sink) {
    if (this.buffered) {
      for (const c of this.buffered) sink.push(c);
      this.buffered = null;
      return;
    }
    const chunk = this.env.rangeChunk, size = this.size;
    let first = this.first;
    this.first = null;
    if (!first) {
      if (this.ranged) {
        first = { res: await this.request([0, Math.min(chunk, size) - 1]), upto: Math.min(chunk, size) };
        this.checkRange(first.res, 0, first.upto - 1);
      } else {
        const res = await this.request(null);
        if (res.status !== 200) throw this.httpError(res);
        if (res.headers.get('content-length') !== String(size)) {
          res.body?.cancel().catch(() => {});
          throw new QwasmError('NETWORK', `${this.name}: the size changed (${res.headers.get('content-length')} bytes, was ${size})`);
        }
        first = { res, upto: size };
      }
    }
    await this.pump(first.res, sink, first.upto, this.ranged);
    while (this.ranged && sink.have < size) {
      const start = sink.have, end = Math.min(start + chunk, size) - 1;
      const res = await this.request([start, end]);
      this.checkRange(res, start, end);
      await this.pump(res, sink, end + 1, true);
    }
  }
  checkRange(res, start, end) {
    if (res.status !== 206)
      throw this.httpError(res, ` to the request for bytes ${start}-${end} (expected 206 Partial Content)`);
    const h = res.headers.get('content-range');
    const cr = parseContentRange(h);
    if (!cr || cr.start !== start || cr.end !== end || cr.total !== this.size) {
      res.body?.cancel().catch(() => {});
      throw new QwasmError('NETWORK', `${this.name}: Content-Range '${h}' does not match the request for bytes ${start}-${end} of ${this.size}`);
    }
  }
  close() {
    this.first?.res.body?.cancel().catch(() => {});
    this.first = null;
    this.buffered = null;
  }
}

// --------------------------------------------------------------- engine --

export class Engine {
  /**
   * Instantiates the WebAssembly module. opts.variant 'st' (default) or 'mt'
   * (pthreads; needs cross-origin isolation in browsers); opts.threads
   * (default 1) is the thread count used for contexts, and sizes the worker
   * pool of the mt variant. opts.simd picks the build: 'relaxed' (relaxed
   * SIMD: a real fused multiply-add; generation 2-3x faster), 'simd128'
   * (baseline SIMD128, runs everywhere; fma emulated exactly) or 'auto'
   * (default: relaxed when relaxedSimdSupport() says so and that build is
   * there, else simd128). Both give the same bits. opts.moduleUrl overrides
   * where qwasm.mjs is.
   */
  static async create(opts = {}) {
    const variant = opts.variant ?? 'st';
    if (!MODULE_DIRS[variant]) throw new QwasmError('INVALID_ARGUMENT', `unknown variant '${variant}' (st, mt)`);
    const simd = opts.simd ?? 'auto';
    if (!SIMD_FLAVOURS.includes(simd))
      throw new QwasmError('INVALID_ARGUMENT', `unknown simd '${simd}' (${SIMD_FLAVOURS.join(', ')})`);
    const threads = opts.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1 || threads > 512)
      throw new QwasmError('INVALID_ARGUMENT', `--threads expects an integer in [1, 512], got '${threads}'`);
    if (variant === 'st' && threads > 1 && !opts.allowInlineThreads)
      throw new QwasmError('INVALID_ARGUMENT', 'the single-threaded build runs 1 thread (use the mt variant)');
    if (opts.moduleUrl) return Engine.instantiate(new URL(opts.moduleUrl, import.meta.url), variant, threads);
    const support = simd === 'simd128' ? null : relaxedSimdSupport();
    if (simd === 'relaxed' && !support.ok)
      throw new QwasmError('UNSUPPORTED_RUNTIME', `cannot use the relaxed-SIMD build: ${support.reason}`);
    if (support?.ok) {
      const url = new URL(MODULE_DIRS[variant].relaxed + 'qwasm.mjs', import.meta.url);
      try {
        return await Engine.instantiate(url, variant, threads);
      } catch (e) {
        // 'auto' falls back when the relaxed build is missing or refuses
        if (simd === 'relaxed') throw e instanceof QwasmError ? e : new QwasmError('WORKER', `relaxed-SIMD build: ${e.message}`);
      }
    }
    return Engine.instantiate(new URL(MODULE_DIRS[variant].simd128 + 'qwasm.mjs', import.meta.url), variant, threads);
  }

  static async instantiate(moduleUrl, variant, threads) {
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
    // the library's own check (same probe in C): a relaxed build whose
    // multiply-add is not fused would not compute the reference's numbers
    if (mod._qwb_fma_fused && mod._qwb_fma_fused() < 0) {
      if (variant === 'mt') mod.PThread?.terminateAllThreads?.();
      throw new QwasmError('UNSUPPORTED_RUNTIME', 'relaxed-SIMD build: the multiply-add is not fused here');
    }
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
    this.cache = null; // cachePrompt's context: { ctx, threads, nCtx, tokens }
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

  /** The active kernel path ("wasm-relaxed-simd", "wasm-simd128" or "scalar"). */
  kernelPath() { return this.str(this.mod._qwb_kernel_path()); }

  /**
   * Loads a GGUF model (replacing the current one), streaming its bytes
   * straight into their final place in wasm memory: the header is parsed and
   * checked as soon as it is in (a hostile or unsupported file fails before
   * the rest is transferred), the file gets one allocation, and each chunk is
   * written at its offset; nothing is copied afterwards. `source`:
   *   - a file path (Node; read in chunks),
   *   - a URL (string with a scheme, or URL object; relative strings in
   *     browsers): fetched chunk by chunk (UrlPart: consecutive checked Range
   *     requests of opts.rangeChunkBytes, default 256 MiB, when the server
   *     supports Range; else one stream sized by Content-Length, buffered
   *     first without one),
   *   - a Blob / File (read with stream()),
   *   - a ReadableStream of bytes, with opts.size,
   *   - an ArrayBuffer / typed array (copied in once),
   *   - a list of those: the parts of a split model, in order (a path or URL
   *     named name-0000K-of-0000N.gguf brings all its parts by itself).
   * opts.onProgress(bytes, total) after every chunk (monotonic, ends at
   * total); opts.signal (AbortSignal) cancels: QwasmError code ABORTED,
   * everything freed, the engine stays usable. opts.name: the name used in
   * messages (default: the path / URL / File name / 'model.gguf').
   * opts.computeSha256: info.sha256 = the file's SHA-256 (hex; per part for a
   * split model); opts.expectSha256: compared once the bytes are in, a
   * mismatch is INTEGRITY and nothing is kept. Network failures: NETWORK.
   */
  async load(source, opts = {}) {
    if (!this.mod) throw new QwasmError('INVALID_ARGUMENT', 'the engine has been disposed');
    this.unload();
    const signal = opts.signal;
    const onProgress = typeof opts.onProgress === 'function' ? opts.onProgress : null;
    if (signal?.aborted) throw abortedError();
    const expect = opts.expectSha256;
    const rangeChunk = opts.rangeChunkBytes ?? DEFAULT_RANGE_CHUNK;
    if (!Number.isSafeInteger(rangeChunk) || rangeChunk < 1)
      throw new QwasmError('INVALID_ARGUMENT', `rangeChunkBytes must be a positive integer, got ${rangeChunk}`);
    const env = { signal, rangeChunk };
    let parts = [];
    try {
      let name;
      ({ parts, name } = this.resolveParts(source, opts, env));
      const n = parts.length;
      if (expect !== undefined) {
        const list = [].concat(expect);
        if (list.length !== n || list.some((h) => typeof h !== 'string' || !/^[0-9a-fA-F]{64}$/.test(h)))
          throw new QwasmError('INVALID_ARGUMENT', n === 1
            ? 'expectSha256 must be 64 hex digits'
            : `expectSha256 must be an array of ${n} digests (64 hex digits each), one per part`);
      }
      const hash = expect !== undefined || !!opts.computeSha256;
      const want = expect === undefined ? null : [].concat(expect).map((h) => h.toLowerCase());
      const { model, sha256 } = await this.streamParts(parts, name, signal, onProgress, hash, want);
      this.model = model;
      this.info_ = this.readInfo();
      if (hash) this.info_.sha256 = n === 1 ? sha256[0] : sha256;
      return this.info_;
    } catch (e) {
      if (signal?.aborted && !(e instanceof QwasmError && e.code === 'ABORTED')) throw abortedError();
      throw e;
    } finally {
      for (const p of parts) await p.close?.();
    }
  }

  // The parts a source stands for: [{ name, size, prepare(), feed(sink), close() }].
  // A path or URL named name-0000K-of-0000N.gguf brings all N parts; an array
  // of sources is the parts of a split model, in order.
  resolveParts(source, opts, env) {
    const isUrlObj = typeof URL === 'function' && source instanceof URL;
    if (Array.isArray(source)) {
      if (source.length === 0) throw new QwasmError('INVALID_ARGUMENT', 'load() got an empty list of parts');
      if (source.length > 1) {
        const parts = source.map((s, i) => this.singlePart(s, i === 0 ? opts.name : undefined, opts, env, i));
        return { parts, name: opts.name ?? parts[0].name };
      }
      source = source[0];
    }
    if ((typeof source === 'string' && !(IS_NODE && !hasScheme(source))) || isUrlObj) {
      const url = String(source);
      const u = new URL(url, globalThis.location?.href);
      const m = splitName(u.pathname);
      if (m && m.total > 1) {
        const urls = [];
        for (let i = 1; i <= m.total; i++) {
          const v = new URL(u.href);
          v.pathname = partName(m.stem, i, m.total);
          urls.push(typeof source === 'string' && !hasScheme(source) ? v.pathname + v.search : v.href);
        }
        const base = typeof source === 'string' && !hasScheme(source) ? url.replace(/[?#].*$/, '') : u.origin + u.pathname;
        const first = splitName(base);
        const name = opts.name ?? partName(first.stem, 1, m.total);
        return { parts: urls.map((x, i) => new UrlPart(x, i === 0 ? name : x.replace(/[?#].*$/, ''), env, i === 0)), name };
      }
    } else if (typeof source === 'string') {
      const m = splitName(source);
      if (m && m.total > 1) {
        const paths = [];
        for (let i = 1; i <= m.total; i++) paths.push(partName(m.stem, i, m.total));
        const name = opts.name ?? paths[0];
        return { parts: paths.map((p) => new PathPart(p, p, env)), name };
      }
    }
    const p = this.singlePart(source, opts.name, opts, env, -1);
    return { parts: [p], name: p.name };
  }

  // index: the part's place in a list of parts, -1 for a lone source
  singlePart(source, name, opts, env, index) {
    if (typeof source === 'string' && IS_NODE && !hasScheme(source)) return new PathPart(source, name ?? source, env);
    if (typeof source === 'string' || (typeof URL === 'function' && source instanceof URL)) {
      const url = String(source);
      return new UrlPart(url, name ?? url, env, index <= 0);
    }
    if (typeof Blob === 'function' && source instanceof Blob) {
      const nm = name ?? (typeof source.name === 'string' && source.name ? source.name : 'model.gguf');
      return new StreamPart(nm, source.size, () => source.stream(), env);
    }
    if (source instanceof ArrayBuffer || ArrayBuffer.isView(source) ||
        (typeof SharedArrayBuffer === 'function' && source instanceof SharedArrayBuffer)) {
      const bytes = source instanceof Uint8Array ? source
        : ArrayBuffer.isView(source) ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
        : new Uint8Array(source);
      return new BytesPart(name ?? 'model.gguf', bytes);
    }
    if (typeof ReadableStream === 'function' && source instanceof ReadableStream) {
      const size = index >= 0 ? opts.sizes?.[index] : opts.size;
      if (!Number.isSafeInteger(size) || size < 0)
        throw new QwasmError('INVALID_ARGUMENT', index >= 0
          ? 'ReadableStream parts need their byte sizes (the sizes option, one per part)'
          : 'a ReadableStream source needs its byte size (the size option)');
      return new StreamPart(name ?? 'model.gguf', size, () => source, env);
    }
    throw new QwasmError('INVALID_ARGUMENT', 'load() needs a path, URL, File/Blob, ArrayBuffer, typed array or ReadableStream (with size)');
  }

  // Streams the parts, in order, into one staged loader (qwb_loader_*): each
  // chunk is written straight into its place in wasm memory; every part's
  // header is validated as soon as it is in, so a hostile or unsupported file
  // fails before the rest is transferred. With `hash`, the SHA-256 of every
  // part is computed over the bytes in place before the model is built, and
  // compared with `want` (hex per part) if given: INTEGRITY on a mismatch.
  // Returns { model, sha256: [hex per part] | null }; the loader is freed
  // whatever happens.
  async streamParts(parts, name, signal, onProgress, hash, want) {
    const mod = this.mod;
    for (const p of parts) {
      await p.prepare();
      if (signal?.aborted) throw abortedError();
    }
    const sizes = parts.map((p) => p.size);
    const total = sizes.reduce((a, b) => a + b, 0);
    for (const [i, s] of sizes.entries())
      if (!Number.isSafeInteger(s) || s < 0) throw new QwasmError('INVALID_ARGUMENT', `${parts[i].name}: invalid size ${s}`);
    if (total > 0xfffff000)
      throw new QwasmError('OUT_OF_MEMORY', `${name}: ${total} bytes is too large for this address space (4 GB)`);
    const [np] = this.cstr(name);
    let l = 0;
    if (parts.length === 1) {
      l = mod._qwb_loader_create(total, np);
    } else {
      const sp = this.alloc(8 * parts.length);
      new Float64Array(mod.qwBuffer(), sp, parts.length).set(sizes);
      l = mod._qwb_loader_create_parts(parts.length, sp, np);
      this.free(sp);
    }
    this.free(np);
    if (!l) throw this.fail();
    try {
      // the buffer's address is fixed; the ArrayBuffer over wasm memory is
      // not (growth replaces it), so every view is made fresh
      const base = mod._qwb_loader_buffer(l) >>> 0;
      let have = 0, need = 1, headerOk = false;
      for (let i = 0; i < parts.length; i++) {
        const start = base + mod._qwb_loader_part_offset(l, i), size = sizes[i];
        let got = 0;
        const sink = {
          view: (n) => new Uint8Array(mod.qwBuffer(), start + got, Math.min(n, size - got)),
          commit: (k) => {
            if (signal?.aborted) throw abortedError();
            got += k;
            have += k;
            if (!headerOk && have >= need) {
              const r = mod._qwb_loader_header(l, have);
              if (r < 0) throw this.fail();
              if (r === 0) headerOk = true; else need = r;
            }
            if (onProgress) onProgress(have, total);
          },
          push: (chunk) => {
            if (signal?.aborted) throw abortedError();
            if (chunk.length > size - got)
              throw new QwasmError('NETWORK', `${parts[i].name}: more bytes than the ${size} announced`);
            if (chunk.length === 0) return;
            sink.view(chunk.length).set(chunk);
            sink.commit(chunk.length);
          },
          get have() { return got; },
          get size() { return size; },
        };
        await parts[i].feed(sink);
        if (signal?.aborted) throw abortedError();
        if (got < size) break; // finish names the part that ended early
      }
      let sha256 = null;
      if (hash && have === total) {
        sha256 = [];
        for (let i = 0; i < parts.length; i++) {
          sha256.push(await this.sha256At(base + mod._qwb_loader_part_offset(l, i), sizes[i], signal));
          // a mismatch: nothing is parsed or kept
          if (want && want[i] !== sha256[i])
            throw new QwasmError('INTEGRITY', `${parts[i].name}: SHA-256 is ${sha256[i]}, expected ${want[i]}`);
        }
      }
      const m = mod._qwb_loader_finish(l, have);
      if (!m) throw this.fail();
      return { model: m, sha256 };
    } finally {
      mod._qwb_loader_free(l);
    }
  }

  // SHA-256 (lower-case hex) of n bytes of wasm memory at p, 32 MB at a time
  // with a turn of the event loop in between (so an abort is seen).
  async sha256At(p, n, signal) {
    const mod = this.mod;
    const s = mod._qwb_sha256_new();
    if (!s) throw new QwasmError('OUT_OF_MEMORY', 'out of memory');
    let done = false;
    try {
      const step = 32 << 20;
      for (let off = 0; off < n; off += step) {
        mod._qwb_sha256_update(s, p + off, Math.min(step, n - off));
        if (off + step < n) {
          await macrotask();
          if (signal?.aborted) throw abortedError();
        }
      }
      const out = this.alloc(65);
      mod._qwb_sha256_final(s, out);
      done = true;
      const hex = this.str(out);
      this.free(out);
      return hex;
    } finally {
      if (!done) this.free(s);
    }
  }

  /** SHA-256 of bytes (lower-case hex), computed by the wasm module. */
  async sha256(bytes) {
    if (!this.mod) throw new QwasmError('INVALID_ARGUMENT', 'the engine has been disposed');
    const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes.buffer ?? bytes, bytes.byteOffset ?? 0, bytes.byteLength);
    const p = this.alloc(b.length);
    try {
      this.u8().set(b, p);
      return await this.sha256At(p, b.length);
    } finally {
      this.free(p);
    }
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
    return { ...this.info_, ...this.engineInfo() };
  }

  /** Which build runs: 'relaxed' (fused multiply-add) or 'simd128'. */
  simd() { return this.mod._qwb_fma_fused && this.mod._qwb_fma_fused() > 0 ? 'relaxed' : 'simd128'; }

  /** What the engine runs on (no model needed). */
  engineInfo() {
    if (!this.mod) throw new QwasmError('INVALID_ARGUMENT', 'the engine has been disposed');
    return {
      kernelPath: this.kernelPath(), variant: this.variant, simd: this.simd(), threads: this.threads,
      crossOriginIsolated: globalThis.crossOriginIsolated === true,
      wasmMemoryBytes: this.mod.qwBuffer().byteLength,
    };
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

  /** Text of a token sequence: the tokens' bytes joined, decoded as UTF-8 once
   * (so characters split across tokens come out whole). */
  detokenize(ids) {
    this.need();
    const list = Array.from(ids);
    const V = this.info_.nVocab;
    const p = this.alloc(256);
    try {
      const parts = [];
      let n = 0;
      for (let i = 0; i < list.length; i++) {
        const id = list[i];
        if (!Number.isInteger(id) || id < 0 || id >= V)
          throw new QwasmError('INVALID_ARGUMENT', `token id ${id} at index ${i} is out of range [0, ${V})`);
        const k = this.mod._qwb_token_to_bytes(this.model, id, p, 256);
        if (k < 0) throw new QwasmError('INVALID_ARGUMENT', `token id ${id} is out of range`);
        parts.push(this.u8().slice(p, p + k));
        n += k;
      }
      const all = new Uint8Array(n);
      let off = 0;
      for (const b of parts) { all.set(b, off); off += b.length; }
      return utf8d.decode(all);
    } finally {
      this.free(p);
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
   * time in seconds), stop (string or strings), addBos, nCtx, threads,
   * cachePrompt (false): keep the context (its KV cache) after this call, and
   * start from the previous cached one when the prompt begins with the same
   * tokens, decoding only the rest — what a chat wants, since each turn's
   * prompt repeats the conversation so far. Off by default because the
   * logits then differ in the last bits from a fresh run's (the cached part
   * was decoded in other batches; docs/NUMERICS.md), so greedy text can, on
   * a near tie, differ from `qwasm run`'s.
   * After the iteration, engine.lastStats holds token counts (promptCached:
   * prompt tokens taken from the cache) and timings.
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
    const caching = opts.cachePrompt === true;
    let { ctx, reused } = caching ? this.takeCache(prompt, nCtx, threads) : { ctx: 0, reused: 0 };
    // a cached context gets room to grow (twice what this call needs, as a
    // power of two, at least 512, within the training context), so that a
    // chat does not outgrow it, and lose the cache, every turn
    const size = caching
      ? Math.max(nCtx, Math.min(hp.nCtxTrain, Math.max(512, 2 ** Math.ceil(Math.log2(2 * nCtx))))) : nCtx;
    if (!ctx) ctx = this.newContext(size, threads);
    const decoded = prompt.slice(); // the tokens in ctx's KV cache, in order
    let keep = false; // cache ctx afterwards (only when every step went through)
    let smp = 0, detok = 0, tp = 0, piece = 0;
    const stats = { promptTokens: nPrompt, promptCached: reused, promptMs: 0, genTokens: 0, genMs: 0, threads,
      contextFull: false, stopped: false, finishReason: 'length' };
    const signal = opts.signal;
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
      if (m._qwb_decode(ctx, tp + 4 * reused, nPrompt - reused, 0) !== 0) throw this.fail('decode failed: ');
      keep = caching;
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
      let aborted = false;
      while (nGen < nPredict && !stopped) {
        if (signal?.aborted) { aborted = true; break; }
        const tok = m._qwb_sampler_sample(smp, ctx);
        if (tok === eos) { stats.finishReason = 'eos'; break; }
        m._qwb_sampler_accept(smp, tok);
        nGen++;
        stats.genTokens = nGen;
        const k = m._qwb_detok_push(this.model, detok, tok, piece, 256);
        if (k < 0) throw new QwasmError('INVALID_ARGUMENT', `cannot detokenize token ${tok}`);
        text += readPiece(k);
        const out = flush(false);
        if (out || opts.everyToken) yield out;
        if (stopped || nGen === nPredict) break;
        if (signal?.aborted) { aborted = true; break; }
        if (m._qwb_context_pos(ctx) >= m._qwb_context_n_ctx(ctx)) {
          stats.contextFull = true;
          stats.finishReason = 'context';
          stats.nCtx = m._qwb_context_n_ctx(ctx);
          break;
        }
        new Int32Array(m.qwBuffer(), tp, 1)[0] = tok;
        keep = false;
        if (m._qwb_decode(ctx, tp, 1, 0) !== 0) throw this.fail('decode failed: ');
        decoded.push(tok);
        keep = caching;
      }
      if (!stopped) {
        const k = m._qwb_detok_flush(detok, piece, 256);
        if (k > 0) text += readPiece(k);
        const out = flush(true);
        if (out) yield out;
      }
      stats.stopped = stopped;
      if (stopped) stats.finishReason = 'stop';
      else if (aborted) stats.finishReason = 'aborted';
      stats.genMs = now() - t1;
    } finally {
      this.free(piece);
      this.free(tp);
      if (detok) m._qwb_detok_free(detok);
      if (smp) m._qwb_sampler_free(smp);
      if (keep && m._qwb_context_pos(ctx) === decoded.length) {
        this.dropCache();
        this.cache = { ctx, threads, nCtx: m._qwb_context_n_ctx(ctx), tokens: decoded };
      } else {
        m._qwb_context_free(ctx);
      }
    }
  }

  /** The cached context (cachePrompt) if it can serve this prompt, truncated
   * to the longest common prefix (at least the last prompt token is decoded
   * again: its logits are needed); { ctx: 0 } otherwise (the cache is freed). */
  takeCache(prompt, nCtx, threads) {
    const c = this.cache;
    this.cache = null;
    if (!c) return { ctx: 0, reused: 0 };
    if (c.threads !== threads || c.nCtx < nCtx) {
      this.mod._qwb_context_free(c.ctx);
      return { ctx: 0, reused: 0 };
    }
    const max = Math.min(c.tokens.length, prompt.length - 1);
    let p = 0;
    while (p < max && c.tokens[p] === prompt[p]) p++;
    this.mod._qwb_context_truncate(c.ctx, p);
    return { ctx: c.ctx, reused: p };
  }

  /** Frees the context kept by cachePrompt. */
  dropCache() {
    if (this.cache && this.mod) this.mod._qwb_context_free(this.cache.ctx);
    this.cache = null;
  }

  /** Frees the model (the engine stays usable). */
  unload() {
    this.dropCache();
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

// ----------------------------------------------------------------- host --

/**
 * Serves an Engine by message, for wasm/worker.mjs (a Worker / worker_threads
 * worker) and for the in-thread mode of wasm/qwasm.mjs. Requests
 * {id, op, args} run one at a time, in order; {id, op: 'cancel', args:
 * {target}} is handled at once (it aborts request `target`, running or
 * queued). Replies: {id, ok: true, value} | {id, ok: false, error: {code,
 * message}}; while a request runs, {id, progress: [bytes, total]} (load) and
 * {id, piece} (complete: one message per text piece; the loop yields to the
 * macrotask queue after every token, so a cancel is seen between tokens).
 * Anything that is not a QwasmError (a wasm trap, a bug) leaves the module in
 * an unknown state: the host posts {fatal: {message}}, refuses everything
 * after it and calls onFatal.
 */
export class EngineHost {
  constructor(post, onFatal = () => {}) {
    this.post = post;
    this.onFatal = onFatal;
    this.engine = null;
    this.queue = Promise.resolve();
    this.active = new Map(); // id -> AbortController
    this.dead = false;
  }

  handle(msg) {
    if (this.dead || !msg || typeof msg !== 'object') return;
    const { id, op, args = {} } = msg;
    if (op === 'cancel') {
      this.active.get(args.target)?.abort();
      return;
    }
    if (op === 'crash') { // test hook: runs at once, between two tokens of a running request
      this.run(id, op, args, null);
      return;
    }
    const ac = new AbortController();
    this.active.set(id, ac);
    this.queue = this.queue.then(() => this.run(id, op, args, ac.signal)).finally(() => this.active.delete(id));
  }

  fatal(e) {
    if (this.dead) return;
    this.dead = true;
    const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    try { this.engine?.dispose(); } catch { /* the module may be broken */ }
    this.engine = null;
    this.post({ fatal: { message } });
    this.onFatal(e);
  }

  async run(id, op, args, signal) {
    if (this.dead) return;
    try {
      const f = HOST_OPS[op];
      if (!f) throw new QwasmError('INVALID_ARGUMENT', `unknown request '${op}'`);
      if (op !== 'init' && op !== 'dispose' && op !== 'crash' && !this.engine)
        throw new QwasmError('INVALID_ARGUMENT', 'the engine has been disposed');
      const value = await f.call(this, args, signal, id);
      this.post({ id, ok: true, value });
    } catch (e) {
      if (e instanceof QwasmError) this.post({ id, ok: false, error: { code: e.code, message: e.message } });
      else this.fatal(e);
    }
  }
}

const HOST_OPS = {
  async init(a) {
    if (this.engine) throw new QwasmError('INVALID_ARGUMENT', 'the engine is already initialized');
    this.engine = await Engine.create({ variant: a.variant, simd: a.simd, threads: a.threads, moduleUrl: a.moduleUrl });
    return this.engine.engineInfo();
  },
  async load(a, signal, id) {
    const o = a.opts ?? {};
    const info = await this.engine.load(a.source, {
      name: o.name, size: o.size, sizes: o.sizes, expectSha256: o.expectSha256,
      computeSha256: o.computeSha256, rangeChunkBytes: o.rangeChunkBytes, signal,
      onProgress: o.progress ? (b, t) => this.post({ id, progress: [b, t] }) : null,
    });
    return { ...info, ...this.engine.engineInfo() };
  },
  info() {
    return this.engine.model ? this.engine.info() : this.engine.engineInfo();
  },
  tokenize(a) { return this.engine.tokenize(String(a.text), { addBos: a.addBos }); },
  detokenize(a) { return this.engine.detokenize(a.ids ?? []); },
  eval(a) { return this.engine.eval(a.tokens ?? [], a.opts ?? {}); },
  async complete(a, signal, id) {
    const e = this.engine;
    // tokensAfterCancel: tokens generated after the cancel message arrived
    let atCancel = -1;
    const onAbort = () => { atCancel = e.lastStats?.genTokens ?? 0; };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const piece of e.complete({ ...a, signal, everyToken: true })) {
        if (piece) this.post({ id, piece });
        await macrotask(); // a cancel message gets its turn between tokens
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    const stats = e.lastStats;
    if (atCancel >= 0) stats.tokensAfterCancel = stats.genTokens - Math.min(atCancel, stats.genTokens);
    return stats;
  },
  // test hook: a wasm trap (an out-of-bounds read) or an uncaught error
  crash(a) {
    if (a.how === 'trap') this.engine.mod._qwb_context_pos(0xffffffe0);
    else setTimeout(() => { throw new Error('deliberate uncaught error (test hook)'); }, 0);
    return null;
  },
  dispose() {
    this.engine?.dispose();
    this.engine = null;
    return null;
  },
};

// The wasm twin of `qwasm bench` (native/cmd_bench.c), shared by
// `node wasm/cli.mjs bench` and the browser page web/bench/index.html.
//
// For each thread count: one untimed repetition (warm-up, incl. the JIT's
// tier-up), then `reps` repetitions of
//   pp: a fresh context, p random token ids decoded as one batch;
//   tg: a fresh context, n tokens decoded one at a time, each the greedy
//       (argmax) choice on the previous logits, starting from BOS.
// The token ids come from the same xorshift64* stream as the native bench, so
// both decode the same prompt. Rows are the native bench's markdown table
// rows: median (min-max) tokens/s; the memory column is the process's peak
// RSS under Node and the wasm memory size in browsers.

const now = () => (typeof performance === 'object' ? performance.now() : Date.now());

// llama.cpp's llama_ftype names, as native/cmd_bench.c prints them
const FTYPES = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 7: 'Q8_0', 8: 'Q5_0', 9: 'Q5_1', 10: 'Q2_K',
  11: 'Q3_K_S', 12: 'Q3_K_M', 13: 'Q3_K_L', 14: 'Q4_K_S', 15: 'Q4_K_M', 16: 'Q5_K_S',
  17: 'Q5_K_M', 18: 'Q6_K', 25: 'IQ4_NL', 30: 'IQ4_XS', 32: 'BF16',
};

/** The thread-count list of `-t 1,2`: integers in [1, 512]; null if malformed. */
export function parseThreadList(s) {
  const parts = String(s).split(',');
  const out = [];
  for (const p of parts) {
    if (!/^[0-9]+$/.test(p.trim())) return null;
    const v = Number(p.trim());
    if (v < 1 || v > 512) return null;
    out.push(v);
  }
  return out.length ? out : null;
}

/** printf("%.2f") for the positive finite values a bench produces */
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : String(x));

export function median(v) {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

function cell(v) {
  if (!v.length) return '-';
  const s = [...v].sort((a, b) => a - b);
  return `${f2(median(s))} (${f2(s[0])}-${f2(s[s.length - 1])})`;
}

/** The table header the native bench prints (two lines, no trailing newline). */
export function benchHeader(p, n, memLabel = 'peak RSS') {
  return `| model | type | size | params | kernels | threads | pp${p} t/s | tg${n} t/s | ${memLabel} |\n` +
    '| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |';
}

/**
 * tg: resets context `ctx` (a qwb context pointer) and decodes k tokens one at
 * a time from `first`, each the greedy choice on the previous logits (picked
 * in C, as natively: a JS scan of the vocabulary's logits cost ~3%); returns
 * tokens/s. Throws QwasmError on failure.
 */
function generate(engine, ctx, first, k) {
  const m = engine.mod, V = engine.info().nVocab;
  m._qwb_context_reset(ctx);
  const tok = engine.alloc(4);
  try {
    const t0 = now();
    let t = first;
    for (let i = 0; i < k; i++) {
      new Int32Array(m.qwBuffer(), tok, 1)[0] = t;
      if (m._qwb_decode(ctx, tok, 1, 0) !== 0) throw engine.fail('decode failed: ');
      t = m._qwb_argmax(ctx, V);
    }
    return k / ((now() - t0) / 1e3);
  } finally {
    engine.free(tok);
  }
}

/**
 * One generation measurement at a time, for a harness that interleaves it
 * with something else (tests/browser/bench-paired.mjs alternates it with the
 * native bench): a context for `threads` threads, warmed up by `warmup` whole
 * untimed tg runs (the JIT's tier-up; runBench does one), then rep() = one tg
 * of n tokens from BOS in tokens/s, exactly runBench's tg repetition. close()
 * frees the context.
 */
export function tgSession(engine, { n = 64, threads = 1, warmup = 3 } = {}) {
  if (!Number.isInteger(n) || n < 1 || n > 1 << 16) throw new RangeError(`n expects an integer in [1, ${1 << 16}], got '${n}'`);
  if (!Number.isInteger(threads) || threads < 1 || threads > engine.threads)
    throw new RangeError(`${threads} threads, but this engine was created for ${engine.threads}`);
  const info = engine.info();
  const first = info.bos >= 0 ? info.bos : 0;
  let ctx = engine.newContext(Math.max(n, 16), threads);
  try {
    for (let i = 0; i < warmup; i++) generate(engine, ctx, first, n);
  } catch (e) {
    engine.mod._qwb_context_free(ctx);
    throw e;
  }
  return {
    rep() {
      if (!ctx) throw new Error('tgSession: closed');
      return generate(engine, ctx, first, n);
    },
    close() {
      if (ctx) engine.mod._qwb_context_free(ctx);
      ctx = 0;
    },
  };
}

/**
 * Runs the bench on a loaded in-thread Engine (wasm/engine.mjs). opts:
 *   p (64), n (64): prompt / generation lengths (either may be 0, not both)
 *   threads ([1]): thread counts; each must be <= engine.threads (the mt
 *                  variant's pool is sized when the engine is created)
 *   reps (5), seed (0: the native default stream), name (model name shown)
 *   memory(): MiB for the last column (default: Node's peak RSS, else the
 *             wasm memory size)
 *   onRow(row): called after each thread count with
 *     { name, type, size, params, kernels, threads, pp: [t/s...], tg: [...],
 *       ppMedian, tgMedian, memMiB, line }   (line: the markdown row)
 *   yieldEvery(): optional async hook awaited between runs (a browser page
 *             uses it to let the page repaint)
 * Returns the rows. Throws QwasmError on failure.
 */
export async function runBench(engine, opts = {}) {
  const p = opts.p ?? 64, n = opts.n ?? 64, reps = opts.reps ?? 5;
  const threads = opts.threads ?? [1];
  if (!Number.isInteger(p) || p < 0 || p > 1 << 16) throw new RangeError(`-p expects an integer in [0, ${1 << 16}], got '${p}'`);
  if (!Number.isInteger(n) || n < 0 || n > 1 << 16) throw new RangeError(`-n expects at most ${1 << 16} for bench`);
  if (p === 0 && n === 0) throw new RangeError('nothing to measure: -p and -n are both 0');
  if (!Number.isInteger(reps) || reps < 1) throw new RangeError(`-r expects a positive integer, got '${reps}'`);
  for (const t of threads)
    if (t > engine.threads) throw new RangeError(`${t} threads, but this engine was created for ${engine.threads}`);
  const m = engine.mod;
  const info = engine.info();
  const V = info.nVocab;

  // xorshift64* exactly as native/cmd_bench.c
  const M64 = (1n << 64n) - 1n;
  let s = 0x2545F4914F6CDD1Dn ^ BigInt.asUintN(64, BigInt(opts.seed ?? 0));
  const next = () => {
    s ^= s >> 12n;
    s ^= (s << 25n) & M64;
    s ^= s >> 27n;
    return (s * 2685821657736338717n) & M64;
  };
  const toks = new Int32Array(Math.max(p, 1));
  for (let i = 0; i < p; i++) toks[i] = Number(next() % BigInt(V));
  const first = info.bos >= 0 ? info.bos : 0;

  const ft = typeof m._qwb_model_file_type === 'function' ? m._qwb_model_file_type(engine.model) : -1;
  const type = FTYPES[ft] ?? '?';
  const size = `${(info.fileBytes / (1024 * 1024)).toFixed(2)} MiB`;
  const params = info.nParams >= 1e9 ? `${(info.nParams / 1e9).toFixed(2)} B` : `${(info.nParams / 1e6).toFixed(2)} M`;
  const name = String(opts.name ?? 'model.gguf').split('/').pop();
  const memory = opts.memory ?? (() => {
    if (typeof process === 'object' && process.resourceUsage) return process.resourceUsage().maxRSS / 1024;
    return m.qwBuffer().byteLength / (1024 * 1024);
  });

  let nCtx = p > n ? p : n;
  if (nCtx < 16) nCtx = 16;
  const tp = engine.alloc(4 * toks.length);
  const rows = [];
  try {
    new Int32Array(m.qwBuffer(), tp, toks.length).set(toks);
    const decode = (ctx, ptr, k) => {
      if (m._qwb_decode(ctx, ptr, k, 0) !== 0) throw engine.fail('decode failed: ');
    };
    const runPp = (ctx, k) => {
      m._qwb_context_reset(ctx);
      const t0 = now();
      decode(ctx, tp, k);
      return k / ((now() - t0) / 1e3);
    };
    const runTg = (ctx, k) => generate(engine, ctx, first, k);
    for (const th of threads) {
      const ctx = engine.newContext(nCtx, th);
      const pp = [], tg = [];
      try {
        // Warm-up, untimed: one whole repetition. The native bench warms its
        // caches with a few tokens; wasm also needs the JIT's tier-up (V8
        // runs new code from its baseline compiler and swaps in optimized
        // code compiled in the background; until then the first tokens run
        // 2-3x slower). The timed repetitions then measure the steady state,
        // as the native ones do.
        if (p) runPp(ctx, p);
        if (n) runTg(ctx, n);
        for (let r = 0; r < reps; r++) {
          if (opts.yieldEvery) await opts.yieldEvery();
          if (p) pp.push(runPp(ctx, p));
          if (n) tg.push(runTg(ctx, n));
        }
      } finally {
        m._qwb_context_free(ctx);
      }
      const row = {
        name, type, size, params, kernels: engine.kernelPath(), variant: engine.variant, threads: th, pp, tg,
        ppMedian: pp.length ? median(pp) : null, tgMedian: tg.length ? median(tg) : null, memMiB: memory(),
      };
      row.line = `| ${name} | ${type} | ${size} | ${params} | ${row.kernels} | ${th} | ${cell(pp)} | ${cell(tg)} | ${row.memMiB.toFixed(1)} MiB |`;
      rows.push(row);
      if (opts.onRow) opts.onRow(row);
    }
  } finally {
    engine.free(tp);
  }
  return rows;
}

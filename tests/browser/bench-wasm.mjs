#!/usr/bin/env node
// The wasm benchmark (scripts/bench-wasm.sh runs this): for each model, back to
// back so that all rows of a model share the machine's conditions,
//   native    build/qwasm bench -p 64 -n 64 -t 1,2 -r R   (the reference speed)
//   node      node wasm/cli.mjs bench: st at 1 thread, mt at 2 threads, each
//             with the baseline SIMD128 build and (under
//             the flags of tests/node/relaxed.mjs) the relaxed-SIMD one
//   chromium  web/bench/index.html in headless Chromium (scripts/serve.mjs,
//             cross-origin isolated): the same four
// then prints a markdown table (tokens/s medians and the ratio to native at the
// same thread count) and, with --write, puts it into docs/BENCHMARKS.md between
// the markers <!-- wasm-bench:begin --> and <!-- wasm-bench:end --> (appended
// as a new section when they are absent; the rest of the file is kept).
//
//   node tests/browser/bench-wasm.mjs [--models a.gguf,b.gguf] [-r 5] [--write]
//                                     [--no-node] [--no-browser]
// Env: QW_NATIVE (default build/qwasm), QW_SHARED (default ../shared).
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

import { cpuModel, gitDescribe, loadAverage, missingInputs, utcStamp, writeMarkedBlock } from './bench-common.mjs';
import { REPO, launchBrowser, serve } from './harness.mjs';
import { relaxedNode } from '../node/relaxed.mjs';

const SHARED = process.env.QW_SHARED ?? path.resolve(REPO, '../shared');
const NATIVE = process.env.QW_NATIVE ?? path.join(REPO, 'build/qwasm');
const DOC = path.join(REPO, 'docs/BENCHMARKS.md');
const BEGIN = '<!-- wasm-bench:begin -->', END = '<!-- wasm-bench:end -->';

function usage(msg) {
  if (msg) process.stderr.write(`bench-wasm: ${msg}\n`);
  process.stderr.write('usage: node tests/browser/bench-wasm.mjs [--models a.gguf,b.gguf] [-r N] [--write] [--no-node] [--no-browser]\n');
  process.exit(2);
}

const opt = { models: ['synth15M-q8_0.gguf', 'synth15M-q4_0.gguf', 'synth15M-q4_k_m.gguf'], reps: 5,
  write: false, node: true, browser: true };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--write') opt.write = true;
  else if (a === '--no-node') opt.node = false;
  else if (a === '--no-browser') opt.browser = false;
  else if (a === '--models' && i + 1 < argv.length) opt.models = argv[++i].split(',').filter(Boolean);
  else if ((a === '-r' || a === '--reps') && i + 1 < argv.length) {
    opt.reps = Number(argv[++i]);
    if (!Number.isInteger(opt.reps) || opt.reps < 1 || opt.reps > 100) usage('-r expects an integer in [1, 100]');
  } else if (a === '-h' || a === '--help') usage();
  else usage(`unknown argument '${a}'`);
}
const missing = missingInputs(NATIVE, SHARED, REPO, opt.models);
if (missing) usage(missing);

const log = (s) => process.stderr.write(s + '\n');

/** The rows of a `bench` table: { model, type, kernels, threads, pp, tg } (medians). */
function parseTable(out) {
  const rows = [];
  for (const line of out.split('\n')) {
    const c = line.split('|').slice(1, -1).map((x) => x.trim());
    if (c.length !== 9 || c[0] === 'model' || c[0].startsWith('---')) continue;
    const med = (s) => (s === '-' ? null : Number(s.split(' ')[0]));
    rows.push({ model: c[0], type: c[1], kernels: c[4], threads: Number(c[5]), pp: med(c[6]), tg: med(c[7]) });
  }
  return rows;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

const load = loadAverage;
const loadBefore = load();
const results = []; // { model, type, threads, runtime, variant, kernels, pp, tg, nativePp, nativeTg }
let browser = null, server = null, chromiumVersion = null;
try {
  if (opt.browser) {
    browser = await launchBrowser();
    chromiumVersion = browser.version();
    server = await serve({ mounts: { shared: SHARED } });
  }
  for (const model of opt.models) {
    const M = path.join(SHARED, 'models', model);
    log(`== ${model}: native`);
    const nat = parseTable(run(NATIVE, ['bench', '-m', M, '-p', '64', '-n', '64', '-t', '1,2', '-r', String(opt.reps)]));
    const native = (t) => nat.find((r) => r.threads === t) ?? {};
    for (const r of nat) results.push({ ...r, runtime: 'native', variant: '-', nativePp: r.pp, nativeTg: r.tg });
    const add = (rows, runtime, variant) => {
      for (const r of rows)
        results.push({ ...r, runtime, variant, nativePp: native(r.threads).pp, nativeTg: native(r.threads).tg });
    };
    const builds = [['st', 1, 'simd128'], ['mt', 2, 'simd128'], ['st', 1, 'relaxed'], ['mt', 2, 'relaxed']];
    if (opt.node) {
      for (const [variant, t, simd] of builds) {
        const nodeArgs = simd === 'relaxed' ? relaxedNode().args : [];
        if (!nodeArgs) { log(`== ${model}: node ${variant} ${simd}: skipped (${relaxedNode().reason})`); continue; }
        log(`== ${model}: node ${variant} ${simd} ${t} thread(s)`);
        add(parseTable(run(process.execPath, [...nodeArgs, path.join(REPO, 'wasm/cli.mjs'), 'bench', '-m', M, '-t', String(t),
          '-r', String(opt.reps), '--wasm', variant, '--simd', simd])), 'node', variant);
      }
    }
    if (opt.browser) {
      for (const [variant, t, simd] of builds) {
        log(`== ${model}: chromium ${variant} ${simd} ${t} thread(s)`);
        const ctx = await browser.newContext();
        try {
          const page = await ctx.newPage();
          await page.goto(`${server.url}web/bench/index.html?model=/shared/models/${encodeURIComponent(model)}` +
            `&threads=${t}&variant=${variant}&simd=${simd}&r=${opt.reps}`);
          // polled once a second: Playwright's default (every animation frame)
          // keeps the page compositing, which on a 2-CPU machine took CPU from
          // the 2-thread runs (Q8_0 tg64: ~478 vs ~553 t/s, 4 alternated rounds)
          await page.waitForFunction(() => window.qwasmBench && window.qwasmBench.status !== 'running', null,
            { timeout: 600000, polling: 1000 });
          const st = await page.evaluate(() => window.qwasmBench);
          if (st.status !== 'done') throw new Error(`bench page (${model}, ${variant}): ${st.error}`);
          add(st.rows.map((r) => ({ model: r.name, type: r.type, kernels: r.kernels, threads: r.threads,
            pp: r.ppMedian, tg: r.tgMedian })), 'chromium', variant);
        } finally {
          await ctx.close();
        }
      }
    }
  }
} finally {
  if (browser) await browser.close().catch(() => {});
  if (server) await server.close();
}
const loadAfter = load();

const f = (x) => (x == null ? '-' : x.toFixed(1));
const ratio = (a, b) => (a == null || !b ? '-' : (a / b).toFixed(2));
const cpu = cpuModel(), git = gitDescribe(REPO), stamp = utcStamp();

const lines = [];
lines.push(`Generated by \`scripts/bench-wasm.sh\` on ${stamp} (qwasm ${git}).`);
lines.push('');
lines.push(`- Machine: ${cpu}, ${os.availableParallelism?.() ?? os.cpus().length} logical CPUs; Node ${process.version}` +
  (chromiumVersion ? `; Chromium ${chromiumVersion} (headless, Debian)` : ''));
lines.push(`- Load average (1/5/15 min) before: ${loadBefore}, after: ${loadAfter}. The machine may be shared: compare rows of`);
lines.push('  one model (they ran back to back), not across runs.');
lines.push(`- Method: the native \`qwasm bench -p 64 -n 64 -r ${opt.reps}\` and its wasm twin (web/bench/bench.mjs: same`);
lines.push('  prompt ids, same greedy generation from BOS; its warm-up is one whole untimed repetition, for the JIT) in Node (`node wasm/cli.mjs bench`) and in');
lines.push('  headless Chromium (web/bench/index.html: the engine in a module Worker; the page served by');
lines.push('  scripts/serve.mjs with COOP/COEP, so the pthreads build runs). st = single-threaded build, mt =');
lines.push('  pthreads build; SIMD path wasm-simd128 = the baseline build (fmaf emulated exactly in f64x2),');
lines.push('  wasm-relaxed-simd = the relaxed-SIMD build (f32x4.relaxed_madd, fused), what Chromium runs by');
lines.push('  default; both compute the same bits. Cells are medians in tokens/s; "x native" is wasm / native at the same thread count');
lines.push('  from the same run.');
lines.push('');
lines.push('| model | quant | threads | SIMD path | runtime | variant | pp64 t/s | tg64 t/s | pp64 x native | tg64 x native |');
lines.push('| --- | --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: |');
for (const r of results)
  lines.push(`| ${r.model} | ${r.type} | ${r.threads} | ${r.kernels} | ${r.runtime} | ${r.variant} | ${f(r.pp)} | ${f(r.tg)} | ` +
    (r.runtime === 'native' ? '1.00 | 1.00 |' : `${ratio(r.pp, r.nativePp)} | ${ratio(r.tg, r.nativeTg)} |`));
const table = lines.join('\n');
process.stdout.write(table + '\n');

if (opt.write) {
  writeMarkedBlock(DOC, BEGIN, END, table, '## WebAssembly (wasm) benchmarks');
  log(`wrote the wasm table into ${path.relative(REPO, DOC)}`);
}

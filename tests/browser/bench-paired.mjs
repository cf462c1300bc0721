#!/usr/bin/env node
// Paired generation benchmark: headless Chromium against native, one
// measurement of each at a time, alternating, so that every wasm/native ratio
// comes from two runs seconds apart (`scripts/bench-wasm.sh --paired` runs this).
//
// On a shared 2-vCPU machine the speed of both moves by +-30% between minutes
// (the native bench alone, same binary: Q4_0 2 threads 925-1897 t/s within one
// run), so the ratio of two medians taken minutes apart says little; the
// median of per-round ratios does not depend on those swings as long as they
// are slower than a round (~1 s).
//
// Single tg64 runs (~40-100 ms) are too short to compare one to one: the
// native bench alone, one process after another, gave 733-1516 t/s at 2
// threads; so a round is K repetitions on each side and compares their medians.
//
// For each model and thread count (1: the single-threaded build, 2: the
// pthreads build; relaxed SIMD where the browser has it, as the page picks by
// default): one page (web/bench/index.html?mode=paired) loads the model and
// warms up (three untimed tg64); then N rounds of
//   native:   build/qwasm bench -m M -p 0 -n 64 -t T -r K   (its own warm-up,
//             then K timed tg64: greedy from BOS, as the page's; the median)
//   chromium: K x window.qwasmBench.rep()   (K timed tg64; the median)
// in alternating order (even rounds native first). Prints a markdown table:
// medians of each side over the rounds, the median, quartiles and range of
// the per-round ratios, and in how many rounds the ratio was at least 0.5;
// --write puts it into docs/BENCHMARKS.md between <!-- wasm-paired:begin -->
// and <!-- wasm-paired:end -->.
//
//   node tests/browser/bench-paired.mjs [--models a.gguf,b.gguf] [--threads 1,2]
//                                       [-n ROUNDS] [-k REPS] [--simd auto|relaxed|simd128] [--write]
// Env: QW_NATIVE (default build/qwasm), QW_SHARED (default ../shared).
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

import { cpuModel, gitDescribe, loadAverage, missingInputs, utcStamp, writeMarkedBlock } from './bench-common.mjs';
import { REPO, launchBrowser, serve } from './harness.mjs';

const SHARED = process.env.QW_SHARED ?? path.resolve(REPO, '../shared');
const NATIVE = process.env.QW_NATIVE ?? path.join(REPO, 'build/qwasm');
const DOC = path.join(REPO, 'docs/BENCHMARKS.md');
const BEGIN = '<!-- wasm-paired:begin -->', END = '<!-- wasm-paired:end -->';
const N_TOKENS = 64;

function usage(msg) {
  if (msg) process.stderr.write(`bench-paired: ${msg}\n`);
  process.stderr.write('usage: node tests/browser/bench-paired.mjs [--models a.gguf,b.gguf] [--threads 1,2] [-n ROUNDS] ' +
    '[-k REPS] [--simd auto|relaxed|simd128] [--write]\n');
  process.exit(2);
}

const opt = { models: ['synth15M-q8_0.gguf', 'synth15M-q4_0.gguf', 'synth15M-q4_k_m.gguf'], threads: [1, 2],
  rounds: 11, reps: 5, simd: 'auto', write: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i], v = argv[i + 1];
  if (a === '--write') opt.write = true;
  else if (a === '--models' && v !== undefined) { opt.models = v.split(',').filter(Boolean); i++; }
  else if (a === '--threads' && v !== undefined) {
    opt.threads = v.split(',').map(Number);
    if (!opt.threads.length || opt.threads.some((t) => t !== 1 && t !== 2)) usage('--threads expects 1, 2 or 1,2');
    i++;
  } else if ((a === '-n' || a === '--rounds') && v !== undefined) {
    opt.rounds = Number(v);
    if (!Number.isInteger(opt.rounds) || opt.rounds < 1 || opt.rounds > 1000) usage('-n expects an integer in [1, 1000]');
    i++;
  } else if ((a === '-k' || a === '--reps') && v !== undefined) {
    opt.reps = Number(v);
    if (!Number.isInteger(opt.reps) || opt.reps < 1 || opt.reps > 100) usage('-k expects an integer in [1, 100]');
    i++;
  } else if (a === '--simd' && v !== undefined) {
    if (!['auto', 'relaxed', 'simd128'].includes(v)) usage('--simd expects auto, relaxed or simd128');
    opt.simd = v;
    i++;
  } else if (a === '-h' || a === '--help') usage();
  else usage(`unknown argument '${a}'`);
}
const missing = missingInputs(NATIVE, SHARED, REPO, opt.models);
if (missing) usage(missing);

const log = (s) => process.stderr.write(s + '\n');

/** median tg tokens/s of one native `bench -p 0 -r K` run (its table's tg cell) */
function nativeTg(model, threads) {
  const args = ['bench', '-m', model, '-p', '0', '-n', String(N_TOKENS), '-t', String(threads), '-r', String(opt.reps)];
  const r = spawnSync(NATIVE, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${NATIVE} ${args.join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
  for (const line of r.stdout.split('\n')) {
    const c = line.split('|').slice(1, -1).map((x) => x.trim());
    if (c.length === 9 && c[0] !== 'model' && !c[0].startsWith('---')) return { tg: Number(c[7].split(' ')[0]), type: c[1], kernels: c[4] };
  }
  throw new Error(`no table row in the output of ${NATIVE} ${args.join(' ')}`);
}

const quantile = (v, q) => { // linear interpolation between order statistics
  const s = [...v].sort((a, b) => a - b);
  const x = (s.length - 1) * q, i = Math.floor(x);
  return i + 1 < s.length ? s[i] + (s[i + 1] - s[i]) * (x - i) : s[i];
};

const load = loadAverage;
const loadBefore = load();
const rows = [];
const browser = await launchBrowser();
const chromiumVersion = browser.version();
const server = await serve({ mounts: { shared: SHARED } });
try {
  for (const model of opt.models) {
    for (const t of opt.threads) {
      const variant = t > 1 ? 'mt' : 'st';
      log(`== ${model}: ${t} thread(s), ${opt.rounds} rounds of ${opt.reps} repetitions`);
      const ctx = await browser.newContext();
      try {
        const page = await ctx.newPage();
        await page.goto(`${server.url}web/bench/index.html?mode=paired&model=/shared/models/${encodeURIComponent(model)}` +
          `&threads=${t}&variant=${variant}&simd=${opt.simd}&p=0&n=${N_TOKENS}`);
        // polled once a second (see bench-wasm.mjs: rAF polling takes CPU from the workers)
        await page.waitForFunction(() => window.qwasmBench && window.qwasmBench.status !== 'running', null,
          { timeout: 600000, polling: 1000 });
        const st = await page.evaluate(() => ({ status: window.qwasmBench.status, error: window.qwasmBench.error,
          kernels: window.qwasmBench.info && window.qwasmBench.info.kernelPath }));
        if (st.status !== 'ready') throw new Error(`bench page (${model}, ${t} threads): ${st.error ?? st.status}`);
        const M = path.join(SHARED, 'models', model);
        const nat = [], web = [], ratio = [];
        let type = '?';
        for (let r = 0; r < opt.rounds; r++) {
          let n = null, w = null;
          const doNative = () => { const x = nativeTg(M, t); type = x.type; n = x.tg; };
          const doWeb = async () => {
            const v = [];
            for (let k = 0; k < opt.reps; k++) v.push(await page.evaluate(() => window.qwasmBench.rep()));
            w = quantile(v, 0.5);
          };
          if (r % 2 === 0) { doNative(); await doWeb(); } else { await doWeb(); doNative(); }
          nat.push(n);
          web.push(w);
          ratio.push(w / n);
          log(`   round ${r + 1}: native ${n.toFixed(1)}, chromium ${w.toFixed(1)}, ratio ${(w / n).toFixed(3)}`);
        }
        rows.push({ model, type, threads: t, kernels: st.kernels, variant, nat, web, ratio });
      } finally {
        await ctx.close();
      }
    }
  }
} finally {
  await browser.close().catch(() => {});
  await server.close();
}
const loadAfter = load();

const cpu = cpuModel(), git = gitDescribe(REPO), stamp = utcStamp();
const f1 = (x) => x.toFixed(1), f2 = (x) => x.toFixed(2);

const lines = [];
lines.push(`Generated by \`scripts/bench-wasm.sh --paired\` on ${stamp} (qwasm ${git}).`);
lines.push('');
lines.push(`- Machine: ${cpu}, ${os.availableParallelism?.() ?? os.cpus().length} logical CPUs; Chromium ${chromiumVersion}` +
  ` (headless, Debian); load average (1/5/15 min) before: ${loadBefore}, after: ${loadAfter}.`);
lines.push(`- Method: per model and thread count, ${opt.rounds} rounds of one native \`qwasm bench -p 0 -n ${N_TOKENS} -r ${opt.reps}\` and ${opt.reps}`);
lines.push(`  tg${N_TOKENS} runs of the same greedy generation in headless Chromium (web/bench/index.html?mode=paired: the`);
lines.push('  engine in a module Worker, loaded and warmed up once), in alternating order; a round\'s ratio is');
lines.push('  the Chromium median / the native median of that round. Cells are tokens/s medians over the rounds;');
lines.push('  quartiles by linear interpolation.');
lines.push('');
lines.push(`| model | quant | threads | SIMD path | variant | rounds | native tg${N_TOKENS} | Chromium tg${N_TOKENS} | ratio median | ratio quartiles | ratio range | rounds >= 0.5 |`);
lines.push('| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | --- | --- | ---: |');
for (const r of rows) {
  const med = (v) => quantile(v, 0.5);
  lines.push(`| ${r.model} | ${r.type} | ${r.threads} | ${r.kernels} | ${r.variant} | ${r.ratio.length} | ${f1(med(r.nat))} | ` +
    `${f1(med(r.web))} | ${f2(med(r.ratio))} | ${f2(quantile(r.ratio, 0.25))}-${f2(quantile(r.ratio, 0.75))} | ` +
    `${f2(Math.min(...r.ratio))}-${f2(Math.max(...r.ratio))} | ${r.ratio.filter((x) => x >= 0.5).length}/${r.ratio.length} |`);
}
const table = lines.join('\n');
process.stdout.write(table + '\n');

if (opt.write) {
  writeMarkedBlock(DOC, BEGIN, END, table, '### Paired runs: Chromium against native, round by round');
  log(`wrote the paired table into ${path.relative(REPO, DOC)}`);
}

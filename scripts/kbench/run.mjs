#!/usr/bin/env node
// Runs the kernel microbenchmark (scripts/kbench/kbench.c) natively, under
// Node and in headless Chromium, and prints one markdown table: best ns per
// weight block and row of y = W x (1 thread, one activation row), per kernel
// path. Each wasm number is the best of --pages runs (fresh Node processes /
// page loads) of the best of --reps timings: on a shared machine the least
// disturbed run is the comparable one. Called by scripts/bench-kernels.sh,
// which builds what it needs.
//   node scripts/kbench/run.mjs [--reps 7] [--pages 3] [--no-node] [--no-browser]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// the wasm builds whose kbench target was built
const DIRS = ['build-wasm', 'build-wasm-relaxed'].filter((d) => fs.existsSync(path.join(ROOT, d, 'kbench.wasm')));
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1 || v > 1000) {
    console.error(`bench-kernels: ${name} expects an integer in 1..1000, not '${args[i + 1] ?? ''}'`);
    process.exit(2);
  }
  return v;
};
const reps = opt('--reps', 7), pages = opt('--pages', 3);

// child mode: one wasm build under this Node, rows on stdout
if (args[0] === '--child') {
  const dir = path.join(ROOT, args[1]);
  const { createRequire } = await import('node:module');
  const createKbench = createRequire(import.meta.url)(path.join(dir, 'kbench.js'));
  const m = await createKbench({ wasmBinary: fs.readFileSync(path.join(dir, 'kbench.wasm')) });
  const p = m.UTF8ToString(m._kb_path());
  for (let i = 0; i < m._kb_count(); i++)
    console.log(`| node | ${p} ${m.UTF8ToString(m._kb_label(i))} ${m._kb_run_index(i, reps).toFixed(2)} |`);
  process.exit(0);
}

const best = new Map(); // "runtime | path | type | shape" -> ns
function take(lines) {
  for (const l of lines) {
    const cells = l.split('|').map((c) => c.trim()).filter((c, i, a) => i > 0 && i < a.length - 1);
    if (cells.length !== 5) continue;
    const key = cells.slice(0, 4).join(' | '), ns = Number(cells[4]);
    if (!(ns > 0)) continue;
    if (!best.has(key) || ns < best.get(key)) best.set(key, ns);
  }
}

const native = path.join(ROOT, 'build', 'qwasm_kbench');
if (fs.existsSync(native)) {
  const r = spawnSync(native, [String(reps)], { encoding: 'utf8' });
  take(r.stdout.split('\n'));
} else console.error(`(no ${native}: native rows left out)`);

if (!args.includes('--no-node')) {
  const { relaxedNode } = await import('../../tests/node/relaxed.mjs');
  for (const dir of DIRS) {
    let flags = [];
    if (dir.includes('relaxed')) {
      const rn = relaxedNode();
      if (!rn.args) { console.error(`(node: ${dir} skipped: ${rn.reason})`); continue; }
      flags = rn.args;
    }
    for (let k = 0; k < pages; k++) {
      const r = spawnSync(process.execPath, [...flags, fileURLToPath(import.meta.url), '--child', dir, '--reps', String(reps)], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`node ${dir}: ${r.stderr}`);
      take(r.stdout.split('\n'));
    }
  }
}

if (!args.includes('--no-browser') && DIRS.length) {
  const { launchBrowser, serve } = await import('../../tests/browser/harness.mjs');
  const browser = await launchBrowser();
  const server = await serve({ mounts: { kbench: path.join(ROOT, 'scripts', 'kbench') } });
  try {
    for (let k = 0; k < pages; k++) {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${server.url}kbench/index.html?reps=${reps}&dirs=${DIRS.join(',')}`);
      await page.waitForFunction(() => window.kbench && window.kbench.status !== 'running', null, { timeout: 900000, polling: 1000 }); // not every frame: see bench-wasm.mjs
      const st = await page.evaluate(() => window.kbench);
      if (st.status !== 'done') throw new Error(`chromium: ${st.error}`);
      take(st.rows);
      await page.close();
    }
  } finally {
    await browser.close();
    await server.close();
  }
}

console.log('| runtime | kernel path | type | rows x cols | best ns per block-row |');
console.log('| --- | --- | --- | --- | ---: |');
for (const [k, ns] of best) console.log(`| ${k} | ${ns.toFixed(2)} |`);

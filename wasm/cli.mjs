#!/usr/bin/env node
// The Node twin of the native `qwasm` CLI over the WebAssembly build: the same
// commands (info, run, eval, tokenize), flags, output and error lines, plus
//   --wasm st|mt   which build: single-threaded (default) or pthreads
//                  (chosen automatically when --threads > 1)
//   --simd auto|simd128|relaxed
//                  baseline SIMD128 or the relaxed-SIMD (fused multiply-add)
//                  build; auto (default) takes relaxed when Node has it
//                  (Node 20: node --experimental-wasm-relaxed-simd --no-liftoff)
//   --batch N      eval: the first N tokens as one batch, then one at a time
//   --module DIR   load qwasm.mjs/qwasm.wasm from DIR instead of build-wasm*/
//   bench          as the native `qwasm bench` (table rows on stdout)
// Build the modules first: bash scripts/build-wasm.sh
import { pathToFileURL } from 'node:url';
import { Engine, QwasmError, formatEvalRow, formatFixed, formatG, formatInfo } from './engine.mjs';
import { benchHeader, parseThreadList, runBench } from '../web/bench/bench.mjs';

const USAGE =
  'usage: node wasm/cli.mjs COMMAND [options]\n' +
  '\n' +
  '  info MODEL                     architecture, hyperparameters, tensor types, sizes\n' +
  '  run -m MODEL -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p M]\n' +
  '      [--repeat-penalty R] [--repeat-last-n N] [--seed S] [--threads N] [--ctx N]\n' +
  '      [--stop STR]... [--no-bos]\n' +
  '                                 generate; text to stdout, speed to stderr\n' +
  '  eval -m MODEL (--prompt TEXT | --tokens "1 403 407") [--top K] [--batch N] [--threads N]\n' +
  '                                 teacher-forced logits, one JSON object per position\n' +
  '  tokenize -m MODEL [--no-bos] TEXT\n' +
  '                                 token ids of TEXT\n' +
  '  bench -m MODEL [-p 64] [-n 64] [-t 1,2] [-r 5]\n' +
  '                                 prompt (pp) and generation (tg) tokens/s\n' +
  '  every command: [--wasm st|mt]  single-threaded (default) or pthreads build\n' +
  '                 [--simd auto|simd128|relaxed]  baseline or relaxed-SIMD build (auto: relaxed if available)\n' +
  '                 [--module DIR]  the qwasm.mjs + qwasm.wasm to use\n';

const INT_MAX = 2147483647;

class Exit extends Error {
  constructor(status) { super(`exit ${status}`); this.status = status; }
}

function cliError(msg) {
  process.stderr.write(`qwasm: error: ${msg}\n`);
  return 1;
}

// strtol-like: optional leading whitespace, sign, digits, nothing after
function parseInt_(flag, s, lo, hi) {
  const ok = /^[ \t\n\v\f\r]*[+-]?[0-9]+$/.test(s);
  const v = ok ? Number(s.trim()) : NaN;
  if (!ok || v < lo || v > hi) {
    cliError(`${flag} expects an integer in [${lo}, ${hi}], got '${s}'`);
    throw new Exit(2);
  }
  return v;
}

function parseFloat_(flag, s, lo, hi) {
  const ok = /^[ \t\n\v\f\r]*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(s);
  const v = ok ? Number(s.trim()) : NaN;
  if (!ok || !Number.isFinite(v) || v < lo || v > hi) {
    cliError(`${flag} expects a number in [${formatG(lo)}, ${formatG(hi)}], got '${s}'`);
    throw new Exit(2);
  }
  return Math.fround(v);
}

function parseArgs(argv) {
  const o = {
    model: null, prompt: null, tokens: null, stops: [], nPredict: 128, nCtx: 0, threads: 1,
    threadsSet: false, top: 5, noBos: false, seed: undefined, positional: [], batch: 0,
    wasm: null, sp: {}, threadList: null, reps: 5, nPredictSet: false, moduleDir: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a[0] !== '-' || a.length === 1) {
      if (o.positional.length === 4) { cliError(`too many arguments ('${a}')`); throw new Exit(2); }
      o.positional.push(a);
      continue;
    }
    if (a === '--no-bos') { o.noBos = true; continue; }
    if (i + 1 >= argv.length) { cliError(`${a} needs a value`); throw new Exit(2); }
    const v = argv[++i];
    switch (a) {
      case '-m': case '--model': o.model = v; break;
      case '-p': case '--prompt': o.prompt = v; break;
      case '--tokens': o.tokens = v; break;
      case '-n': case '--n-predict': o.nPredict = parseInt_(a, v, 0, INT_MAX); o.nPredictSet = true; break;
      case '-r': case '--reps': o.reps = parseInt_(a, v, 1, 1000); break;
      case '--module': o.moduleDir = v; break;
      case '-c': case '--ctx': o.nCtx = parseInt_(a, v, 1, 1 << 20); break;
      case '-t': case '--threads':
        if (v.includes(',')) {
          o.threadList = parseThreadList(v);
          if (!o.threadList) { cliError(`${a} expects integers in [1, 512], got '${v}'`); throw new Exit(2); }
          o.threads = Math.max(...o.threadList);
        } else {
          o.threads = parseInt_(a, v, 1, 512);
          o.threadList = [o.threads];
        }
        o.threadsSet = true; break;
      case '--top': o.top = parseInt_(a, v, 1, 1 << 20); break;
      case '--batch': o.batch = parseInt_(a, v, 1, INT_MAX); break;
      case '--temp': o.sp.temperature = parseFloat_(a, v, 0.0, 100.0); break;
      case '--top-k': o.sp.topK = parseInt_(a, v, 0, INT_MAX); break;
      case '--top-p': o.sp.topP = parseFloat_(a, v, 0.0, 1.0); break;
      case '--min-p': o.sp.minP = parseFloat_(a, v, 0.0, 1.0); break;
      case '--repeat-penalty': o.sp.repeatPenalty = parseFloat_(a, v, 0.01, 100.0); break;
      case '--repeat-last-n': o.sp.repeatLastN = parseInt_(a, v, 0, 1 << 20); break;
      case '-s': case '--seed':
        if (!/^[ \t\n\v\f\r]*\+?[0-9]+$/.test(v)) { cliError(`--seed expects a non-negative integer, got '${v}'`); throw new Exit(2); }
        o.seed = BigInt(v.trim());
        if (o.seed >= 1n << 64n) { cliError(`--seed expects a non-negative integer, got '${v}'`); throw new Exit(2); }
        break;
      case '--stop':
        if (o.stops.length === 16) { cliError('at most 16 --stop strings'); throw new Exit(2); }
        if (!v) { cliError('--stop string is empty'); throw new Exit(2); }
        o.stops.push(v);
        break;
      case '--simd':
        if (!['auto', 'simd128', 'relaxed'].includes(v)) { cliError(`--simd expects auto, simd128 or relaxed, got '${v}'`); throw new Exit(2); }
        o.simd = v;
        break;
      case '--wasm':
        if (v !== 'st' && v !== 'mt') { cliError(`--wasm expects st or mt, got '${v}'`); throw new Exit(2); }
        o.wasm = v;
        break;
      default:
        cliError(`unknown option '${a}' (see 'qwasm help')`);
        throw new Exit(2);
    }
  }
  return o;
}

async function engineFor(o) {
  const variant = o.wasm ?? (o.threads > 1 ? 'mt' : 'st');
  if (variant === 'st' && o.threads > 1) {
    cliError('the single-threaded build runs 1 thread (use --wasm mt)');
    throw new Exit(2);
  }
  const moduleUrl = o.moduleDir ? pathToFileURL(o.moduleDir.replace(/\/?$/, '/') + 'qwasm.mjs') : undefined;
  try {
    return await Engine.create({ variant, simd: o.simd ?? 'auto', threads: o.threads, moduleUrl });
  } catch (e) {
    if (e instanceof QwasmError && e.code === 'UNSUPPORTED_RUNTIME') throw new Exit(cliError(e.message));
    throw e;
  }
}

async function loadModel(engine, path) {
  if (!path) throw new Exit(cliError('no model given (-m FILE.gguf)'));
  try {
    await engine.load(path);
  } catch (e) {
    if (e instanceof QwasmError) throw new Exit(cliError(`cannot load model '${path}': ${e.message}`));
    throw e;
  }
}

const write = (s) => new Promise((resolve) => { if (process.stdout.write(s)) resolve(); else process.stdout.once('drain', resolve); });

async function cmdInfo(e, o) {
  const model = o.model ?? (o.positional.length === 1 ? o.positional[0] : null);
  if (!model) return cliError('info needs a model: qwasm info MODEL.gguf');
  await loadModel(e, model);
  await write(formatInfo(e.info(), model));
  return 0;
}

async function cmdTokenize(e, o) {
  const text = o.positional.length === 1 ? o.positional[0] : o.prompt;
  if (text === null) return cliError('tokenize needs a text: qwasm tokenize -m MODEL TEXT');
  await loadModel(e, o.model);
  const info = e.info();
  const ids = e.tokenize(text, { addBos: info.addBos && !o.noBos });
  await write(ids.join(' ') + '\n');
  return 0;
}

function parseIds(s) {
  const ids = [];
  let i = 0;
  for (;;) {
    while (i < s.length && ' ,\t\n'.includes(s[i])) i++;
    if (i >= s.length) break;
    const m = /^[ \t\n\v\f\r]*[+-]?[0-9]+/.exec(s.slice(i));
    const v = m ? Number(m[0].trim()) : NaN;
    if (!m || v < -2147483647 || v > 2147483647) {
      cliError(`--tokens: '${s.slice(i)}' is not a list of integers`);
      return null;
    }
    ids.push(v);
    i += m[0].length;
  }
  return ids;
}

async function cmdEval(e, o) {
  if ((o.prompt === null) === (o.tokens === null)) return cliError('eval needs exactly one of --prompt or --tokens');
  await loadModel(e, o.model);
  const info = e.info();
  const ids = o.tokens !== null ? parseIds(o.tokens) : e.tokenize(o.prompt, { addBos: info.addBos && !o.noBos });
  if (!ids) return 1;
  if (ids.length === 0) return cliError('no tokens to evaluate');
  for (let i = 0; i < ids.length; i++)
    if (ids[i] < 0 || ids[i] >= info.nVocab)
      return cliError(`token id ${ids[i]} at index ${i} is out of range [0, ${info.nVocab})`);
  const rows = e.eval(ids, { top: o.top, batch: o.batch || undefined, nCtx: o.nCtx, threads: o.threads });
  await write(rows.map((r) => formatEvalRow(r) + '\n').join(''));
  return 0;
}

async function cmdRun(e, o) {
  if (o.prompt === null) return cliError('run needs a prompt (-p TEXT)');
  await loadModel(e, o.model);
  const info = e.info();
  const it = e.complete({
    prompt: o.prompt, maxTokens: o.nPredict, addBos: info.addBos && !o.noBos, nCtx: o.nCtx,
    threads: o.threads, stop: o.stops, seed: o.seed, temperature: o.sp.temperature,
    topK: o.sp.topK, topP: o.sp.topP, minP: o.sp.minP, repeatPenalty: o.sp.repeatPenalty,
    repeatLastN: o.sp.repeatLastN,
  });
  let first = true;
  for await (const piece of it) {
    if (first) { await write(o.prompt); first = false; }
    await write(piece);
  }
  const st = e.lastStats;
  if (first) await write(o.prompt);
  if (st.contextFull) process.stderr.write(`\nqwasm: context full (${st.nCtx} tokens), stopping\n`);
  await write('\n');
  const tp = st.promptMs / 1e3, tg = st.genMs / 1e3;
  const nDec = st.genTokens > 1 ? st.genTokens - 1 : 0;
  process.stderr.write(
    `prompt: ${st.promptTokens} tokens in ${formatFixed(tp * 1e3, 1)} ms (${formatFixed(st.promptTokens / tp, 1)} tok/s) | ` +
    `generation: ${st.genTokens} tokens in ${formatFixed(tg * 1e3, 1)} ms ` +
    `(${formatFixed(nDec > 0 ? nDec / tg : 0, 1)} tok/s) | threads ${st.threads}\n`);
  return 0;
}

async function cmdBench(e, o) {
  let p = 64;
  if (o.prompt !== null) p = parseInt_('-p', o.prompt, 0, 1 << 16);
  const n = o.nPredictSet ? o.nPredict : 64;
  if (n > (1 << 16)) return cliError(`-n expects at most ${1 << 16} for bench`);
  if (p === 0 && n === 0) return cliError('nothing to measure: -p and -n are both 0');
  if (o.positional.length) return cliError(`bench takes no arguments ('${o.positional[0]}')`);
  await loadModel(e, o.model);
  await write(benchHeader(p, n) + '\n');
  await runBench(e, {
    p, n, reps: o.reps, threads: o.threadList ?? [1], seed: o.seed ?? 0n, name: o.model,
    onRow: (row) => process.stdout.write(row.line + '\n'),
  });
  return 0;
}

async function main(argv) {
  if (argv.length < 1 || ['help', '-h', '--help'].includes(argv[0])) {
    (argv.length < 1 ? process.stderr : process.stdout).write(USAGE);
    return argv.length < 1 ? 2 : 0;
  }
  const cmd = argv[0];
  const o = parseArgs(argv.slice(1));
  const cmds = { info: cmdInfo, run: cmdRun, eval: cmdEval, tokenize: cmdTokenize, bench: cmdBench };
  if (o.threadList && o.threadList.length > 1 && cmd !== 'bench') {
    cliError('only bench takes a list of thread counts');
    return 2;
  }
  if (!cmds[cmd]) {
    if (cmd === 'synth') { cliError(`'${cmd}' is native-only (use build/qwasm ${cmd})`); return 2; }
    cliError(`unknown command '${cmd}' (try 'qwasm help')`);
    return 2;
  }
  const e = await engineFor(o);
  try {
    return await cmds[cmd](e, o);
  } finally {
    e.dispose();
  }
}

main(process.argv.slice(2)).then(
  (status) => { process.exitCode = status; },
  (err) => {
    if (err instanceof Exit) process.exitCode = err.status;
    else if (err instanceof QwasmError) process.exitCode = cliError(err.message);
    else { process.stderr.write(`qwasm: error: ${err && err.stack || err}\n`); process.exitCode = 1; }
  });

// Which engine the page and the widget use: createEngine() of wasm/qwasm.mjs
// (the model runs in a Web Worker). Module URLs are resolved relative to this
// file, so the page and the widget work wherever the repository layout is
// served (/web/, /wasm/, /build-wasm/, /build-wasm-mt/ and the -relaxed twins).

const QWASM_URL = new URL('../../wasm/qwasm.mjs', import.meta.url);

let apiPromise = null;

/** The qwasm JS API module ({ createEngine, QwasmError, plainTemplate }). */
export function qwasmApi() {
  apiPromise ??= import(QWASM_URL.href);
  return apiPromise;
}

/** Threads to use: 1 without cross-origin isolation (no SharedArrayBuffer), else the setting or up to 4. */
export function pickThreads(setting) {
  const isolated = globalThis.crossOriginIsolated === true;
  if (!isolated) return 1;
  const n = Number(setting);
  if (Number.isInteger(n) && n >= 1) return Math.min(n, 16);
  return Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
}

/** A new engine (worker) with `threads` threads; variant chosen by the API ('auto'). */
export async function newEngine({ threads = 1 } = {}) {
  const api = await qwasmApi();
  return api.createEngine({ threads, variant: 'auto' });
}

/** A one-line description of the active path, e.g. "wasm-simd128 · up to 2 threads (mt) · cross-origin isolated"
 * (a generation may use fewer: the page's "auto" runs small models on one thread; the status line says what it used). */
export function describePath(info) {
  const isolated = info.crossOriginIsolated ?? globalThis.crossOriginIsolated === true;
  const t = info.threads ?? 1;
  const parts = [info.kernelPath ?? '?', `${t === 1 ? '1 thread' : `up to ${t} threads`} (${info.variant ?? '?'})`];
  parts.push(isolated ? 'cross-origin isolated' : 'not cross-origin isolated: single-threaded');
  return parts.join(' · ');
}

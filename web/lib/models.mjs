// Model loading with a verified Cache Storage copy, shared by the chat page and
// the widget.
//
// A URL model is downloaded once: the response body is teed, one branch streams
// into the engine, the other into Cache Storage; the cached copy is kept only
// when both branches complete and the engine accepted the model, together with
// its size and sha256 (computed by the engine) in a second cache. A cached
// model is loaded from Cache Storage with expectSha256, so the engine checks
// length and digest; a corrupted or partial entry is deleted and the model
// downloaded again. Failed or partial downloads are never kept.

export const DEFAULT_MODEL = new URL('../../models/stories260K-f32.gguf', import.meta.url).href;
const BODY_CACHE = 'qwasm-models-v1';
const META_CACHE = 'qwasm-models-meta-v1';

const hasCaches = () => typeof caches === 'object' && caches !== null;

/** Absolute form of a model URL (the cache key). */
export function modelKey(url) {
  return new URL(url, globalThis.location?.href).href;
}

/** A short display name for a model URL or file name. */
export function modelName(urlOrName) {
  try {
    const u = new URL(urlOrName, globalThis.location?.href);
    return decodeURIComponent(u.pathname.split('/').pop() || u.host);
  } catch {
    return String(urlOrName);
  }
}

/** Cached models: [{ url, name, size, sha256, storedAt }] (entries missing either half are removed). */
export async function listCached() {
  if (!hasCaches()) return [];
  const meta = await caches.open(META_CACHE);
  const body = await caches.open(BODY_CACHE);
  const out = [];
  const metaKeys = new Set();
  for (const req of await meta.keys()) {
    metaKeys.add(req.url);
    let m = null;
    try { m = await (await meta.match(req)).json(); } catch { m = null; }
    const has = await body.match(req.url);
    if (!m || !has) { await deleteCached(req.url); continue; }
    out.push({ url: req.url, name: m.name ?? modelName(req.url), size: m.size, sha256: m.sha256, storedAt: m.storedAt });
  }
  // bodies without metadata are leftovers of an interrupted download
  for (const req of await body.keys()) if (!metaKeys.has(req.url)) await body.delete(req);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Removes a model from the cache. */
export async function deleteCached(url) {
  if (!hasCaches()) return;
  const key = modelKey(url);
  await (await caches.open(META_CACHE)).delete(key);
  await (await caches.open(BODY_CACHE)).delete(key);
}

async function cachedEntry(key) {
  if (!hasCaches()) return null;
  const metaRes = await (await caches.open(META_CACHE)).match(key);
  if (!metaRes) return null;
  let meta;
  try { meta = await metaRes.json(); } catch { meta = null; }
  const res = await (await caches.open(BODY_CACHE)).match(key);
  if (!meta || !res || !res.body || !Number.isSafeInteger(meta.size) || !/^[0-9a-f]{64}$/.test(meta.sha256 ?? '')) {
    await res?.body?.cancel().catch(() => {});
    await deleteCached(key);
    return { corrupt: 'incomplete cache entry' };
  }
  const len = res.headers.get('content-length');
  if (len !== null && Number(len) !== meta.size) {
    await res.body.cancel().catch(() => {});
    await deleteCached(key);
    return { corrupt: `cached size ${len} != ${meta.size}` };
  }
  return { meta, res };
}

const INTEGRITY_CODES = new Set(['INTEGRITY', 'TRUNCATED', 'BAD_MODEL', 'IO']);

/**
 * Loads a model into `engine`. source: { url } or { file }.
 * opts: onProgress(loaded, total), onStatus(text), signal, useCache (default true).
 * Resolves to { info, from: 'cache'|'network'|'file', cached: boolean, notice?: string }.
 * Rejects with the engine's QwasmError (or an Error with code NETWORK for HTTP failures).
 */
export async function loadModel(engine, source, opts = {}) {
  const { onProgress, onStatus = () => {}, signal } = opts;
  if (source.file) {
    onStatus(`reading ${source.file.name}`);
    const info = await engine.load(source.file, { name: source.file.name, onProgress, signal });
    return { info, from: 'file', cached: false };
  }
  const key = modelKey(source.url);
  const name = modelName(key);
  const useCache = opts.useCache !== false && hasCaches();
  let notice;
  if (useCache) {
    const hit = await cachedEntry(key);
    if (hit?.corrupt) notice = `the cached copy was damaged (${hit.corrupt}); downloading it again`;
    else if (hit) {
      onStatus(`loading ${name} from the cache`);
      try {
        const info = await engine.load(hit.res.body, { size: hit.meta.size, name, onProgress, signal,
          expectSha256: hit.meta.sha256 });
        return { info, from: 'cache', cached: true };
      } catch (e) {
        if (e?.code === 'ABORTED' || !INTEGRITY_CODES.has(e?.code)) throw e;
        await deleteCached(key);
        notice = `the cached copy failed its check (${e.message}); downloading it again`;
      }
    }
  }
  if (/-\d{5}-of-\d{5}\.gguf$/i.test(new URL(key).pathname)) {
    // a split model: the engine fetches every part itself (not cached)
    onStatus(`downloading ${name} and its other parts`);
    const info = await engine.load(key, { name, onProgress, signal });
    return { info, from: 'network', cached: false, notice: 'split models are not cached' };
  }
  if (notice) onStatus(notice);
  else onStatus(`downloading ${name}`);
  const r = await download(engine, key, name, { onProgress, signal, useCache });
  return { ...r, notice: [notice, r.notice].filter(Boolean).join('; ') || undefined };
}

function netError(message) {
  const e = new Error(message);
  e.name = 'QwasmError';
  e.code = 'NETWORK';
  return e;
}

async function download(engine, key, name, { onProgress, signal, useCache }) {
  // our own controller: when the engine gives up, the cache branch must stop too
  const ctl = new AbortController();
  const onAbort = () => ctl.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    let res;
    try {
      res = await fetch(key, { signal: ctl.signal, cache: 'no-store' });
    } catch (e) {
      if (signal?.aborted) throw Object.assign(netError('loading was aborted'), { code: 'ABORTED' });
      throw netError(`${name}: cannot fetch (${e.message})`);
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => {});
      throw netError(`${name}: HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}`);
    }
    const len = res.headers.get('content-length');
    const enc = res.headers.get('content-encoding');
    const size = len !== null && /^\d+$/.test(len) && (!enc || enc === 'identity') ? Number(len) : NaN;
    if (!Number.isSafeInteger(size)) {
      // no usable length: let the engine fetch it itself (no cache copy)
      await res.body.cancel().catch(() => {});
      const info = await engine.load(key, { name, onProgress, signal: ctl.signal });
      return { info, from: 'network', cached: false, notice: 'not cached: the server sent no Content-Length' };
    }
    const cacheIt = useCache && res.status === 200;
    // note a broken connection ourselves: the engine only sees a failing stream
    let received = 0, broken = null;
    const reader = res.body.getReader();
    const body = new ReadableStream({
      async pull(c) {
        let r;
        try {
          r = await reader.read();
        } catch (e) {
          broken = e;
          c.error(e);
          return;
        }
        if (r.done) c.close();
        else { received += r.value.length; c.enqueue(r.value); }
      },
      cancel(why) { return reader.cancel(why); },
    });
    let engineBody = body, cacheBody = null;
    if (cacheIt) [engineBody, cacheBody] = body.tee();
    let cachePut = Promise.resolve(false);
    if (cacheBody) {
      cachePut = (async () => {
        const cache = await caches.open(BODY_CACHE);
        await cache.put(key, new Response(cacheBody, { headers: {
          'Content-Type': 'application/octet-stream', 'Content-Length': String(size) } }));
        return true;
      })();
      cachePut.catch(() => {}); // observed below
    }
    let info;
    try {
      info = await engine.load(engineBody, { size, name, onProgress, signal: ctl.signal, computeSha256: cacheIt });
    } catch (e) {
      // a break seen before the engine failed explains the failure; the abort
      // below (which stops the download after e.g. a bad header) must not
      // count as one
      const brokeOff = broken;
      ctl.abort();
      await cachePut.catch(() => {});
      if (cacheIt) await deleteCached(key).catch(() => {});
      if (brokeOff && !signal?.aborted && e?.code !== 'ABORTED')
        throw netError(`${name}: the connection broke off after ${formatBytes(received)} of ${formatBytes(size)} (${brokeOff.message})`);
      throw e;
    }
    let cached = false, notice;
    if (cacheIt) {
      try {
        await cachePut;
        if (!/^[0-9a-f]{64}$/.test(info.sha256 ?? '')) throw new Error('the engine reported no sha256');
        const check = await (await caches.open(BODY_CACHE)).match(key);
        const got = check?.headers.get('content-length');
        await check?.body?.cancel().catch(() => {});
        if (!check || (got !== null && Number(got) !== size)) throw new Error('the cached copy is incomplete');
        await (await caches.open(META_CACHE)).put(key, new Response(JSON.stringify({
          name, size, sha256: info.sha256, storedAt: new Date().toISOString() }),
        { headers: { 'Content-Type': 'application/json' } }));
        cached = true;
      } catch (e) {
        await deleteCached(key).catch(() => {});
        notice = `not cached (${e.message})`;
      }
    }
    return { info, from: 'network', cached, notice };
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

// ---------------------------------------------------------- formatting --

export function formatBytes(n) {
  if (!Number.isFinite(n)) return '?';
  if (n >= 1e9) return (n / 1e9).toFixed(2) + ' GB';
  if (n >= 1e6) return (n / 1e6).toFixed(n >= 1e8 ? 0 : 1) + ' MB';
  if (n >= 1e3) return (n / 1e3).toFixed(0) + ' KB';
  return n + ' B';
}

/** Tracks a download: text like "12.3 / 45.6 MB · 8.1 MB/s · 4 s left" and a percentage. */
export class ProgressMeter {
  constructor() { this.reset(); }
  reset() { this.t0 = performance.now(); this.samples = []; this.loaded = 0; this.total = 0; }
  update(loaded, total) {
    const t = performance.now();
    this.loaded = loaded;
    this.total = total;
    this.samples.push([t, loaded]);
    while (this.samples.length > 2 && t - this.samples[0][0] > 3000) this.samples.shift();
  }
  get percent() { return this.total > 0 ? Math.min(100, (100 * this.loaded) / this.total) : 0; }
  get rate() { // bytes/s over the last few seconds
    const s = this.samples;
    if (s.length < 2) return NaN;
    const dt = (s[s.length - 1][0] - s[0][0]) / 1000;
    return dt > 0 ? (s[s.length - 1][1] - s[0][1]) / dt : NaN;
  }
  get text() {
    const mb = (x) => (x / 1e6).toFixed(1);
    let s = `${mb(this.loaded)} / ${mb(this.total)} MB`;
    const r = this.rate;
    if (Number.isFinite(r) && r > 0) {
      s += ` · ${(r / 1e6).toFixed(1)} MB/s`;
      if (this.loaded < this.total) s += ` · ${formatDuration((this.total - this.loaded) / r)} left`;
    }
    return s;
  }
  get elapsed() { return (performance.now() - this.t0) / 1000; }
}

export function formatDuration(sec) {
  if (!Number.isFinite(sec)) return '?';
  if (sec < 60) return `${Math.ceil(sec)} s`;
  const m = Math.floor(sec / 60), s = Math.round(sec % 60);
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

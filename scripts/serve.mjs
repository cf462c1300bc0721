#!/usr/bin/env node
// Development server for the qwasm web page, the widget and the browser tests.
// Plain Node, no npm dependencies. Serves the repository layout, read-only:
//   /web/  /wasm/  /build-wasm/  /build-wasm-mt/  /build-wasm-relaxed/
//   /build-wasm-mt-relaxed/  /models/                      (`/` redirects to /web/)
// with the headers the pthreads build needs (cross-origin isolation), correct
// MIME types, HEAD, single-range requests, ETag/Last-Modified revalidation.
//
//   node scripts/serve.mjs [--port N] [--host H] [--no-isolation]
//
//   import { startServer } from './scripts/serve.mjs';
//   const srv = await startServer({ root, port: 0 });   // srv.url = 'http://127.0.0.1:PORT/'
//   srv.setFault('/models/x.gguf', { dropAfterBytes: 65536, times: 1 });
//   srv.requests  // [{ method, path, status, range, ... }]
//   await srv.close();

import http from 'node:http';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MOUNTS = ['web', 'wasm', 'build-wasm', 'build-wasm-mt', 'build-wasm-relaxed', 'build-wasm-mt-relaxed', 'models'];

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.tsv': 'text/tab-separated-values; charset=utf-8',
  '.wasm': 'application/wasm',
  '.gguf': 'application/octet-stream',
};

/** Parses a Range header against a file size: null (ignore: serve the whole
 * file), 'unsatisfiable', or { start, end } (inclusive). Only single ranges. */
export function parseRange(header, size) {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return null; // unknown unit, bad syntax or several ranges: RFC 9110 allows ignoring it
  const [, a, b] = m;
  if (a === '' && b === '') return null;
  let start, end;
  if (a === '') { // suffix: the last b bytes
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== '' && Number(b) < start) return null; // invalid range: ignore
  }
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) return null;
  if (start >= size || size === 0) return 'unsatisfiable';
  return { start, end };
}

function etagOf(st) {
  return `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}-${st.ino.toString(16)}"`;
}

function etagListMatches(header, etag) {
  if (header.trim() === '*') return true;
  // weak comparison for If-None-Match
  const strip = (t) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => strip(t) === strip(etag));
}

/**
 * Starts the server. Options:
 *   root      repository root (default: this script's ../)
 *   host      default '127.0.0.1'
 *   port      default 0 (a free port); the CLI uses 8080
 *   isolate   send COOP/COEP (cross-origin isolation; needed for threads); default true
 *   log       optional (line) => void, one line per request
 *   mounts    extra { 'name': '/abs/dir' } served under /name/ (default none)
 * Returns { url, port, host, close(), requests, setFault(path, fault), clearFaults() }.
 */
export async function startServer({ root = REPO, host = '127.0.0.1', port = 0, isolate = true, log,
  mounts = {} } = {}) {
  root = path.resolve(root);
  const dirs = new Map();
  for (const m of MOUNTS) dirs.set(m, path.join(root, m));
  for (const [k, v] of Object.entries(mounts)) {
    if (!/^[A-Za-z0-9._-]+$/.test(k)) throw new Error(`serve: bad mount name '${k}'`);
    dirs.set(k, path.resolve(v));
  }
  const requests = [];
  const faults = new Map(); // pathname -> { dropAfterBytes?, status?, times }

  function takeFault(pathname, hasBody) {
    const f = faults.get(pathname);
    if (!f) return null;
    if (f.dropAfterBytes !== undefined && !hasBody && f.status === undefined) return null;
    if (--f.times <= 0) faults.delete(pathname);
    return f;
  }

  const server = http.createServer((req, res) => {
    const entry = { method: req.method, path: '', status: 0, range: req.headers.range ?? null,
      time: Date.now(), bytes: 0, dropped: false };
    requests.push(entry);
    res.on('close', () => log?.(`${entry.method} ${entry.path} ${entry.status}` +
      (entry.range ? ` range=${entry.range}` : '') + (entry.dropped ? ' (dropped)' : '')));
    handle(req, res, entry).catch((e) => {
      if (!res.headersSent) send(res, entry, 500, `internal error: ${e.message}\n`);
      else res.destroy();
    });
  });

  function common(res) {
    if (isolate) {
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
      res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    }
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-cache');
  }

  function send(res, entry, status, text, extra = {}) {
    entry.status = status;
    common(res);
    const body = Buffer.from(text ?? '');
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': body.length, ...extra });
    res.end(entry.method === 'HEAD' ? undefined : body);
  }

  async function handle(req, res, entry) {
    let pathname;
    try {
      const u = new URL(req.url, 'http://x');
      pathname = decodeURIComponent(u.pathname);
      entry.path = pathname;
    } catch {
      entry.path = req.url;
      return send(res, entry, 400, 'bad request path\n');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, entry, 405, 'only GET and HEAD\n', { Allow: 'GET, HEAD' });
    if (pathname === '/') return send(res, entry, 302, 'see /web/\n', { Location: '/web/' });
    if (pathname.includes('\0')) return send(res, entry, 400, 'bad request path\n');

    const forced = faults.get(pathname);
    if (forced && forced.status !== undefined) {
      takeFault(pathname, false);
      return send(res, entry, forced.status, `forced status ${forced.status}\n`);
    }

    const parts = pathname.split('/').filter((p) => p !== '');
    if (parts.some((p) => p === '..' || p === '.')) return send(res, entry, 400, 'bad request path\n');
    const base = dirs.get(parts[0]);
    if (!base) return send(res, entry, 404, 'not found (served: ' + [...dirs.keys()].map((d) => `/${d}/`).join(' ') + ')\n');
    let file = path.join(base, ...parts.slice(1));
    let st;
    try {
      // no way out through symlinks either
      const real = await fsp.realpath(file);
      const realBase = await fsp.realpath(base);
      if (real !== realBase && !real.startsWith(realBase + path.sep)) return send(res, entry, 404, 'not found\n');
      file = real;
      st = await fsp.stat(file);
    } catch {
      return send(res, entry, 404, 'not found\n');
    }
    if (st.isDirectory()) {
      if (!pathname.endsWith('/')) {
        const u = new URL(req.url, 'http://x');
        return send(res, entry, 301, 'moved\n', { Location: u.pathname + '/' + u.search });
      }
      file = path.join(file, 'index.html');
      try { st = await fsp.stat(file); } catch { return send(res, entry, 404, 'not found\n'); }
      if (!st.isFile()) return send(res, entry, 404, 'not found\n');
    } else if (!st.isFile()) {
      return send(res, entry, 404, 'not found\n');
    }

    const size = st.size;
    const etag = etagOf(st);
    const lastModified = new Date(Math.floor(st.mtimeMs / 1000) * 1000).toUTCString();
    const type = MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
    const headers = { 'Content-Type': type, 'Accept-Ranges': 'bytes', ETag: etag, 'Last-Modified': lastModified };

    const inm = req.headers['if-none-match'];
    if (inm !== undefined && etagListMatches(inm, etag)) {
      entry.status = 304;
      common(res);
      res.writeHead(304, { ETag: etag, 'Last-Modified': lastModified });
      return res.end();
    }

    let range = null;
    if (req.headers.range !== undefined) {
      let honour = true;
      const ifRange = req.headers['if-range'];
      if (ifRange !== undefined) {
        const t = ifRange.trim();
        if (t.startsWith('"') || t.startsWith('W/')) honour = t === etag; // strong comparison
        else honour = t === lastModified;
      }
      if (honour) range = parseRange(req.headers.range, size);
    }
    if (range === 'unsatisfiable') {
      return send(res, entry, 416, 'range not satisfiable\n', { 'Content-Range': `bytes */${size}`, 'Accept-Ranges': 'bytes' });
    }
    const start = range ? range.start : 0;
    const end = range ? range.end : size - 1;
    const length = size === 0 ? 0 : end - start + 1;
    const status = range ? 206 : 200;
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    headers['Content-Length'] = length;
    entry.status = status;
    common(res);
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || length === 0) return res.end();

    const fault = takeFault(pathname, true);
    const rate = fault?.bytesPerSecond;
    const dropAt = fault?.dropAfterBytes;
    const stream = fs.createReadStream(file, { start, end, highWaterMark: 64 * 1024 });
    res.on('close', () => stream.destroy());
    for await (const chunk of stream) {
      let c = chunk;
      if (dropAt !== undefined && entry.bytes + c.length >= dropAt) {
        c = c.subarray(0, Math.max(0, dropAt - entry.bytes));
        entry.bytes += c.length;
        entry.dropped = true;
        // let the bytes before the cut reach the client, then kill the connection
        await new Promise((r) => res.write(c, () => r()));
        stream.destroy();
        res.socket?.destroy();
        res.destroy();
        return;
      }
      entry.bytes += c.length;
      if (!res.write(c)) {
        await new Promise((r) => {
          const done = () => { res.off('drain', done); res.off('close', done); r(); };
          res.on('drain', done);
          res.on('close', done);
        });
      }
      if (res.destroyed) return stream.destroy();
      if (rate) await new Promise((r) => setTimeout(r, (c.length / rate) * 1000));
    }
    res.end();
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  const actualPort = server.address().port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${shownHost}:${actualPort}/`;
  const sockets = new Set();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });

  return {
    url,
    port: actualPort,
    host,
    isolate,
    requests,
    /**
     * Next `times` (default 1) responses for `pathname` misbehave:
     *   { dropAfterBytes: N }   the socket is destroyed after N body bytes (GET with a body)
     *   { status: S }           the response is status S instead (any method)
     *   { bytesPerSecond: R }   the body is sent at about R bytes/s (slow network)
     * fault null removes it.
     */
    setFault(pathname, fault) {
      if (fault == null) { faults.delete(pathname); return; }
      faults.set(pathname, { ...fault, times: fault.times ?? 1 });
    },
    clearFaults() { faults.clear(); },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

// ------------------------------------------------------------------ CLI --
const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const args = process.argv.slice(2);
  let port = 8080, host = '127.0.0.1', isolate = true, quiet = false, verbose = false, explicitPort = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const val = () => {
      if (i + 1 >= args.length) { console.error(`serve: ${a} needs a value`); process.exit(2); }
      return args[++i];
    };
    if (a === '--port') {
      const v = val();
      port = Number(v);
      if (!/^\d+$/.test(v) || port > 65535) { console.error(`serve: --port expects 0-65535, got '${v}'`); process.exit(2); }
      explicitPort = true;
    } else if (a === '--host') host = val();
    else if (a === '--no-isolation') isolate = false;
    else if (a === '--quiet') quiet = true;
    else if (a === '--verbose') verbose = true;
    else if (a === '-h' || a === '--help') {
      console.log('usage: node scripts/serve.mjs [--port N] [--host H] [--no-isolation] [--verbose|--quiet]\n' +
        '  serves /web/ /wasm/ /build-wasm*/ (4 builds) /models/ of the repository;\n' +
        '  logs failed requests (--verbose: every request, --quiet: none)');
      process.exit(0);
    } else { console.error(`serve: unknown argument '${a}' (see --help)`); process.exit(2); }
  }
  let srv;
  // the default port may be taken: then try the next few
  for (let attempt = 0; ; attempt++) {
    try {
      srv = await startServer({ host, port: explicitPort ? port : port + attempt, isolate,
        log: quiet ? undefined : (l) => { if (verbose || !/ [23]\d\d( |$)/.test(l)) console.log(l); } });
      break;
    } catch (e) {
      if (e.code === 'EADDRINUSE' && !explicitPort && attempt < 10) continue;
      console.error(`serve: cannot listen on ${host}:${explicitPort ? port : port + attempt}: ${e.message}`);
      process.exit(1);
    }
  }
  console.log(`qwasm chat page: ${srv.url}web/`);
  console.log(`cross-origin isolation: ${isolate ? 'on (threads available)' : 'off (single-threaded)'}; Ctrl-C stops`);
  const stop = () => srv.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

// The dev server (scripts/serve.mjs) over plain HTTP, no browser: headers, MIME types,
// ranges, revalidation, confinement to the served folders, fault injection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startServer, parseRange } from '../../scripts/serve.mjs';
import { REPO } from './harness.mjs';

const MODEL = '/models/stories260K-f32.gguf';
const modelBytes = fs.readFileSync(path.join(REPO, MODEL));

// raw request (fetch normalizes paths and hides some headers)
function raw(port, p, { method = 'GET', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test('parseRange', () => {
  assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
  assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-500', 100), { start: 0, end: 99 });
  assert.deepEqual(parseRange('bytes=50-5000', 100), { start: 50, end: 99 });
  assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=-0', 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-1,5-6', 100), null); // several ranges: whole file
  assert.equal(parseRange('items=0-1', 100), null);
  assert.equal(parseRange('bytes=9-1', 100), null);
});

test('headers, MIME types, redirects, ranges, ETags', async (t) => {
  const srv = await startServer({ port: 0 });
  t.after(() => srv.close());
  const { port } = srv;

  const root = await raw(port, '/');
  assert.equal(root.status, 302);
  assert.equal(root.headers.location, '/web/');
  assert.equal((await raw(port, '/web')).headers.location, '/web/');

  const page = await raw(port, '/web/');
  assert.equal(page.status, 200);
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(page.headers['cross-origin-opener-policy'], 'same-origin');
  assert.equal(page.headers['cross-origin-embedder-policy'], 'require-corp');
  assert.equal(page.headers['cross-origin-resource-policy'], 'same-origin');
  assert.equal(page.body.toString(), fs.readFileSync(path.join(REPO, 'web/index.html'), 'utf8'));

  const types = { '/web/app.mjs': 'text/javascript', '/web/qwasm-widget.js': 'text/javascript',
    '/web/style.css': 'text/css', '/web/favicon.svg': 'image/svg+xml', '/build-wasm/qwasm.wasm': 'application/wasm',
    [MODEL]: 'application/octet-stream' };
  for (const [p, type] of Object.entries(types)) {
    const r = await raw(port, p, { method: 'HEAD' });
    assert.equal(r.status, 200, p);
    assert.equal(r.headers['content-type'].split(';')[0], type, p);
    assert.equal(r.body.length, 0, `HEAD ${p} sent a body`);
  }

  const head = await raw(port, MODEL, { method: 'HEAD' });
  assert.equal(Number(head.headers['content-length']), modelBytes.length);
  assert.equal(head.headers['accept-ranges'], 'bytes');
  const etag = head.headers.etag;
  assert.match(etag, /^"[^"]+"$/);

  const full = await raw(port, MODEL);
  assert.ok(full.body.equals(modelBytes));

  const part = await raw(port, MODEL, { headers: { Range: 'bytes=1000-1999' } });
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-range'], `bytes 1000-1999/${modelBytes.length}`);
  assert.equal(Number(part.headers['content-length']), 1000);
  assert.ok(part.body.equals(modelBytes.subarray(1000, 2000)));

  const tail = await raw(port, MODEL, { headers: { Range: 'bytes=-16' } });
  assert.ok(tail.body.equals(modelBytes.subarray(modelBytes.length - 16)));

  const bad = await raw(port, MODEL, { headers: { Range: `bytes=${modelBytes.length}-` } });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers['content-range'], `bytes */${modelBytes.length}`);

  assert.equal((await raw(port, MODEL, { headers: { 'If-None-Match': etag } })).status, 304);
  assert.equal((await raw(port, MODEL, { headers: { 'If-None-Match': '"other"' } })).status, 200);
  const ifr = await raw(port, MODEL, { headers: { Range: 'bytes=0-3', 'If-Range': etag } });
  assert.equal(ifr.status, 206);
  const stale = await raw(port, MODEL, { headers: { Range: 'bytes=0-3', 'If-Range': '"stale"' } });
  assert.equal(stale.status, 200);
  assert.equal(stale.body.length, modelBytes.length);

  assert.equal((await raw(port, MODEL, { method: 'POST' })).status, 405);
  const log = srv.requests.find((r) => r.range === 'bytes=1000-1999');
  assert.deepEqual([log.method, log.path, log.status], ['GET', MODEL, 206]);
});

test('only the served folders; no way out', async (t) => {
  const srv = await startServer({ port: 0 });
  t.after(() => srv.close());
  const { port } = srv;
  for (const p of ['/README.md', '/src/qwasm.h', '/web/../README.md', '/web/%2e%2e/README.md',
    '/web/..%2f..%2fREADME.md', '/models/..%2f..%2fshared%2fREADME.md', '/build-wasm/shim/stb/stb_ds.h',
    '/etc/passwd', '/web/nope.html', '/web/%00']) {
    const r = await raw(port, p);
    assert.ok(r.status === 404 || r.status === 400, `${p}: ${r.status}`);
    assert.ok(!r.body.toString().includes('qwasm is MIT'), p);
  }
});

test('without isolation: no COOP/COEP', async (t) => {
  const srv = await startServer({ port: 0, isolate: false });
  t.after(() => srv.close());
  const r = await raw(srv.port, '/web/');
  assert.equal(r.status, 200);
  assert.equal(r.headers['cross-origin-opener-policy'], undefined);
  assert.equal(r.headers['cross-origin-embedder-policy'], undefined);
  assert.equal(r.headers['cross-origin-resource-policy'], 'same-origin');
});

test('faults: dropped connection after N bytes, forced status, then normal again', async (t) => {
  const srv = await startServer({ port: 0 });
  t.after(() => srv.close());
  srv.setFault(MODEL, { dropAfterBytes: 100000, times: 2 });
  for (let i = 0; i < 2; i++) {
    const res = await fetch(srv.url + MODEL.slice(1));
    assert.equal(res.status, 200);
    await assert.rejects(res.arrayBuffer());
  }
  const drops = srv.requests.filter((r) => r.dropped);
  assert.equal(drops.length, 2);
  assert.ok(drops.every((r) => r.bytes === 100000));
  const ok = await fetch(srv.url + MODEL.slice(1));
  assert.equal(Buffer.from(await ok.arrayBuffer()).length, modelBytes.length);

  srv.setFault(MODEL, { status: 503 });
  assert.equal((await fetch(srv.url + MODEL.slice(1))).status, 503);
  const after = await fetch(srv.url + MODEL.slice(1));
  assert.equal(after.status, 200);
  await after.arrayBuffer();
});

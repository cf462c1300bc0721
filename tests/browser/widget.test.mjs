// The chat widget (web/qwasm-widget.js, <qwasm-chat>) on the demo pages, in headless Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, screenshot, referenceContinuation } from './harness.mjs';

const LOAD_TIMEOUT = 60000;

// host elements and properties sampled before/after the widget
const HOST_SAMPLES = {
  html: ['font-size', 'color', 'background-color'],
  body: ['font-family', 'font-size', 'color', 'background-image', 'margin-top', 'padding-left', 'line-height', 'letter-spacing'],
  '#headline': ['font-family', 'font-size', 'color', 'text-transform', 'text-shadow', 'line-height', 'width', 'height'],
  '#para': ['font-size', 'background-color', 'border-top-style', 'border-top-width', 'padding-top', 'width', 'height'],
  '#host-button': ['font-size', 'background-color', 'color', 'border-top-color', 'border-top-width', 'padding-left',
    'transform', 'width', 'height', 'font-family', 'text-transform'],
  '#host-input': ['background-color', 'color', 'font-size', 'border-top-style'],
  '#box': ['margin-top', 'outline-color', 'outline-width', 'width', 'height'],
  '#list li': ['font-size', 'color', 'letter-spacing', 'line-height'],
};

function sampleHost(page) {
  return page.evaluate((samples) => {
    const out = {};
    for (const [sel, props] of Object.entries(samples)) {
      const e = document.querySelector(sel);
      const cs = getComputedStyle(e);
      for (const p of props) out[`${sel} ${p}`] = cs.getPropertyValue(p);
    }
    out['document scroll width'] = document.documentElement.scrollWidth;
    out['document scroll height'] = document.documentElement.scrollHeight;
    out['stylesheets'] = document.styleSheets.length;
    return out;
  }, HOST_SAMPLES);
}

// the widget's own look, read inside its shadow root
function sampleWidget(page) {
  return page.evaluate(() => {
    const host = document.querySelector('qwasm-chat');
    const r = host.shadowRoot;
    const out = {};
    const pick = (name, el, props) => {
      const cs = getComputedStyle(el);
      for (const p of props) out[`${name} ${p}`] = cs.getPropertyValue(p);
    };
    pick('host', host, ['position', 'right', 'bottom', 'border-top-width', 'padding-top', 'margin-top', 'font-size']);
    pick('root', r.querySelector('.root'), ['font-family', 'font-size', 'color', 'line-height', 'letter-spacing', 'text-transform']);
    pick('send', r.querySelector('.send'), ['font-size', 'background-color', 'color', 'border-top-width', 'padding-left', 'text-transform', 'transform', 'font-family']);
    pick('fab', r.querySelector('.fab'), ['width', 'height', 'background-color', 'border-top-left-radius']);
    pick('fab svg', r.querySelector('.fab svg'), ['fill', 'width']);
    pick('textarea', r.querySelector('textarea'), ['background-color', 'font-size', 'border-top-style']);
    pick('panel', r.querySelector('.panel'), ['width', 'height', 'background-color', 'margin-top', 'outline-style']);
    pick('msg', r.querySelector('.msg.assistant') ?? r.querySelector('.hint'), ['font-size', 'letter-spacing', 'text-transform', 'line-height']);
    return out;
  });
}

async function openAndAsk(page, text) {
  const host = page.locator('qwasm-chat');
  await host.waitFor({ state: 'attached' });
  await page.locator('qwasm-chat .fab').click();
  await page.waitForFunction(() => {
    const s = document.querySelector('qwasm-chat').state;
    return s.loaded || !document.querySelector('qwasm-chat').shadowRoot.querySelector('.error').hidden;
  }, null, { timeout: LOAD_TIMEOUT });
  const err = await page.evaluate(() => {
    const e = document.querySelector('qwasm-chat').shadowRoot.querySelector('.error');
    return e.hidden ? null : e.textContent;
  });
  assert.equal(err, null, `the widget showed an error: ${err}`);
  await page.locator('qwasm-chat textarea').fill(text);
  await page.locator('qwasm-chat .send').click();
  await page.waitForFunction(() => document.querySelector('qwasm-chat').state.gen?.done, null, { timeout: 60000 });
  return page.evaluate(() => document.querySelector('qwasm-chat').state.messages);
}

test('widget on the loud host page: opens, answers, host styles unchanged, own styles unaffected', async (t) => {
  const env = await setup(t);
  if (!env) return;
  // baseline: the host page without the widget script
  const bare = await env.newPage();
  await bare.route('**/qwasm-widget.js', (r) => r.abort());
  await bare.goto(env.url('web/demo/host.html'));
  const baseline = await sampleHost(bare);
  assert.equal(baseline['#host-button font-size'], '28px', 'the host page is not as loud as expected');

  const page = await env.newPage();
  await page.goto(env.url('web/demo/host.html'));
  await page.locator('qwasm-chat .fab').waitFor();
  assert.deepEqual(await sampleHost(page), baseline, 'adding the widget changed host styles');
  assert.equal(await page.locator('qwasm-chat .title').textContent(), 'Story bot'); // data-title
  const fab = await page.locator('qwasm-chat .fab').boundingBox();
  assert.ok(fab.x + fab.width > 1280 - 40 && fab.y + fab.height > 800 - 40, `not bottom-right: ${JSON.stringify(fab)}`);
  const closed = await sampleWidget(page);
  await screenshot(page, 'widget-host-closed');

  const msgs = await openAndAsk(page, 'Once upon a time');
  assert.equal(msgs.length, 2);
  assert.equal(msgs[0].content, 'Once upon a time');
  assert.ok(msgs[1].role === 'assistant' && msgs[1].content.trim().length > 0, 'the widget gave no answer');
  const shown = await page.locator('qwasm-chat .msg.assistant .text').last().textContent();
  assert.equal(shown, msgs[1].content);
  await screenshot(page, 'widget-host-open');
  assert.deepEqual(await sampleHost(page), baseline, 'opening/using the widget changed host styles');
  const open = await sampleWidget(page);

  // the same widget on a page without any styles looks the same: nothing leaked in
  const plain = await env.newPage();
  await plain.goto(env.url('web/demo/plain.html'));
  await plain.locator('qwasm-chat .fab').waitFor();
  assert.deepEqual(await sampleWidget(plain), closed, 'host styles leaked into the closed widget');
  await openAndAsk(plain, 'Once upon a time');
  assert.deepEqual(await sampleWidget(plain), open, 'host styles leaked into the open widget');
  await screenshot(plain, 'widget-plain-open');

  // it closes again
  await page.locator('qwasm-chat .fab').click();
  assert.equal(await page.locator('qwasm-chat .panel').isVisible(), false);
  assert.deepEqual(page.errors, []);
  assert.deepEqual(plain.errors, []);
});

test('inline <qwasm-chat> element: attributes honoured, greedy answer, phone size', async (t) => {
  const env = await setup(t);
  if (!env) return;
  const page = await env.newPage({ viewport: { width: 375, height: 667 } });
  await page.goto(env.url('web/demo/inline.html'));
  await page.waitForFunction(() => document.querySelector('qwasm-chat')?.state?.loaded, null, { timeout: LOAD_TIMEOUT });
  const box = await page.locator('qwasm-chat').boundingBox();
  assert.equal(Math.round(box.height), 420, 'the host page\'s --qwasm-chat-height was not applied');
  assert.equal(await page.locator('qwasm-chat .title').textContent(), 'Tell me a story');
  await page.locator('qwasm-chat textarea').fill('Once upon a time');
  await page.locator('qwasm-chat textarea').press('Enter');
  await page.waitForFunction(() => document.querySelector('qwasm-chat').state.gen?.done, null, { timeout: 60000 });
  const msgs = await page.evaluate(() => document.querySelector('qwasm-chat').state.messages);
  // temperature="0" max-tokens="64": llama.cpp's greedy continuation
  assert.equal(msgs[1].content, referenceContinuation());
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
  await screenshot(page, 'widget-inline-phone');

  // its Stop button: at most one more piece after the click
  await page.evaluate(() => {
    const el = document.querySelector('qwasm-chat');
    el.setAttribute('temperature', '0.9');
    el.setAttribute('max-tokens', '400');
    const obs = new MutationObserver(() => {
      const g = el.state.gen;
      if (g && !g.done && g.pieces >= 5 && g.piecesAtStop === null) {
        obs.disconnect();
        el.shadowRoot.querySelector('.stop').click();
      }
    });
    obs.observe(el.shadowRoot.querySelector('.messages'), { subtree: true, childList: true, characterData: true });
  });
  await page.locator('qwasm-chat textarea').fill('Lily');
  await page.locator('qwasm-chat .send').click();
  await page.waitForFunction(() => document.querySelector('qwasm-chat').state.gen?.done, null, { timeout: 60000 });
  const g = await page.evaluate(() => ({ ...document.querySelector('qwasm-chat').state.gen,
    note: document.querySelector('qwasm-chat').state.messages.at(-1).note }));
  assert.ok(g.piecesAtStop >= 5, JSON.stringify(g));
  assert.ok(g.pieces - g.piecesAtStop <= 1, `${g.pieces - g.piecesAtStop} pieces after Stop`);
  assert.equal(g.finishReason, 'aborted');
  assert.equal(g.note, 'stopped');
  assert.deepEqual(page.errors, []);
});

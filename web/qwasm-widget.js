/*
 * qwasm chat widget: a local LLM chat on any page, the model running in a Web
 * Worker of this page (nothing leaves the browser).
 *
 * Floating button + panel:
 *   <script src="/web/qwasm-widget.js" data-model="/models/stories260K-f32.gguf"
 *           data-title="Story bot" data-system-prompt="" data-position="bottom-right"
 *           data-theme="auto" data-threads="1"></script>
 * Inline (the same script, without data-model, only defines the element):
 *   <qwasm-chat model="/models/stories260K-f32.gguf" title="Story bot"></qwasm-chat>
 *
 * A classic script (works with or without type="module"); everything else is
 * loaded as ES modules relative to this script's own URL. See docs/WEB.md.
 */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || !script.src) {
    var all = document.querySelectorAll('script[src]');
    for (var i = 0; i < all.length; i++) if (/qwasm-widget\.js([?#]|$)/.test(all[i].src)) script = all[i];
  }
  var base = script && script.src ? script.src : document.baseURI;
  import(new URL('./lib/widget.mjs', base).href).then(function (m) {
    m.install(script && script.dataset ? script.dataset : {});
  }).catch(function (e) {
    console.error('qwasm-widget: cannot load its modules from ' + new URL('./lib/', base).href + ': ' + e);
  });
})();

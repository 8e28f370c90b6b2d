// Palate's service worker: keeps the app itself (pages, scripts, wasm) available offline.
// Network first, so an online visit always gets the current files; the cached copy answers only
// when the network fails. Model files are not handled here: the Web Worker keeps them in Cache
// Storage by sha256 (src/worker.js). Nothing is sent anywhere; this only reads the same origin.
const CACHE = 'palate-app';
// The app shell, fetched when the service worker installs (relative to this file): both wasm builds,
// so that an offline visit works whichever backend it ends up on.
const SHELL = ['./', 'index.html', 'src/demo.js', 'src/demo.css', 'src/palate.js', 'src/worker.js', 'src/samples.js',
  'src/bars.js', 'src/palate-rerank.js', 'pkg/palate_wasm.js', 'pkg/palate_wasm_bg.wasm', 'pkg-cpu/palate_wasm.js', 'pkg-cpu/palate_wasm_bg.wasm',
  'examples/chat.html'];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // One missing file must not stop the rest (the demo still works online).
    await Promise.all(SHELL.map((f) => cache.add(new Request(f, { cache: 'no-cache' })).catch(() => {})));
    await self.skipWaiting();
  })());
});
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== location.origin || url.pathname.startsWith('/models/')) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(event.request);
      if (response.ok) await cache.put(event.request, response.clone());
      return response;
    } catch (e) {
      const cached = await cache.match(event.request, { ignoreSearch: true });
      if (cached) return cached;
      throw e;
    }
  })());
});

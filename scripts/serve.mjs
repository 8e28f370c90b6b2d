#!/usr/bin/env node
// A static file server for the demo and the browser tests, on 127.0.0.1 only.
//   node scripts/serve.mjs [--port 8080]      serves web/ at / and models/ at /models/
// Imported by the tests as startServer({ port: 0, mounts }) for a free port and extra folders.
import { createReadStream, promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

/**
 * @param {{ port?: number, host?: string, mounts?: Record<string, string>, isolated?: boolean }} options
 *   mounts: URL prefix → folder; longest prefix wins. Defaults: '/' → web/, '/models/' → models/.
 *   isolated: send COOP + COEP (default), so pages are cross-origin isolated: shared memory, and so
 *     Palate's threaded CPU build (web/pkg-threads). Everything served here is same-origin.
 * @returns {Promise<{ url: string, close: () => Promise<void>, setOffline: (offline: boolean) => void }>}
 */
export async function startServer({ port = 8080, host = '127.0.0.1', mounts = {}, isolated = true } = {}) {
  const table = Object.entries({ '/': path.join(root, 'web'), '/models/': path.join(root, 'models'), ...mounts })
    .sort((a, b) => b[0].length - a[0].length);
  let offline = false;
  const server = http.createServer(async (req, res) => {
    if (offline) { req.socket.destroy(); return; }
    try {
      const urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      const [prefix, dir] = table.find(([p]) => urlPath.startsWith(p)) ?? [];
      if (!dir) return send(res, 404, 'not found');
      let file = path.resolve(dir, '.' + urlPath.slice(prefix.length - 1));
      if (file !== dir && !file.startsWith(dir + path.sep)) return send(res, 403, 'forbidden');
      let stat = await fs.stat(file).catch(() => null);
      if (stat?.isDirectory()) {
        file = path.join(file, 'index.html');
        stat = await fs.stat(file).catch(() => null);
      }
      if (!stat?.isFile()) return send(res, 404, 'not found');
      res.writeHead(200, {
        'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'content-length': stat.size,
        'cache-control': 'no-cache',
        ...(isolated ? ISOLATION : {}),
      });
      if (req.method === 'HEAD') return res.end();
      createReadStream(file).pipe(res);
    } catch (e) {
      send(res, 500, String(e));
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const { port: actual } = server.address();
  return {
    url: `http://${host}:${actual}/`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
    /** Tests: while true, every request is dropped as if the network were down. */
    setOffline: (flag) => { offline = Boolean(flag); if (offline) server.closeAllConnections(); },
  };
}

/** The headers that make a page, and the workers it starts, cross-origin isolated. */
const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

function send(res, status, text) {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(text);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--port');
  const port = i > 0 ? Number(process.argv[i + 1]) : Number(process.env.PORT ?? 8080);
  try {
    const { url } = await startServer({ port });
    console.log(`Palate demo: ${url}  (Ctrl-C to stop)`);
  } catch (e) {
    console.error(`error: cannot serve on 127.0.0.1:${port}: ${e.message}${e.code === 'EADDRINUSE' ? ' (pass --port N or PORT=N)' : ''}`);
    process.exit(1);
  }
}

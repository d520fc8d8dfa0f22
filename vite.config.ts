// Vite serves the page (shaders come in as ?raw strings); Vitest runs the unit and e2e suites in Node.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Connect, Plugin } from 'vite';
import { defineConfig } from 'vitest/config';

/** The Content-Security-Policy a page states in its meta tag (the one source of each page's policy). */
function pagePolicy(page: string): string {
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(
    readFileSync(join(__dirname, page), 'utf8'),
  )?.[1];
  if (!csp) throw new Error(`${page} has no Content-Security-Policy meta tag`);
  return csp;
}

/**
 * A meta-tag policy binds only its document: a module worker takes its policy from its own response's header. The dev
 * and preview servers therefore send the app's policy as a header on every response (so the engine's worker runs
 * under it), and the benchmark page's policy on the benchmark page.
 */
function cspHeader(): Plugin {
  const app = pagePolicy('index.html');
  const bench = pagePolicy('bench.html');
  const set: Connect.NextHandleFunction = (req, res, next) => {
    // Vite also serves bench.html at /bench.
    res.setHeader('Content-Security-Policy', /^\/bench(\.html)?(\?|$)/.test(req.url ?? '') ? bench : app);
    next();
  };
  return {
    name: 'csp-header',
    configureServer: (server) => void server.middlewares.use(set),
    configurePreviewServer: (server) => void server.middlewares.use(set),
  };
}

export default defineConfig({
  plugins: [cspHeader()],
  server: { host: '127.0.0.1' },
  // The app (index.html), the engine self-check page (selfcheck.html) and the benchmark page (bench.html); the engine runs in a module worker.
  build: { rollupOptions: { input: { app: 'index.html', selfcheck: 'selfcheck.html', bench: 'bench.html' } } },
  worker: { format: 'es' },
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/setup/global.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['verbose'],
  },
});

// Static security checks (the runtime side is in the e2e tests: no request leaves 127.0.0.1, CSP violations are
// errors): no eval or Function constructor anywhere in our sources, and every page's Content-Security-Policy allows
// scripts, workers and connections from the app's own origin only, with no 'unsafe-eval' or inline scripts.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'vite';
import { describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '../..');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : /\.(ts|tsx|js|mjs)$/.test(n) ? [p] : [];
  });
}

describe('security', () => {
  it('no eval, new Function or string timers in src/ and bench/', () => {
    const all = [...files(join(ROOT, 'src')), ...files(join(ROOT, 'bench'))];
    expect(all.length).toBeGreaterThan(50);
    const bad = /\beval\s*\(|\bnew\s+Function\s*\(|(?<![.\w])Function\s*\(|set(?:Timeout|Interval)\s*\(\s*['"`]/;
    const hits = all.flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .map((l, i) => [f, i + 1, l] as const)
        .filter(([, , l]) => bad.test(l)),
    );
    expect(hits.map(([f, i, l]) => `${f.slice(ROOT.length + 1)}:${i}: ${l.trim()}`)).toEqual([]);
  });

  it.each(['index.html', 'selfcheck.html', 'bench.html'])('%s: CSP limits everything to the app origin', (page) => {
    const html = readFileSync(join(ROOT, page), 'utf8');
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1];
    expect(csp, `${page} has no CSP meta`).toBeTruthy();
    const directives = new Map(
      csp!
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .map(([k, ...v]) => [k!, v]),
    );
    expect(directives.get('default-src')).toEqual(["'self'"]);
    // The benchmark page hosts the TensorFlow.js peer, whose bundled Long.js compiles WebAssembly; no page may eval JS.
    expect(directives.get('script-src')).toEqual(page === 'bench.html' ? ["'self'", "'wasm-unsafe-eval'"] : ["'self'"]);
    for (const [k, v] of directives) {
      expect(v, k).not.toContain("'unsafe-eval'");
      for (const src of v)
        expect(src, `${k} ${src}`).toMatch(
          /^('self'|'unsafe-inline'|'wasm-unsafe-eval'|data:|blob:|ws:\/\/127\.0\.0\.1:\*)$/,
        );
    }
    expect(directives.get('script-src')).not.toContain("'unsafe-inline'");
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline scripts
  });

  it("the dev server sends each page's policy as a header, and the app's to the engine's module worker", async () => {
    const meta = (page: string) =>
      /<meta http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(readFileSync(join(ROOT, page), 'utf8'))![1];
    const server = await createServer({
      root: ROOT,
      server: { host: '127.0.0.1', port: 0, strictPort: false },
      logLevel: 'error',
    });
    try {
      await server.listen();
      const addr = server.httpServer!.address();
      if (!addr || typeof addr === 'string') throw new Error('Vite did not report a port');
      const header = async (path: string) => {
        const res = await fetch(`http://127.0.0.1:${addr.port}${path}`);
        expect(res.status, path).toBe(200);
        return res.headers.get('content-security-policy');
      };
      // A worker's policy comes only from its own response: without the header the engine would run unrestricted.
      expect(await header('/src/worker/worker.ts?worker_file&type=module')).toBe(meta('index.html'));
      expect(await header('/')).toBe(meta('index.html'));
      expect(await header('/bench.html')).toBe(meta('bench.html'));
      expect(await header('/bench')).toBe(meta('bench.html')); // Vite serves bench.html there too
    } finally {
      await server.close();
    }
  });
});

// Test helper: serves the app with Vite on 127.0.0.1 and drives Debian's Chromium through playwright-core
// (never a downloaded browser), recording every request that leaves 127.0.0.1.

import { existsSync } from 'node:fs';
import { createServer, type ViteDevServer } from 'vite';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface AppSession {
  url: string;
  page: Page;
  /** Requests to anything but 127.0.0.1 (should stay empty). */
  external: string[];
  /** Console errors and page errors. */
  errors: string[];
  /** Another tab of the app in the same browser profile (same origin storage and locks), recorded the same way. */
  openTab(): Promise<Page>;
  close(): Promise<void>;
}

export async function openApp(path = '/', opts: { args?: string[] } = {}): Promise<AppSession> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium`);
  const server: ViteDevServer = await createServer({
    server: { host: '127.0.0.1', port: 0, strictPort: false },
    logLevel: 'error',
  });
  await server.listen();
  const addr = server.httpServer!.address();
  if (!addr || typeof addr === 'string') throw new Error('Vite did not report a port');
  const url = `http://127.0.0.1:${addr.port}`;
  let browser: Browser | null = null;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: opts.args ?? CHROMIUM_ARGS });
    const context = await browser.newContext();
    const external: string[] = [];
    const errors: string[] = [];
    const openTab = async () => {
      const page = await context.newPage();
      page.on('request', (r) => {
        const u = new URL(r.url());
        if (!['data:', 'blob:'].includes(u.protocol) && u.hostname !== '127.0.0.1') external.push(r.url());
      });
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      // A Content-Security-Policy violation (an inline script, eval, a foreign origin) counts as an error.
      await page.addInitScript(() => {
        document.addEventListener('securitypolicyviolation', (e) =>
          console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`),
        );
      });
      await page.goto(url + path);
      return page;
    };
    const page = await openTab();
    const b = browser;
    return {
      url,
      page,
      external,
      errors,
      openTab,
      close: async () => {
        await b.close();
        await server.close();
      },
    };
  } catch (e) {
    await browser?.close();
    await server.close();
    throw e;
  }
}

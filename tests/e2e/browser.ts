// Test helper: serves the app with Vite on 127.0.0.1 and drives Debian's Chromium through playwright-core
// (never a downloaded browser), recording every request that leaves 127.0.0.1.

import { existsSync } from 'node:fs';
import { createServer, type ViteDevServer } from 'vite';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--enable-unsafe-webgpu',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
];

export interface AppSession {
  url: string;
  page: Page;
  /** Requests to anything but 127.0.0.1 (should stay empty). */
  external: string[];
  /** Console errors and page errors. */
  errors: string[];
  close(): Promise<void>;
}

export async function openApp(path = '/'): Promise<AppSession> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium`);
  const server: ViteDevServer = await createServer({ server: { host: '127.0.0.1', port: 0, strictPort: false }, logLevel: 'error' });
  await server.listen();
  const addr = server.httpServer!.address();
  if (!addr || typeof addr === 'string') throw new Error('Vite did not report a port');
  const url = `http://127.0.0.1:${addr.port}`;
  let browser: Browser | null = null;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const page = await browser.newPage();
    const external: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (!['data:', 'blob:'].includes(u.protocol) && u.hostname !== '127.0.0.1') external.push(r.url());
    });
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url + path);
    const b = browser;
    return { url, page, external, errors, close: async () => { await b.close(); await server.close(); } };
  } catch (e) {
    await browser?.close();
    await server.close();
    throw e;
  }
}

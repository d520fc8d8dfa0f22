// Vite serves the page (shaders come in as ?raw strings); Vitest runs the unit and e2e suites in Node.
import { defineConfig } from 'vitest/config';

export default defineConfig({
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

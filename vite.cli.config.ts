// Builds the Node command line into one ES module (shaders inlined via ?raw); npm packages stay external.
import { defineConfig } from 'vite';

export default defineConfig({
  publicDir: false,
  build: {
    ssr: 'src/cli/inheritune.ts',
    outDir: 'dist/cli',
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    rollupOptions: { output: { entryFileNames: 'inheritune.js', banner: '#!/usr/bin/env node' } },
  },
});

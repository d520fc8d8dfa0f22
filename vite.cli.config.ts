// Builds the Node command line into one ES module (shaders inlined via ?raw); npm packages stay external.
// CLI_STANDALONE=1 inlines every npm package but "webgpu" (for a machine with no node_modules, such as a GPU box).
import { defineConfig } from 'vite';

const standalone = !!process.env.CLI_STANDALONE;

export default defineConfig({
  publicDir: false,
  ssr: standalone ? { noExternal: true, external: ['webgpu'] } : undefined,
  build: {
    ssr: 'src/cli/inheritune.ts',
    outDir: standalone ? 'dist/cli-standalone' : 'dist/cli',
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    rollupOptions: { output: { entryFileNames: 'inheritune.js', banner: '#!/usr/bin/env node' } },
  },
});

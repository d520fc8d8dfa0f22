// Builds the benchmark into one ES module (shaders and TensorFlow.js inlined: Node cannot load TF.js's extensionless
// ES module paths). BENCH_STANDALONE=1 inlines every npm package but "webgpu" (for a machine with no node_modules:
// the GPU box gets the file, node and dawn.node).
import { defineConfig } from 'vite';

const standalone = !!process.env.BENCH_STANDALONE;

export default defineConfig({
  publicDir: false,
  ssr: standalone ? { noExternal: true, external: ['webgpu'] } : { noExternal: [/^@tensorflow\//] },
  build: {
    ssr: 'bench/main.ts',
    outDir: standalone ? 'dist/bench-standalone' : 'dist/bench',
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    rollupOptions: { output: { entryFileNames: 'bench.js', codeSplitting: false } },
  },
});

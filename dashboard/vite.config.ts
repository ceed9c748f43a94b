import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The bundle is embedded in the vsr-dashboard crate; CI rebuilds it and fails on any
// difference, so the output must be deterministic (content hashes only, no timestamps).
export default defineConfig({
  base: '/',
  plugins: [react()],
  build: {
    outDir: '../crates/vsr-dashboard/assets',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
    chunkSizeWarningLimit: 700,
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8700' },
  },
});

// Builds the dashboard into client/dist, which the gateway serves at /. In dev (`npx vite client`)
// API calls are proxied to a running gateway (TALLYGATE_URL, default http://127.0.0.1:8080).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const gateway = process.env.TALLYGATE_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
    // Chart.js is most of the bundle; one chunk is simpler to cache than a split nobody needs.
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: {
      '/api': gateway,
      '/v1': gateway,
      '/healthz': gateway,
      '/readyz': gateway,
      '/metrics': gateway,
    },
  },
});

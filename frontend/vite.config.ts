import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// The studio is served by `atoll serve` (same origin) and embedded in the Wails window, so
// assets use relative paths. `npm run dev` proxies the API to a running `atoll serve`
// (ATOLL_URL, default http://127.0.0.1:7300).
const target = process.env.ATOLL_URL ?? 'http://127.0.0.1:7300';

export default defineConfig({
  base: './',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  server: { proxy: { '/api': { target, ws: true } } },
  test: {
    environment: 'happy-dom',
    globals: true,
    include: ['src/**/*.test.{ts,tsx}'],
  },
});

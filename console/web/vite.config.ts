import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// `npm run dev -w console/web` proxies the API to a console started on :8080.
export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false },
  server: { proxy: { '/api': 'http://127.0.0.1:8080' } },
});

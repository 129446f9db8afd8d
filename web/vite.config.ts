/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The API (FastAPI + Socket.IO) serves the built page at "/"; in `npm run dev` Vite proxies
// REST and the websocket to it (AVATAR_API_URL, default http://127.0.0.1:8000).
const api = process.env.AVATAR_API_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    assetsDir: "assets",
    chunkSizeWarningLimit: 1200,
    // the microphone worklet stays a file of its own (served from /assets, same origin)
    assetsInlineLimit: (file: string) => (file.endsWith(".js") ? false : undefined),
  },
  server: {
    proxy: {
      "/api": api,
      "/socket.io": { target: api, ws: true },
    },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
  },
});

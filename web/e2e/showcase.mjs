// Screenshots of the voice and prosody views for the documentation, before the branches
// that serve them (voice cloning, prosody) are merged: a real typed turn against a running
// AVATAR, then the page reloaded with the REST answers of those features stubbed *in the
// browser* (page.route) with sample data. Not a test. Usage:
//   AVATAR_E2E_BASE=http://127.0.0.1:8000 AVATAR_E2E_OUT=dir node e2e/showcase.mjs
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.AVATAR_E2E_BASE ?? "http://127.0.0.1:8000";
const OUT = process.env.AVATAR_E2E_OUT ?? "e2e-artifacts";
mkdirSync(OUT, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
});
const page = await (await browser.newContext({ viewport: { width: 1360, height: 860 }, locale: "zh-TW" })).newPage();

const sample = (id, c, s, a, contributions) => ({
  transcription_id: id,
  scores: { confidence: c, stability: s, affability: a },
  quality: "ok",
  explanation: contributions,
});
const prosody = [
  sample("tr-1", 58, 71, 64, { confidence: [{ feature: "loudness_mean", contribution: -0.42 }, { feature: "pause_ratio", contribution: -0.31 }, { feature: "speech_rate", contribution: 0.12 }], stability: [{ feature: "jitter_local", contribution: -0.18 }, { feature: "hnr_mean", contribution: 0.35 }], affability: [{ feature: "f0_range_st", contribution: 0.28 }] }),
  sample("tr-2", 66, 74, 70, { confidence: [{ feature: "loudness_mean", contribution: 0.21 }, { feature: "pause_ratio", contribution: -0.12 }], stability: [{ feature: "hnr_mean", contribution: 0.41 }, { feature: "shimmer_db", contribution: -0.15 }], affability: [{ feature: "f0_range_st", contribution: 0.33 }, { feature: "speech_rate", contribution: 0.08 }] }),
  sample("tr-3", 74, 69, 78, { confidence: [{ feature: "loudness_mean", contribution: 0.46 }, { feature: "speech_rate", contribution: 0.25 }, { feature: "final_rise", contribution: -0.09 }], stability: [{ feature: "jitter_local", contribution: -0.22 }, { feature: "hnr_mean", contribution: 0.3 }], affability: [{ feature: "f0_range_st", contribution: 0.52 }, { feature: "speech_rate", contribution: 0.11 }] }),
];

// a real turn first
await page.goto(BASE + "/");
await page.waitForSelector('[data-testid="connection"][data-state="connected"]');
for (const text of ["你好，今天天氣怎麼樣？", "推薦我一個週末去處。"]) {
  const n = await page.locator('[data-testid="turn"]').count();
  await page.fill("#message", text);
  await page.keyboard.press("Enter");
  await page.waitForFunction((i) => document.querySelectorAll('[data-testid="turn"]')[i]?.dataset.status === "done", n, { timeout: 180000 });
}

// then the stubbed answers of the features other branches add
await page.route("**/openapi.json", async (route) => {
  const spec = await (await route.fetch()).json();
  Object.assign(spec.paths, { "/api/v1/voice-profiles": {}, "/api/v1/prosody/{transcription_id}": {}, "/api/v1/sessions/{session_id}/prosody": {} });
  await route.fulfill({ json: spec });
});
await page.route("**/api/v1/voice-profiles", (route) =>
  route.fulfill({ json: [
    { voice_profile_id: "v-1", name: "小美（溫柔）", duration_sec: 12.4 },
    { voice_profile_id: "v-2", name: "阿哲（活潑）", duration_sec: 18.9 },
  ] }),
);
await page.route("**/api/v1/sessions/*/prosody", (route) => route.fulfill({ json: { items: prosody } }));
await page.route("**/api/v1/sessions/*/turns", async (route) => {
  const turns = await (await route.fetch()).json();
  turns.forEach((t, i) => (t.transcription_id = prosody[i + 1]?.transcription_id));
  await route.fulfill({ json: turns });
});
await page.evaluate(() => localStorage.setItem("avatar.prefs", JSON.stringify({ mode: "hq", voiceProfileId: null })));
await page.reload();
await page.waitForSelector('[data-testid="turn-prosody"]', { timeout: 30000 });
await page.locator('[data-testid="voice-item"]').first().waitFor();
await page.screenshot({ path: join(OUT, "showcase-voice.png") });
await page.getByRole("tab", { name: "韻律報告" }).click();
await page.locator('[data-testid="prosody-trend"]').waitFor();
await page.screenshot({ path: join(OUT, "showcase-prosody.png") });
console.log("screenshots in", OUT);
await browser.close();

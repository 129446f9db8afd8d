// End-to-end scenarios in Debian's Chromium, driven by playwright-core, against a running
// AVATAR (the pytest module tests/web/test_browser.py starts one and calls this script).
//
//   node e2e/run.mjs <scenario> ; environment:
//     AVATAR_E2E_BASE      the API's base URL (serves the built page at /)
//     AVATAR_E2E_OUT       folder for screenshots
//     AVATAR_E2E_MIC_WAV   a WAV for Chromium's fake microphone (spoken scenario)
//     AVATAR_E2E_VOICE_OK / AVATAR_E2E_VOICE_SHORT / AVATAR_E2E_VOICE_SILENT  voice samples
//     AVATAR_E2E_PROSODY=1 the server analyses prosody: the spoken scenario checks the report
//     CHROMIUM             the browser (default /usr/bin/chromium)
// Exit status 0 when the scenario passed; what it did is printed line by line.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.AVATAR_E2E_BASE ?? "http://127.0.0.1:8000";
const OUT = process.env.AVATAR_E2E_OUT ?? "e2e-artifacts";
const scenario = process.argv[2] ?? "typed";
mkdirSync(OUT, { recursive: true });

// The flags this machine needs (no sandbox as root, no network beyond localhost).
const BASE_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--autoplay-policy=no-user-gesture-required",
];

const log = (...args) => console.log(`[${scenario}]`, ...args);

async function launch({ mic = null, grantMic = false } = {}) {
  const args = [...BASE_FLAGS];
  if (mic !== null) {
    args.push("--use-fake-device-for-media-stream");
    if (mic) args.push(`--use-file-for-fake-audio-capture=${mic}`);
    if (grantMic) args.push("--use-fake-ui-for-media-stream");
  }
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args });
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 }, locale: "zh-TW", permissions: grantMic ? ["microphone"] : [] });
  const page = await context.newPage();
  page.on("console", (msg) => {
    if (msg.type() === "error") log("console error:", msg.text());
  });
  page.on("pageerror", (err) => log("page error:", err.message));
  return { browser, context, page };
}

/** Runs `fn(page)` in a fresh browser, closed whatever happens. */
async function withPage(options, fn) {
  const { browser, page } = await launch(options);
  try {
    await fn(page);
  } finally {
    await browser.close();
  }
}

/** Picks a tier in the voice tab; the page keeps it only once the server acknowledged it. */
async function chooseMode(page, mode) {
  await page.locator(`input[name="tts-mode"][value="${mode}"]`).click();
  await page.waitForFunction((m) => JSON.parse(localStorage.getItem("avatar.prefs") ?? "{}").mode === m, mode, { timeout: 10000 });
  if (await page.locator('[data-testid="mode-error"]').count()) throw new Error(await page.locator('[data-testid="mode-error"]').textContent());
  log(`mode ${mode} accepted by the server`);
}

async function open(page) {
  await page.goto(BASE + "/");
  await page.waitForSelector('[data-testid="connection"][data-state="connected"]', { timeout: 30000 });
  log("connected");
}

async function shot(page, name) {
  const path = join(OUT, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  log("screenshot", path);
}

async function noToastErrors(page) {
  const errors = await page.locator('.toast--error').allTextContents();
  if (errors.length) throw new Error(`error toasts: ${errors.join(" | ")}`);
}

/** Sends a message and waits until its turn is done; returns the turn's locator. */
async function typedTurn(page, text) {
  const count = await page.locator('[data-testid="turn"]').count();
  await page.fill("#message", text);
  await page.keyboard.press("Enter");
  const turn = page.locator('[data-testid="turn"]').nth(count);
  await turn.waitFor({ timeout: 10000 });
  // tokens appear while the reply streams (the text grows before the turn is done)
  const firstText = await turn.locator('[data-testid="reply-text"]').textContent({ timeout: 120000 });
  log("first tokens:", JSON.stringify(firstText));
  await page.waitForFunction((i) => document.querySelectorAll('[data-testid="turn"]')[i]?.dataset.status === "done", count, { timeout: 180000 });
  const reply = await turn.locator('[data-testid="reply-text"]').textContent();
  log("reply:", JSON.stringify(reply));
  if (!reply || !reply.trim()) throw new Error("the reply is empty");
  return turn;
}

/** Every audio_chunk event's metadata the page receives over its Socket.IO websocket (the
 * text frame before the binary attachment: `451-["audio_chunk",{turn_id, seq, mode, ...}]`). */
function recordAudioChunks(page) {
  const chunks = [];
  page.on("websocket", (ws) => {
    ws.on("framereceived", ({ payload }) => {
      if (typeof payload !== "string" || !payload.includes('"audio_chunk"')) return;
      const body = JSON.parse(payload.slice(payload.indexOf("[")));
      if (body[0] === "audio_chunk" && body[1]) chunks.push(body[1]);
    });
  });
  return chunks;
}

async function latencies(turn) {
  const items = await turn.locator('[data-testid="latency"] .latency__item').evaluateAll((els) =>
    Object.fromEntries(els.map((el) => [el.dataset.key, el.dataset.ms])),
  );
  log("latency strip (ms):", JSON.stringify(items));
  return items;
}

const scenarios = {
  async typed() {
    await withPage({}, async (page) => {
      await open(page);
      await page.waitForSelector('[data-testid="chat-empty"]');
      await shot(page, "01-empty");
      const turn = await typedTurn(page, "你好，請自我介紹。");
      // the live playback queue played every sentence (Web Audio), then reported idle
      await page.waitForFunction(() => {
        const turns = document.querySelectorAll('[data-testid="turn"]');
        return turns[turns.length - 1]?.dataset.playback === "played";
      }, null, { timeout: 120000 });
      log("live playback finished");
      const lat = await latencies(turn);
      for (const key of ["first-token", "first-audio", "total"]) {
        if (!lat[key]) throw new Error(`latency strip has no ${key}`);
      }
      // replay through the <audio> element: it really plays (time advances)
      await turn.locator('[data-testid="replay"]').click();
      await page.waitForFunction(() => {
        const audio = [...document.querySelectorAll('[data-testid="replay-audio"]')].pop();
        return audio && !audio.paused && audio.currentTime > 0.05;
      }, null, { timeout: 20000 });
      const played = await page.evaluate(() => [...document.querySelectorAll('[data-testid="replay-audio"]')].pop().currentTime);
      log(`replay <audio> element playing, currentTime=${played.toFixed(2)}s`);
      await noToastErrors(page);
      await shot(page, "02-chat");
      // session resume: a reload keeps the session and shows the conversation again
      const sessionBefore = await page.evaluate(() => localStorage.getItem("avatar.session"));
      await page.reload();
      await page.waitForSelector('[data-testid="connection"][data-state="connected"]', { timeout: 30000 });
      await page.waitForSelector('[data-testid="turn"]', { timeout: 15000 });
      const sessionAfter = await page.evaluate(() => localStorage.getItem("avatar.session"));
      if (sessionBefore !== sessionAfter) throw new Error("the session was not resumed after a reload");
      log("session resumed after reload with", await page.locator('[data-testid="turn"]').count(), "turn(s)");
    });
  },

  async mode() {
    await withPage({}, async (page) => {
      const chunks = recordAudioChunks(page);
      await open(page);
      await chooseMode(page, "hq");
      const turn = await typedTurn(page, "早安");
      // every sentence the page got (and so replays: the replay joins them) is HQ audio; a
      // sentence degraded to the fast tier would say mode "fast"
      const turnId = await turn.getAttribute("data-turn-id");
      const spoken = chunks.filter((c) => c.turn_id === turnId);
      if (!spoken.length) throw new Error(`no audio_chunk reached the page for turn ${turnId}`);
      const modes = [...new Set(spoken.map((c) => c.mode))];
      if (modes.length !== 1 || modes[0] !== "hq") throw new Error(`the hq turn's audio came in mode ${modes.join(", ")}`);
      log(`reply spoken in hq mode: ${spoken.length} HQ sentence(s), engine ${[...new Set(spoken.map((c) => c.engine))].join(", ")}`);
      await page.waitForFunction((id) => document.querySelector(`[data-testid="turn"][data-turn-id="${id}"]`)?.dataset.playback === "played", turnId, { timeout: 120000 });
      await turn.locator('[data-testid="replay"]').click();
      await page.waitForFunction((id) => {
        const audio = document.querySelector(`[data-testid="turn"][data-turn-id="${id}"] [data-testid="replay-audio"]`);
        return audio && !audio.paused && audio.currentTime > 0.05;
      }, turnId, { timeout: 20000 });
      log("replay plays the HQ sentences");
      await shot(page, "03-voice-panel");
      await chooseMode(page, "fast");
      await noToastErrors(page);
    });
  },

  async mode_both() {
    await withPage({}, async (page) => {
      await open(page);
      await chooseMode(page, "both");
      const turn = await typedTurn(page, "請說一句話。");
      await turn.locator('[data-testid="hq-badge"]').waitFor({ timeout: 240000 });
      const source = await turn.locator('[data-testid="replay-audio"]').getAttribute("data-source");
      if (source !== "hq") throw new Error(`replay source is ${source}, not hq`);
      log("HQ badge shown; replay uses the HQ audio");
      await shot(page, "05-hq-upgrade");
    });
  },

  async voice_upload() {
    await withPage({}, async (page) => {
      await open(page);
      const input = page.locator('[data-testid="voice-file"]');
      const error = page.locator('[data-testid="voice-error"]');
      // invalid in the browser: too short
      await input.setInputFiles(process.env.AVATAR_E2E_VOICE_SHORT);
      await error.waitFor({ timeout: 10000 });
      log("too short:", await error.textContent());
      // invalid on the server: silence passes the browser's length check
      await input.setInputFiles(process.env.AVATAR_E2E_VOICE_SILENT);
      await page.waitForFunction(() => !document.querySelector('[data-testid="voice-error"]'), null, { timeout: 10000 });
      await page.fill('[data-testid="voice-name"]', "靜音測試");
      await page.click('[data-testid="voice-submit"]');
      await error.waitFor({ timeout: 60000 });
      log("silence rejected by the server:", await error.textContent());
      await shot(page, "04-voice-invalid");
      // valid
      await input.setInputFiles(process.env.AVATAR_E2E_VOICE_OK);
      await page.fill('[data-testid="voice-name"]', "我的聲音");
      await page.click('[data-testid="voice-submit"]');
      await page.waitForSelector('[data-testid="voice-notice"], [data-testid="voice-error"]', { timeout: 120000 });
      if (await error.count()) throw new Error(`the valid sample was refused: ${await error.textContent()}`);
      const item = page.locator('[data-testid="voice-item"]', { hasText: "我的聲音" });
      await item.waitFor({ timeout: 10000 });
      log("uploaded; listed as", await item.getAttribute("data-voice-id"), "status", await item.getAttribute("data-status"));
      // analysed on the server's prosody lane: 處理中 until ready (or failed, with the reason)
      if ((await item.getAttribute("data-status")) === "processing") await shot(page, "04-voice-processing");
      await page.waitForSelector(
        '[data-testid="voice-item"][data-status="ready"], [data-testid="voice-item"][data-status="failed"], [data-testid="voice-timeout"]',
        { timeout: 90000 },
      );
      if ((await item.getAttribute("data-status")) !== "ready") {
        throw new Error(`the valid sample's analysis failed: ${await item.locator('[data-testid="voice-failed"], [data-testid="voice-timeout"]').textContent()}`);
      }
      log("analysed: ready");
      await item.getByRole("radio").click();
      await page.waitForFunction(() => !!JSON.parse(localStorage.getItem("avatar.prefs") ?? "{}").voiceProfileId, null, { timeout: 10000 });
      if (await page.locator('[data-testid="mode-error"]').count()) throw new Error(await page.locator('[data-testid="mode-error"]').textContent());
      log("voice chosen for the session");
      await shot(page, "04-voice");
    });
  },

  async mic_denied() {
    // a microphone exists but the permission is refused
    await withPage({ mic: "", grantMic: false }, async (page) => {
      await open(page);
      await page.locator('[data-testid="mic-button"]').dispatchEvent("pointerdown");
      const problem = page.locator('[data-testid="mic-problem"]');
      await problem.waitFor({ timeout: 15000 });
      log("mic problem:", await problem.getAttribute("data-problem"), await problem.textContent());
      if ((await problem.getAttribute("data-problem")) !== "denied") throw new Error("expected the permission-denied state");
      await shot(page, "06-mic-denied");
    });
  },

  async spoken() {
    await withPage({ mic: process.env.AVATAR_E2E_MIC_WAV, grantMic: true }, async (page) => {
      await open(page);
      // record what the live transcript shows while the user speaks
      await page.evaluate(() => {
        window.__partials = [];
        new MutationObserver(() => {
          const el = document.querySelector('[data-testid="partial-transcript"]');
          if (el) window.__partials.push(el.textContent);
        }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await page.getByText("免持（自動偵測）").click();
    await page.click('[data-testid="mic-button"]');
    await page.locator('[data-testid="level-meter"]').waitFor({ timeout: 15000 });
    const turn = page.locator('[data-testid="turn"][data-source="voice"]').first();
    await turn.waitFor({ timeout: 120000 });
    await page.waitForFunction(() => {
      const t = document.querySelector('[data-testid="turn"][data-source="voice"]');
      return t && (t.dataset.userText ?? "").trim().length > 0;
    }, null, { timeout: 60000 });
    await page.click('[data-testid="mic-button"]'); // stop listening: the fake file loops
    const partials = await page.evaluate(() => window.__partials.filter(Boolean));
    log("live transcript showed:", JSON.stringify([...new Set(partials)].slice(0, 8)));
    if (!partials.length) throw new Error("no live partial transcript was shown");
    log("final transcript:", JSON.stringify(await turn.getAttribute("data-user-text")));
    await page.waitForFunction(() => document.querySelector('[data-testid="turn"][data-source="voice"]')?.dataset.status === "done", null, { timeout: 180000 });
    log("reply:", JSON.stringify(await turn.locator('[data-testid="reply-text"]').textContent()));
    const lat = await latencies(turn);
    if (!lat.transcript) throw new Error("latency strip has no speech end → transcript figure");
    await shot(page, "07-spoken");
    if (process.env.AVATAR_E2E_PROSODY === "1") {
      const scores = turn.locator('[data-testid="turn-prosody"]');
      await scores.waitFor({ timeout: 120000 });
      log("prosody under the turn:", await scores.textContent());
      await page.getByRole("tab", { name: "韻律報告" }).click();
      await page.locator('[data-testid="prosody-detail"]').waitFor({ timeout: 10000 });
      const numbers = await page.locator('[data-testid="prosody-detail"] [data-testid="prosody-scores"] dd').allTextContents();
      log("prosody detail scores:", numbers.join(", "));
      // the microphone plays clean speech: it must be scored, never refused as 品質不足
      if (numbers.length !== 3 || !numbers.every((n) => /\d/.test(n))) {
        const text = await page.locator('[data-testid="prosody-detail"]').textContent();
        throw new Error(`the prosody panel shows no scores for clean speech: ${text}`);
      }
      await shot(page, "08-prosody");
    }
    });
  },
};

const run = scenarios[scenario];
if (!run) {
  console.error(`unknown scenario ${scenario}; known: ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
const started = Date.now();
run()
  .then(() => {
    log(`PASS in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    process.exit(0);
  })
  .catch((err) => {
    log(`FAIL: ${err.stack ?? err}`);
    process.exit(1);
  });

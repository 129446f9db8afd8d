// The chat page across an API crash, in Debian's Chromium (tests/cli/test_supervisor.py
// runs it against a stack under supervisord and kills the API when told).
//
//   node e2e/reconnect.mjs ; environment: AVATAR_E2E_BASE (the API), AVATAR_E2E_REPLY (the
//   reply the benchmark LLM writes), CHROMIUM (default /usr/bin/chromium)
//
// Sends a message, prints "KILL" near the end of the streaming reply, then waits until the page
// is disconnected, connected again by itself, and shows the whole reply as done: the part it
// missed can only come from the database (GET /turns after the reconnect). Exit status 0 when
// it did.
import { chromium } from "playwright-core";

const BASE = process.env.AVATAR_E2E_BASE ?? "http://127.0.0.1:8000";
const REPLY = process.env.AVATAR_E2E_REPLY ?? "";
const log = (...args) => console.log("[reconnect]", ...args);
/** until the newest turn on the page has this status */
const lastTurnIs = (page, status, timeout) =>
  page.waitForFunction((want) => [...document.querySelectorAll('[data-testid="turn"]')].pop()?.dataset.status === want,
    status, { timeout });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--autoplay-policy=no-user-gesture-required"],
});
try {
  const page = await browser.newPage();
  page.on("pageerror", (err) => log("page error:", err.message));
  await page.goto(BASE + "/");
  await page.waitForSelector('[data-testid="connection"][data-state="connected"]', { timeout: 30000 });
  await page.fill("#message", "請說明今天的天氣。");
  await page.keyboard.press("Enter");
  // Two tokens before the end: the API is dead before the turn ends and back only after it
  // ended (it takes seconds to start), so the page can only learn the rest from the database.
  const last = page.locator('[data-testid="turn"]').last();
  await page.waitForFunction((n) => ([...document.querySelectorAll('[data-testid="reply-text"]')].pop()?.textContent ?? "").length >= n,
    REPLY.length - 4, { timeout: 60000 });
  console.log("KILL");
  await page.waitForSelector('[data-testid="connection"]:not([data-state="connected"])', { timeout: 30000 });
  const status = await last.getAttribute("data-status");
  log("disconnected with the turn", status);
  if (status === "done") throw new Error("the turn was done before the API died: nothing left to resume");
  await page.waitForSelector('[data-testid="connection"][data-state="connected"]', { timeout: 120000 });
  log("connected again");
  await lastTurnIs(page, "done", 60000);
  const reply = await last.locator('[data-testid="reply-text"]').textContent();
  log("reply:", JSON.stringify(reply));
  if (reply?.trim() !== REPLY.trim()) throw new Error(`the page shows ${JSON.stringify(reply)}, not the stored reply`);
} finally {
  await browser.close();
}

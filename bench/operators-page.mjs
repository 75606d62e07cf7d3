// The operators scenario's real page (bench/suite/operators.rs): Chromium signed in as one
// operator, timing each inbound message from its send time (the `ts=` marker in the
// text) until the list row shows it as its preview. Steered by stdin: `go` starts
// counting, `stop` prints `done {p50_ms, p99_ms, samples}`.

const { chromium } = await import(process.env.PLAYWRIGHT);
import { createInterface } from "node:readline";

const { APP_URL, LOGIN, PASSWORD, CHROMIUM } = process.env;
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "ru-RU" })).newPage();
await page.goto(APP_URL + "/");
await page.fill("input[name=login]", LOGIN);
await page.fill("input[name=password]", PASSWORD);
await page.click("form.login button[type=submit]");
await page.waitForSelector(".dialog-item", { timeout: 60000 });
await page.waitForSelector("#live.online", { timeout: 60000 });
// Each row's preview as it changes: the time from the message's send time to now.
await page.evaluate(() => {
  window.benchLatencies = [];
  window.benchCounting = false;
  const seen = new Set();
  // What the list shows already was sent before the window: only new previews count.
  window.benchSeed = () => {
    for (const preview of document.querySelectorAll(".dialog-item .preview")) {
      const match = /^ts=(\d+);/.exec(preview.textContent || "");
      if (match) seen.add(match[1]);
    }
  };
  const observer = new MutationObserver(() => {
    if (!window.benchCounting) return;
    const now = Date.now() * 1000 + Math.round((performance.now() % 1) * 1000);
    for (const preview of document.querySelectorAll(".dialog-item .preview")) {
      const match = /^ts=(\d+);/.exec(preview.textContent || "");
      if (!match || seen.has(match[1])) continue;
      seen.add(match[1]);
      window.benchLatencies.push((now - Number(match[1])) / 1000);
    }
  });
  observer.observe(document.querySelector(".dialog-list"), { subtree: true, childList: true, characterData: true });
});
console.log("ready");
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() === "go") await page.evaluate(() => { window.benchSeed(); window.benchCounting = true; });
  if (line.trim() === "stop") {
    const latencies = await page.evaluate(() => { window.benchCounting = false; return window.benchLatencies; });
    latencies.sort((a, b) => a - b);
    const at = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : null);
    console.log(`done ${JSON.stringify({ p50_ms: at(0.5), p99_ms: at(0.99), samples: latencies.length })}`);
    break;
  }
}
await browser.close();
process.exit(0);

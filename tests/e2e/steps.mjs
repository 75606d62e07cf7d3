// What the browser scripts share: named steps that report how long they took, waiting
// for a condition, and Chromium started as this machine needs it (no sandbox as root, no
// background networking on a closed network).

import { chromium } from "playwright-core";

/** Runs one named step; prints `ok name (N ms)` or `FAILED name: why` and rethrows. */
export async function step(name, run) {
  const started = Date.now();
  try {
    await run();
    console.log(`ok ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    console.log(`FAILED ${name}: ${error.message}`);
    throw error;
  }
}

/** Waits until `check()` is true, or fails naming `what` after `timeout` ms. */
export async function until(check, what, timeout) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Debian's Chromium, headless. */
export function launch(executablePath) {
  return chromium.launch({
    executablePath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

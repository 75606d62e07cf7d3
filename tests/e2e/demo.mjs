// The living demo in headless Chromium (run by tests/api/demo.rs against `dialogi --demo`):
// the banner says it is a demo, the simulated clients' messages arrive on their own while
// the page is open, and a dialog opens with its messages and composer, on a desktop and
// on a phone. With SCREENSHOTS=1 the README's screenshots are written to docs/screenshots.

import { fileURLToPath } from "node:url";
import path from "node:path";
import { step, launch } from "./steps.mjs";

const { APP_URL, LOGIN, PASSWORD, CHROMIUM, SCREENSHOTS } = process.env;
const SHOTS = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../docs/screenshots");
const STEP = 30000;

async function shot(page, name) {
  if (SCREENSHOTS === "1") await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

const browser = await launch(CHROMIUM);

async function signIn(viewport) {
  const page = await (await browser.newContext({ viewport, locale: "ru-RU" })).newPage();
  page.on("pageerror", (error) => console.log(`page error: ${error.message}`));
  await page.goto(APP_URL + "/");
  await page.fill("input[name=login]", LOGIN);
  await page.fill("input[name=password]", PASSWORD);
  await page.click("form.login button[type=submit]");
  await page.waitForSelector(".dialog-item", { timeout: STEP });
  await page.waitForSelector("#live.online", { timeout: STEP });
  return page;
}

let exitCode = 0;
try {
  let page;
  await step("the demo says it is a demo", async () => {
    page = await signIn({ width: 1280, height: 760 });
    const banner = await page.locator(".demo-banner").textContent({ timeout: STEP });
    if (!banner.includes("Демо")) throw new Error(`the banner reads ${banner}`);
  });

  await step("simulated clients write while the page is open", async () => {
    await page.click('.tabs [data-section="new"]');
    // The list (or its counters) changes by itself: a new dialog lands where its
    // account's priority puts it, a new message moves its dialog.
    const state = () => [...document.querySelectorAll(".dialog-item")].map((i) => i.dataset.id).join(",")
      + "|" + [...document.querySelectorAll(".tabs [data-section]")].map((t) => t.textContent).join(",");
    const before = await page.evaluate(`(${state})()`);
    await page.waitForFunction((was) => {
      const now = [...document.querySelectorAll(".dialog-item")].map((i) => i.dataset.id).join(",")
        + "|" + [...document.querySelectorAll(".tabs [data-section]")].map((t) => t.textContent).join(",");
      return now !== was;
    }, before, { timeout: STEP });
    await shot(page, "workstation");
  });

  await step("a dialog opens with its messages, and the close modal asks for a reason", async () => {
    await page.locator(".dialog-item").first().click();
    await page.waitForSelector(".feed .bubble.in", { timeout: STEP });
    await page.fill(".composer textarea", "Здравствуйте! Сейчас проверим и ответим.");
    await page.press(".composer textarea", "Enter");
    await page.waitForSelector(".feed .bubble.out", { timeout: STEP });
    await page.waitForTimeout(1500);
    await shot(page, "dialog");
    await page.click('button[data-action="close"]');
    await page.waitForSelector(".modal select[name=reason_id]", { timeout: STEP });
    await shot(page, "close-with-reason");
    await page.keyboard.press("Escape");
  });

  await step("the close-reason analysis shows the demo's closed dialogs", async () => {
    await page.goto(APP_URL + "/#/report");
    await page.waitForSelector(".chart .bar", { timeout: STEP });
    await shot(page, "report");
  });

  await step("on a phone: the list, then a dialog with its composer", async () => {
    const phone = await signIn({ width: 390, height: 844 });
    await shot(phone, "phone-list");
    await phone.locator(".dialog-item").first().click();
    await phone.waitForSelector(".feed .bubble", { timeout: STEP });
    const box = await phone.locator(".composer textarea").boundingBox();
    if (!box || box.y + box.height > 844) throw new Error(`the composer is at ${JSON.stringify(box)}`);
    await phone.waitForTimeout(500);
    await shot(phone, "phone-dialog");
  });
} catch {
  exitCode = 1;
} finally {
  await browser.close();
}
process.exit(exitCode);

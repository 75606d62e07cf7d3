// The workstation in headless Chromium, as two operators (anna and boris) in two browser
// contexts, against the app and a fake Telegram started by tests/api/browser.rs.
// Every step waits for what the user would see; a step that does not happen in time fails
// the run with its name. With SCREENSHOTS=1 the main screens are written to docs/screenshots.

import { chromium } from "playwright-core";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import path from "node:path";

const { APP_URL, FAKE_URL, HOOK_PATH, TG_SECRET, PASSWORD, CHROMIUM, SCREENSHOTS } = process.env;
const SHOTS = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../docs/screenshots");
// Generous: the test shares two cores with the rest of the suite.
const STEP = 30000;
const XSS_NAME = "<img src=x onerror=alert(1)>Иван";
const XSS_TEXT = "<script>alert('xss')</script> Здравствуйте, нужна помощь с заказом";
const stdin = createInterface({ input: process.stdin });
const answers = [];
stdin.on("line", (line) => answers.push(line.trim()));

let updateId = 1;
async function inbound(chat, name, body) {
  const message = { message_id: updateId, date: Math.floor(Date.now() / 1000), chat: { id: chat, type: "private", first_name: name },
    from: { id: chat, is_bot: false, first_name: name }, ...body };
  const response = await fetch(APP_URL + HOOK_PATH, {
    method: "POST",
    headers: { "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET },
    body: JSON.stringify({ update_id: updateId++, message }),
  });
  if (response.status !== 200) throw new Error(`webhook answered ${response.status}`);
}

async function fakeCalls(suffix) {
  const calls = await (await fetch(`${FAKE_URL}/__calls`)).json();
  return calls.filter((c) => c.path.toLowerCase().endsWith(suffix));
}

async function step(name, run) {
  const started = Date.now();
  try {
    await run();
    console.log(`ok ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    console.log(`FAILED ${name}: ${error.message}`);
    throw error;
  }
}

async function until(check, what, timeout = STEP) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function shot(page, name) {
  if (SCREENSHOTS === "1") await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const alerts = [];
async function operator(login) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, locale: "ru-RU" });
  const page = await context.newPage();
  page.on("dialog", (dialog) => {
    alerts.push(dialog.message());
    dialog.dismiss();
  });
  page.on("pageerror", (error) => console.log(`page error (${login}): ${error.message}`));
  await page.goto(APP_URL + "/");
  await page.fill("input[name=login]", login);
  await page.fill("input[name=password]", PASSWORD);
  await page.click("form.login button[type=submit]");
  await page.waitForSelector(".workstation", { timeout: STEP });
  await page.waitForSelector("#live.online", { timeout: STEP });
  return page;
}

const item = (page, name) => page.locator(".dialog-item", { hasText: name });
let exitCode = 0;
try {
  let anna;
  let boris;
  await step("both operators sign in and see the live indicator", async () => {
    anna = await operator("anna");
    boris = await operator("boris");
    await shot(anna, "empty-inbox");
  });

  await step("an inbound message appears live for both, its HTML shown as text", async () => {
    await inbound(4242, XSS_NAME, { text: XSS_TEXT });
    for (const page of [anna, boris]) {
      await item(page, "нужна помощь").waitFor({ timeout: STEP });
      const name = await item(page, "нужна помощь").locator(".name").textContent();
      if (name !== XSS_NAME) throw new Error(`the name shows as ${name}`);
      if (await page.locator(".dialog-list img").count()) throw new Error("a name became an <img>");
    }
  });

  await step("the counters match the list", async () => {
    const badge = async (page) => Number((await page.locator('[data-counter="new"]').textContent()) || 0);
    await until(async () => (await badge(anna)) === (await anna.locator(".dialog-item.unread").count()), "counters = unread items");
    if ((await badge(anna)) !== 1) throw new Error(`the New counter shows ${await badge(anna)}`);
  });

  await step("anna accepts it and it leaves boris's New", async () => {
    await item(anna, "нужна помощь").click();
    await anna.waitForSelector(".feed .bubble.in", { timeout: STEP });
    const text = await anna.locator(".feed .bubble.in .text").first().textContent();
    if (text !== XSS_TEXT) throw new Error(`the message shows as ${text}`);
    await anna.click('button[data-action="accept"]');
    await anna.waitForSelector(".dialog-header .status.accepted", { timeout: STEP });
    await item(boris, "нужна помощь").waitFor({ state: "detached", timeout: STEP });
  });

  await step("anna replies with Enter and the fake Telegram receives it", async () => {
    await anna.fill(".composer textarea", "Добрый день! Сейчас посмотрю ваш заказ.");
    await anna.press(".composer textarea", "Enter");
    await anna.waitForSelector(".feed .bubble.out", { timeout: STEP });
    await until(async () => {
      const sent = await fakeCalls("/sendmessage");
      return sent.some((c) => c.body.chat_id === 4242 && c.body.text === "Добрый день! Сейчас посмотрю ваш заказ.");
    }, "sendMessage to chat 4242");
    await anna.waitForSelector(".feed .delivery.sent", { timeout: STEP });
    await shot(anna, "dialog");
  });

  await step("boris cannot write in anna's dialog", async () => {
    await boris.click('.tabs [data-section="all"]');
    await item(boris, "Добрый день").click();
    await boris.waitForSelector(".composer .readonly", { timeout: STEP });
    if (await boris.locator('button[data-action="accept"]').isEnabled()) throw new Error("boris may take it");
  });

  await step("anna redirects it to boris, who sees it in New as returned", async () => {
    await anna.click('button[data-action="redirect"]');
    const boss = await anna.locator('select[name="to"] option', { hasText: "boris" }).getAttribute("value");
    await anna.selectOption('select[name="to"]', boss);
    await anna.click(".modal button[type=submit]");
    await anna.waitForSelector(".dialog-header .status.returned", { timeout: STEP });
    await boris.click('.tabs [data-section="new"]');
    await item(boris, "Добрый день").locator(".status.returned").waitFor({ timeout: STEP });
  });

  await step("boris takes it and closes it with the required reason", async () => {
    await item(boris, "Добрый день").click();
    await boris.click('button[data-action="accept"]');
    await boris.waitForSelector(".dialog-header .status.accepted", { timeout: STEP });
    await boris.click('button[data-action="close"]');
    await boris.waitForSelector('.modal select[name="reason_id"]', { timeout: STEP });
    await shot(boris, "close-with-reason");
    await boris.click(".modal button[type=submit]");
    await boris.waitForSelector(".dialog-header .status.closed", { timeout: STEP });
  });

  await step("search finds it by a word and by the client's name", async () => {
    await anna.click('.tabs [data-section="all"]');
    await anna.check(".filters .check:first-of-type input");
    for (const query of ["заказом", "Иван"]) {
      await anna.fill(".list-pane .search", query);
      await until(async () => (await item(anna, "Сейчас посмотрю").count()) === 1, `a result for ${query}`);
    }
    await anna.fill(".list-pane .search", "несуществующее слово");
    await until(async () => (await anna.locator(".dialog-item").count()) === 0, "no result");
    await anna.fill(".list-pane .search", "");
  });

  await step("an inbound photo shows in the attachments gallery", async () => {
    await inbound(5151, "Мария", { caption: "вот фото", photo: [{ file_id: "AgAC-b", file_unique_id: "u2", file_size: 33, width: 1, height: 1 }] });
    await anna.click('.tabs [data-section="new"]');
    await item(anna, "Мария").click();
    await anna.waitForSelector(".feed .thumb img", { timeout: STEP });
    await anna.click('button[data-action="gallery"]');
    await anna.waitForSelector(".modal .gallery img", { timeout: STEP });
    await until(() => anna.evaluate(() => {
      const img = document.querySelector(".modal .gallery img");
      return img && img.complete && img.naturalWidth > 0;
    }), "the photo loads");
    await shot(anna, "gallery");
    await anna.keyboard.press("Escape");
  });

  await step("after the server restarts the page catches up without a reload", async () => {
    console.log("RESTART");
    await until(() => answers.includes("RESTARTED"), "the server restart", 60000);
    await inbound(6161, "Пётр", { text: "Я написал, пока сервер перезапускался" });
    for (const page of [anna, boris]) {
      await item(page, "пока сервер перезапускался").waitFor({ timeout: 30000 });
      await page.waitForSelector("#live.online", { timeout: 30000 });
    }
    await shot(anna, "workstation");
  });

  await step("no script from a client ever ran", async () => {
    if (alerts.length) throw new Error(`alerts: ${alerts.join(", ")}`);
  });

  await step("my work and the close-reason report render", async () => {
    await boris.goto(APP_URL + "/#/report");
    await boris.waitForSelector(".chart .bar", { timeout: STEP });
    await shot(boris, "report");
    await boris.goto(APP_URL + "/#/work");
    await boris.waitForSelector(".page.work", { timeout: STEP });
  });

  await step("the client's card opens from the dialog and lists the client's dialogs", async () => {
    await anna.goto(APP_URL + "/#/");
    await item(anna, "Мария").click();
    await anna.click(".dialog-header .client-link");
    await anna.locator(".page.client h2", { hasText: "Мария" }).waitFor({ timeout: STEP });
    await anna.locator(".page.client .dialog-item").first().waitFor({ timeout: STEP });
    await shot(anna, "client-card");
    await anna.goto(APP_URL + "/#/rules");
    await anna.waitForSelector(".page.admin .grid", { timeout: STEP });
  });

  await step("the settings pages render: accounts, people, close reasons", async () => {
    await boris.goto(APP_URL + "/#/accounts");
    await boris.locator(".grid td", { hasText: "Telegram: продажи" }).waitFor({ timeout: STEP });
    await boris.goto(APP_URL + "/#/people");
    await boris.locator(".grid td", { hasText: "anna" }).first().waitFor({ timeout: STEP });
    await boris.goto(APP_URL + "/#/reasons");
    await boris.locator(".grid td", { hasText: "Нет ответа" }).waitFor({ timeout: STEP });
  });
} catch {
  exitCode = 1;
} finally {
  await browser.close();
  stdin.close();
}
process.exit(exitCode);

// A survey invitation's respondent page in a real browser: Debian's Chromium driven by
// playwright-core, checked by axe-core, with JavaScript on and off. Run by
// `cargo test -p touchbase --test survey_page` (tests/survey_page.rs), which makes the store,
// the survey, the key customers and their invitations, starts `touchbase serve` and passes, in
// the environment:
//   TB_LINKS     two invitation links, separated by a space (http://127.0.0.1:PORT/r/SURVEY/TOKEN)
//   TB_SHOTS     where the screenshots go (the test's temp dir)
//   TOUCHBASE_SCREENSHOTS   optional: a second folder the screenshots are copied to
// It exits 0 when every check passed and 1 (after a screenshot of the failing page) otherwise.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const env = name => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through \`cargo test -p touchbase --test survey_page\``);
  return v;
};
const [FIRST, SECOND] = env("TB_LINKS").split(" ");
const SHOTS = [env("TB_SHOTS"), process.env.TOUCHBASE_SCREENSHOTS].filter(Boolean);
for (const dir of SHOTS) fs.mkdirSync(dir, { recursive: true });
const ORIGIN = new URL(FIRST).origin;

let checks = 0;
const log = (...a) => console.log(...a);
function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  checks++;
  log(`  ok ${checks}: ${what}`);
}
async function shot(page, name) {
  const file = path.join(SHOTS[0], `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  for (const dir of SHOTS.slice(1)) fs.copyFileSync(file, path.join(dir, `${name}.png`));
  log(`  screenshot ${file}`);
}
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run"],
});
// axe-core, evaluated through the DevTools protocol (no <script> tag is added), on a copy of
// the page in a context with JavaScript on.
let checker = null;
async function axe(page, where) {
  if (!checker) checker = await (await browser.newContext()).newPage();
  await checker.setViewportSize(page.viewportSize());
  await checker.setContent(await page.content(), { waitUntil: "load" });
  await checker.evaluate(AXE);
  const result = await checker.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help }));
  });
  for (const v of result) log(`  axe (${where}): ${v.impact} ${v.id}: ${v.help}`);
  const bad = result.filter(v => v.impact === "serious" || v.impact === "critical");
  check(!bad.length, `axe-core finds no serious or critical violation (${where})${bad.length ? ": " + bad.map(v => v.id).join(", ") : ""}`);
}
// Every request stays on the server under test.
function local(page) {
  page.on("request", r => {
    const url = r.url();
    if (!url.startsWith(ORIGIN) && !url.startsWith("data:") && !url.startsWith("about:")) throw new Error(`a request left the server: ${url}`);
  });
}

let page = null;
try {
  // A phone with JavaScript on, in English: save half the answers, come back, finish, thanks.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: "en-GB" });
  page = await phone.newPage();
  local(page);
  let answer = await page.goto(FIRST);
  check(answer.status() === 200, `the link opens its page (${answer.status()})`);
  check(await page.locator("h1").innerText() === "A few questions from Spoke & Chain", "the organization's name");
  check((await page.locator("main").innerText()).includes("Online order on 3 March"), "the interaction in words");
  const sideways = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  check(sideways, "nothing wider than a phone");
  await axe(page, "the page at 390 px");
  await shot(page, "survey-390");
  await page.getByLabel("8", { exact: true }).check();
  await page.getByLabel("Which parts did you order?").first();
  await page.getByRole("checkbox", { name: "chain" }).check();
  await Promise.all([page.waitForURL(/saved=1/), page.getByRole("button", { name: "Save and finish later" }).click()]);
  check((await page.locator("main").innerText()).includes("Your answers are saved"), "saved, to finish later");
  await page.goto(FIRST);
  check(await page.getByLabel("8", { exact: true }).isChecked(), "the kept score is there when the link is opened again");
  check(await page.getByRole("checkbox", { name: "chain" }).isChecked(), "the kept choice too");
  await page.getByRole("radio", { name: "Satisfied", exact: true }).check();
  await page.getByLabel("What would you change about this interaction?").fill("Deliver before 9, please");
  await Promise.all([page.waitForLoadState("load"), page.getByRole("button", { name: "Send my answers" }).click()]);
  check(await page.locator("h1").innerText() === "Thank you", "the thanks page");
  await axe(page, "the thanks page");
  answer = await page.goto(FIRST);
  check(answer.status() === 410, "the link is used: it says the answer is in");
  check((await page.locator("h1").innerText()).includes("answered already"), "…in words");

  // JavaScript off, in French, at a desktop's width: the plain form answers as well.
  const desk = await browser.newContext({ viewport: { width: 1280, height: 900 }, javaScriptEnabled: false, locale: "fr-FR" });
  page = await desk.newPage();
  local(page);
  answer = await page.goto(SECOND);
  check(answer.status() === 200, "the second link opens without JavaScript");
  check(await page.locator("html").getAttribute("lang") === "fr", "in the browser's language");
  await axe(page, "the page in French at 1280 px");
  await shot(page, "survey-1280-fr");
  await page.getByLabel("10", { exact: true }).check();
  await page.getByRole("radio", { name: "yes" }).check();
  await Promise.all([page.waitForLoadState("load"), page.getByRole("button", { name: "Envoyer mes réponses" }).click()]);
  check(await page.locator("h1").innerText() === "Merci", "the thanks page, in French");

  // The dashboard, as a viewer: the two answers moved its Voice of the customer.
  const board = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  page = await board.newPage();
  local(page);
  await page.goto(`${ORIGIN}/#token=${env("TB_TOKEN")}`);
  await page.locator("#voice-cards .card").first().waitFor();
  await page.locator("#voice-themes table").waitFor();
  const cards = await page.locator("#voice-cards").innerText();
  check(/Responses\s+2\b/i.test(cards), `the Voice cards count the two responses: ${JSON.stringify(cards.slice(0, 120))}`);
  // An 8 (passive) and a 10 (promoter): 100 × (1/2 − 0) = +50.
  check(/NPS\s+\+50\b/i.test(cards), `the NPS of an 8 and a 10 is +50: ${JSON.stringify(cards)}`);
  const points = await page.locator("#voice-points").innerText();
  check(points.includes("web.order"), "the answered point is listed");
  const themes = await page.locator("#voice-themes").innerText();
  check(/delivery\s+1\b/.test(themes), `the change answer is a delivery theme: ${JSON.stringify(themes)}`);
  check(themes.includes("Verbatims are shown once at least 10"), "no verbatims from two answers");
  await axe(page, "the dashboard's voice");
  await shot(page, "dashboard-voice-1440");
  log(`all ${checks} checks passed`);
} catch (e) {
  console.error(e);
  if (page) await shot(page, "survey-failed").catch(() => {});
  await browser.close();
  process.exit(1);
}
await browser.close();

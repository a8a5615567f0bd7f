// A party's self-service page of a standing order in a real browser with JavaScript turned off:
// Debian's Chromium driven by playwright-core, checked by axe-core. Run by
// `cargo test -p touchbase --test standing_page` (tests/standing_page.rs), which makes the store
// and the order, starts `touchbase serve`, issues the link and passes, in the environment:
//   TB_PAGE      the self-service link, http://127.0.0.1:PORT/s/TOKEN
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
  if (!v) throw new Error(`${name} is not set: run this through \`cargo test -p touchbase --test standing_page\``);
  return v;
};
const PAGE = env("TB_PAGE");
const SHOTS = [env("TB_SHOTS"), process.env.TOUCHBASE_SCREENSHOTS].filter(Boolean);
for (const dir of SHOTS) fs.mkdirSync(dir, { recursive: true });

let checks = 0, current = null;
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
// axe-core over the page as it stands; a serious or critical violation fails. The party's page
// runs with JavaScript off, where axe (which needs timers and promises) cannot run: its HTML
// is copied into a page of a context with JavaScript on, at the same width, and checked there
// (axe is evaluated through the DevTools protocol: no <script> tag is added).
let checker = null;
async function axe(page, where) {
  if (!checker) checker = await (await browser.newContext()).newPage();
  await checker.setViewportSize(page.viewportSize());
  await checker.setContent(await page.content(), { waitUntil: "load" });
  await checker.evaluate(AXE);
  const result = await checker.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map(n => `${n.target.join(" ")}: ${n.failureSummary?.split("\n").slice(1).join("; ")}`) }));
  });
  for (const v of result) log(`  axe (${where}): ${v.impact} ${v.id}: ${v.help}\n      ${v.nodes.join("\n      ")}`);
  const bad = result.filter(v => v.impact === "serious" || v.impact === "critical");
  check(!bad.length, `axe-core finds no serious or critical violation (${where})${bad.length ? ": " + bad.map(v => v.id).join(", ") : ""}`);
}
// Nothing wider than the window: the page does not scroll sideways, every table fits its box or
// scrolls inside it, and every control is within the window.
async function fits(page, width) {
  const r = await page.evaluate(() => {
    const doc = document.documentElement.scrollWidth;
    const tables = [...document.querySelectorAll("table")]
      .filter(t => !t.parentElement.classList.contains("scroll") && t.scrollWidth > t.parentElement.clientWidth + 1)
      .map(t => t.caption?.innerText);
    const boxes = [...document.querySelectorAll(".scroll")]
      .filter(b => b.getBoundingClientRect().right > innerWidth + 1).length;
    const controls = [...document.querySelectorAll("button, input, select, label")]
      .filter(c => c.offsetParent && !c.closest(".scroll") && !c.closest(".vh"))
      .map(c => ({ c, r: c.getBoundingClientRect() }))
      .filter(({ r }) => r.right > innerWidth + 1 || r.left < -1)
      .map(({ c }) => c.outerHTML.slice(0, 80));
    return { doc, tables, boxes, controls };
  });
  check(r.doc <= width, `at ${width} px the page does not scroll sideways (${r.doc} px wide)`);
  check(!r.tables.length && !r.boxes, `at ${width} px every table fits or scrolls inside its box${r.tables.length ? ": " + JSON.stringify(r.tables) : ""}`);
  check(!r.controls.length, `at ${width} px every control is within the window${r.controls.length ? ": " + JSON.stringify(r.controls) : ""}`);
}
const text = async page => (await page.locator("main").innerText()).replace(/\s+/g, " ");
// Submits a form by clicking `button`; the answer to the POST and the page it leads to.
async function submit(page, button) {
  const [answer] = await Promise.all([
    page.waitForResponse(r => r.request().method() === "POST"),
    button.click(),
  ]);
  await page.waitForLoadState("load");
  return answer;
}
async function saves(page, button, what, saved) {
  const answer = await submit(page, button);
  check(answer.status() === 303, `${what}: the form answers 303 (${answer.status()})`);
  check(/\?saved=\d+$/.test(page.url()), `${what}: the page after it says which revision was saved`);
  const message = await page.locator("p.saved").innerText();
  check(saved.test(message) && /It reaches the run on \w{3} \d{1,2} \w{3}\./.test(message), `${what}: ${JSON.stringify(message)}`);
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run"],
});
const errors = [];
// However the page behaves, the script ends: a check that waits forever fails instead.
setTimeout(() => { console.error("FAILED: timed out after 180 s"); process.exit(1); }, 180_000).unref();

try {
  log("the party's page at 390 px, without JavaScript");
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  current = page;
  page.on("pageerror", e => errors.push(`${e.message}`));
  // A Content-Security-Policy violation is reported on the console (the refused change's 422
  // is expected, and reported there too).
  page.on("console", m => { if (m.type() === "error" && !/Failed to load resource/.test(m.text())) errors.push(`console: ${m.text()}`); });
  const first = await page.goto(PAGE);
  check(first.status() === 200, `the link opens the page (${first.status()})`);
  check(first.headers()["cache-control"] === "no-store" && first.headers()["referrer-policy"] === "no-referrer", "no-store, no-referrer");
  check(await page.locator("script").count() === 0, "the page has no script");
  check(await page.locator("html").getAttribute("lang") === "en" && await page.locator("main h1").innerText() === "Your standing order", "lang, main and its heading");
  let t = await text(page);
  check(t.includes("Status: Waiting for your confirmation"), "an offered order waits for the party's confirmation");
  check(/Changes until \w{3} \d{1,2} \w{3} \d\d:\d\d\./.test(t), `the cut-off is shown: ${JSON.stringify(t.match(/Changes until[^.]*\./)?.[0])}`);
  check(/\w+day \d{1,2} \w+ \d{4} at \d\d:\d\d \(Europe\/London time\)/.test(t), "the next run in the order's time zone");
  check(/Total €14\.50/.test(t), "the run's total in the organization's currency");
  await shot(page, "standing-390-offered");
  await axe(page, "offered, 390 px");
  await fits(page, 390);

  await saves(page, page.getByRole("button", { name: "Confirm my standing order" }), "confirm", /^Saved: confirmed\./);
  check((await text(page)).includes("Status: Active"), "confirmed: the order is active");

  await page.getByLabel("Quantity of tube-700c").fill("3");
  await saves(page, page.getByRole("button", { name: "Update tube-700c" }), "a quantity changed", /^Saved: tube-700c × 3\./);
  const row = (await page.locator("table tbody tr", { hasText: "tube-700c" }).innerText()).replace(/\s+/g, " ");
  check(row.includes("3") && row.includes("€12.00"), `the run's line follows: ${JSON.stringify(row)}`);

  await page.getByLabel("Product").selectOption("bar-tape");
  await page.locator("#add-qty").fill("1");
  await page.getByLabel(/For the next delivery only/).check();
  await saves(page, page.getByRole("button", { name: "Add to my order" }), "an item for the next delivery only", /^Saved: bar-tape × 1 on \d{4}-\d\d-\d\d only\./);
  check(await page.locator("table tbody tr", { hasText: "bar-tape" }).locator(".tag").innerText() === "this delivery only", "the item is marked for this delivery only");
  check((await text(page)).includes("Total €30.50"), "the total counts it: 6.50 + 3 × 4.00 + 12.00");

  await saves(page, page.getByRole("button", { name: /^Skip the delivery on / }), "the next run skipped", /^Saved: skip \d{4}-\d\d-\d\d\./);
  t = await text(page);
  check(t.includes("You skipped this delivery: it does not go out."), "the next run says it is skipped");
  check(await page.getByRole("button", { name: "Take the skip back" }).count() === 1, "the skip can be taken back");
  await shot(page, "standing-390");
  await axe(page, "saved, 390 px");
  await fits(page, 390);

  // Cancelling needs the box ticked: the browser itself holds the form back.
  await page.getByRole("button", { name: "Cancel my standing order" }).click();
  await page.waitForTimeout(300);
  check(!(await text(page)).includes("Saved: cancelled"), "without the box ticked, nothing is cancelled");

  // A refused change: the message beside its form, 422.
  await page.getByLabel("Quantity of chain-lube").fill("0");
  const refused = await submit(page, page.getByRole("button", { name: "Update chain-lube" }));
  check(refused.status() === 422, `a refused change answers 422 (${refused.status()})`);
  const beside = await page.locator("#items .error").innerText();
  check(/^Not saved: changes: qty of chain-lube must be above 0/.test(beside), `the rule stands beside the form: ${JSON.stringify(beside)}`);
  await shot(page, "standing-390-refused");
  await axe(page, "refused, 390 px");

  log("the same page at 1280 px");
  await page.goto(PAGE);
  await page.setViewportSize({ width: 1280, height: 800 });
  await fits(page, 1280);
  await shot(page, "standing-1280");
  await axe(page, "1280 px");
  await context.close();

  check(!errors.length, `no error in the page${errors.length ? ":\n" + errors.join("\n") : ""}`);
  log(`standing: ${checks} checks passed`);
  await browser.close();
} catch (e) {
  console.error(`FAILED: ${e.stack || e}`);
  if (errors.length) console.error(`errors in the page:\n${errors.join("\n")}`);
  try {
    await current?.screenshot({ path: path.join(SHOTS[0], "failure.png"), fullPage: true });
    for (const dir of SHOTS.slice(1)) fs.copyFileSync(path.join(SHOTS[0], "failure.png"), path.join(dir, "failure.png"));
    console.error(`the page as it was: ${path.join(SHOTS[0], "failure.png")}`);
    console.error(`its text:\n${(await current?.locator("body").innerText())?.slice(0, 3000)}`);
  } catch { /* the page is gone */ }
  await browser.close().catch(() => {});
  process.exit(1);
}

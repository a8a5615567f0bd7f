// The dashboard's reverse feed in a real browser: Debian's Chromium driven by playwright-core,
// checked by axe-core. Run by `cargo test -p touchbase --test browser` (tests/browser.rs), which
// makes the store, starts `touchbase serve` and passes, in the environment:
//   TB_URL       the server, http://127.0.0.1:PORT
//   TB_ADMIN, TB_ANALYST, TB_VIEWER   the three users' tokens
//   TB_SHOTS     where the screenshots go (the test's temp dir)
//   TB_RULE, TB_GONE, TB_OK, TB_CLOSED   the rule's and the three endpoints' keys
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
  if (!v) throw new Error(`${name} is not set: run this through \`cargo test -p touchbase --test browser\``);
  return v;
};
const URL = env("TB_URL"), ADMIN = env("TB_ADMIN"), ANALYST = env("TB_ANALYST"), VIEWER = env("TB_VIEWER");
const RULE = env("TB_RULE"), GONE = env("TB_GONE"), OK = env("TB_OK"), CLOSED = env("TB_CLOSED");
const SHOTS = [env("TB_SHOTS"), process.env.TOUCHBASE_SCREENSHOTS].filter(Boolean);
for (const dir of SHOTS) fs.mkdirSync(dir, { recursive: true });

let checks = 0, current = null;
const log = (...a) => console.log(...a);
function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  checks++;
  log(`  ok ${checks}: ${what}`);
}
// Polls `f` until it answers something truthy.
async function until(f, what, ms = 15000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await f(); if (last) { checks++; log(`  ok ${checks}: ${what}`); return last; } } catch (e) { last = e; }
    await new Promise(r => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${ms} ms waiting for: ${what}${last instanceof Error ? ` (${last.message})` : ""}`);
}
async function shot(page, name, { feedOnly = false } = {}) {
  const file = path.join(SHOTS[0], `${name}.png`);
  // From the top: a full-page capture draws the sticky period bar where the window last was.
  await page.evaluate(() => scrollTo(0, 0));
  if (feedOnly) {
    // The Reverse feed section: from its heading to the next section's.
    const clip = await page.evaluate(() => {
      const top = document.getElementById("feed").getBoundingClientRect().top + scrollY - 8;
      const end = document.getElementById("inventory").getBoundingClientRect().top + scrollY - 8;
      return { x: 0, y: top, width: document.documentElement.clientWidth, height: end - top };
    });
    await page.screenshot({ path: file, clip, fullPage: true });
  } else await page.screenshot({ path: file, fullPage: true });
  for (const dir of SHOTS.slice(1)) fs.copyFileSync(file, path.join(dir, `${name}.png`));
  log(`  screenshot ${file}`);
}
// One element of the page, as it is drawn.
async function elementShot(page, selector, name) {
  const file = path.join(SHOTS[0], `${name}.png`);
  await page.locator(selector).screenshot({ path: file });
  for (const dir of SHOTS.slice(1)) fs.copyFileSync(file, path.join(dir, `${name}.png`));
  log(`  screenshot ${file}`);
}
// axe-core over the whole page; a serious or critical violation fails.
async function axe(page, where) {
  // Evaluated through the DevTools protocol: the page's Content-Security-Policy allows no inline
  // script, and a <script> tag of axe's would be refused (which the page's errors would show).
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map(n => `${n.target.join(" ")}: ${n.failureSummary?.split("\n").slice(1).join("; ")}`) }));
  });
  for (const v of result) log(`  axe (${where}): ${v.impact} ${v.id}: ${v.help}\n      ${v.nodes.join("\n      ")}`);
  const bad = result.filter(v => v.impact === "serious" || v.impact === "critical");
  check(!bad.length, `axe-core finds no serious or critical violation (${where})${bad.length ? ": " + bad.map(v => v.id).join(", ") : ""}`);
}
// The text of each cell of the deliveries table, by the column's label.
const rowsOf = page => page.$$eval("#feed-table > tbody > tr.delivery", trs => trs.map(tr => {
  const cell = {};
  for (const td of tr.children) cell[td.dataset.label] = td.innerText.trim();
  cell.id = tr.dataset.id;
  return cell;
}));
// Nothing wider than the window: no sideways scrolling of the page, every feed table inside its box.
async function fits(page, width) {
  const r = await page.evaluate(() => {
    const doc = document.documentElement.scrollWidth;
    const tables = [...document.querySelectorAll("#feed-rules table, #feed-endpoints table, #feed-deliveries table")]
      .map(t => ({ id: t.id || t.caption?.innerText.slice(0, 30), over: t.scrollWidth - t.parentElement.clientWidth }))
      .filter(t => t.over > 1);
    const buttons = [...document.querySelectorAll("#feed button, #feed-list button, #feed-rules button")]
      .filter(b => b.offsetParent).map(b => b.getBoundingClientRect()).filter(r => r.right > innerWidth + 1 || r.left < -1);
    return { doc, tables, buttons: buttons.length };
  });
  check(r.doc <= width, `at ${width} px the page does not scroll sideways (${r.doc} px wide)`);
  check(!r.tables.length, `at ${width} px every feed table fits its box${r.tables.length ? ": " + JSON.stringify(r.tables) : ""}`);
  check(!r.buttons, `at ${width} px every feed button is within the window`);
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run"],
});
const errors = [];
async function open(width, height = 900) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.on("pageerror", e => errors.push(`${e.message}\n${e.stack || ""}`));
  // A Content-Security-Policy violation is an error of the page too.
  page.on("console", m => { if (m.type() === "error" && !/Failed to load resource/.test(m.text())) errors.push(`console: ${m.text()}`); });
  current = page;
  return { context, page };
}

try {
  // ---- the admin signs in with the page's own form --------------------------------------------
  log("admin at 1440 px");
  const { context: ac, page } = await open(1440);
  await page.goto(URL + "/");
  await page.locator("#login #token").fill(ADMIN);
  await page.getByRole("button", { name: "Use token" }).click();
  await until(() => page.locator("#feed-table").isVisible(), "the admin sees the deliveries table");
  check(await page.locator('header nav a[href="#feed"]').innerText() === "Reverse feed", "the navigation links to the Reverse feed");

  // The rule, with its counts by state.
  const rule = page.locator("#feed-rules tbody tr", { hasText: RULE });
  await until(async () => await rule.count() === 1, `the rules table shows the rule ${RULE}`);
  const ruleText = await rule.innerText();
  check(/event/.test(ruleText) && ruleText.includes("web.order") && ruleText.includes("≤ 2"), `the rule says what it fires on: ${JSON.stringify(ruleText.replace(/\s+/g, " "))}`);
  check(ruleText.includes(OK) && ruleText.includes(CLOSED), "the rule names its endpoints");
  check(/enabled/.test(ruleText), "the rule is shown enabled");
  const counts = await rule.evaluate(tr => Object.fromEntries([...tr.querySelectorAll("td.num")].map(td => [td.dataset.label, Number(td.innerText.replace(/\D/g, ""))])));
  check(counts.delivered === 3 && counts.pending === 3 && counts.dead === 0, `the rule's deliveries by state: ${JSON.stringify(counts)}`);
  // Escaped: the description holds markup, shown as text.
  check(await page.locator("#feed-rules b.injected").count() === 0 && ruleText.includes("<b class=\"injected\">"), "the rule's description is shown as text, not markup");
  const off = page.locator("#feed-rules tbody tr", { hasText: "disabled" });
  check(await off.count() >= 1, "a disabled rule is shown disabled");

  // The endpoints, the disabled one with its reason.
  const gone = page.locator(`#feed-endpoints tr[data-endpoint="${GONE}"]`);
  const goneText = (await gone.innerText()).replace(/\s+/g, " ");
  check(/disabled/.test(goneText) && goneText.includes("the target answered 410 Gone"), `the gone endpoint is shown disabled with its reason: ${JSON.stringify(goneText)}`);
  check(await page.locator("#feed-endpoints .warn", { hasText: GONE }).isVisible(), "a warning above the endpoints names the disabled one");
  const okText = await page.locator(`#feed-endpoints tr[data-endpoint="${OK}"]`).innerText();
  check(/enabled/.test(okText) && /webhook/.test(okText) && okText.includes("http://127.0.0.1:"), "the working endpoint: kind, target, enabled");

  // The deliveries and their states; the closed port's are pending with the error.
  let rows = await rowsOf(page);
  check(rows.length === 7, `seven deliveries listed (${rows.length})`);
  check(rows.filter(r => r.Endpoint === OK).every(r => r.State === "delivered"), "those to the receiver are delivered");
  check(rows.filter(r => r.Endpoint === CLOSED).every(r => r.State === "pending" && r["Last error"].length > 3), "those to the closed port are pending, with the last error");
  check(rows.filter(r => r.Endpoint === GONE).length === 1, "the one to the gone endpoint is listed");
  check(rows.every(r => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.test(r.Fired) && Number(r.Attempts) >= 1), "each shows when it fired and its attempts");

  // The filter by state.
  await page.selectOption("#feed-state", "pending");
  await until(async () => { const r = await rowsOf(page); return r.length === 4 && r.every(x => x.State === "pending"); }, "filtered to pending: only the four pending");
  await page.selectOption("#feed-state", "delivered");
  await until(async () => { const r = await rowsOf(page); return r.length === 3 && r.every(x => x.State === "delivered"); }, "filtered to delivered: only the three delivered");
  await page.selectOption("#feed-state", "");
  await until(async () => (await rowsOf(page)).length === 7, "every state again");

  // A delivery's attempts, opened with the keyboard.
  rows = await rowsOf(page);
  const target = rows.find(r => r.Endpoint === OK);
  const idButton = page.locator(`#feed-table tr.delivery[data-id="${target.id}"] button.linkish`);
  await idButton.focus();
  await page.keyboard.press("Enter");
  const detail = page.locator("#feed-attempts");
  await until(() => detail.locator("tr.attempt").count(), "Enter on a delivery opens its attempts");
  check(await idButton.getAttribute("aria-expanded") === "true", "its button says it is expanded");
  const attemptText = (await detail.innerText()).replace(/\s+/g, " ");
  check(/200/.test(attemptText) && /delivered/.test(attemptText) && attemptText.includes("taken by the test receiver") && /\d+(\.\d+)? ?(ms|µs|s)/.test(attemptText),
    `the attempt: time, status 200, latency, outcome, the answer's first bytes: ${JSON.stringify(attemptText.slice(0, 300))}`);
  // The closed port's: an error, no status.
  const pendingId = rows.find(r => r.Endpoint === CLOSED).id;
  await page.locator(`#feed-table tr.delivery[data-id="${pendingId}"] button.linkish`).click();
  await until(async () => (await detail.innerText()).includes(pendingId) && await detail.locator("tr.attempt").count(), "a click opens the pending delivery's attempts instead");
  const pendingText = (await detail.innerText()).replace(/\s+/g, " ");
  check(/retry/.test(pendingText) && /next attempt due/.test(pendingText), `the pending one's attempt failed and is due again: ${JSON.stringify(pendingText.slice(0, 300))}`);
  await shot(page, "admin-1440");
  await shot(page, "admin-1440-feed", { feedOnly: true });
  await axe(page, "admin, 1440 px, attempts open");

  // Replay the delivered one: pending again, then delivered again.
  const replayButton = page.locator(`#feed-table tr.delivery[data-id="${target.id}"] button.replay`);
  check((await replayButton.innerText()).trim().startsWith("Replay") && await replayButton.isVisible() && (await replayButton.getAttribute("type")) === "button", "the admin has a Replay button on each delivery");
  check(await page.getByRole("button", { name: `Replay ${target.id}` }).count() === 1, "its accessible name says which delivery");
  await replayButton.click();
  await until(async () => /Replayed 1 delivery/.test(await page.locator("#feed-status").innerText()), "the replay's result is shown");
  await until(async () => {
    const r = (await rowsOf(page)).find(x => x.id === target.id);
    return r && ["pending", "delivered"].includes(r.State) && Number(r.Attempts) >= 2;
  }, "the replayed delivery is pending or delivered again, with a second attempt", 20000);
  await until(async () => /delivered again/.test(await page.locator("#feed-status").innerText()), "the status says it was delivered again", 20000);
  log(`  status: ${await page.locator("#feed-status").innerText()}`);
  await shot(page, "admin-1440-replayed", { feedOnly: true });

  // What cutting a point would cost, and the attribution chart. The test imported 40 riders'
  // journeys: each orders online (2 EUR), 30 of them then book a repair (1 EUR). Every
  // journey passes the order (removal effect 1), 30 of 40 the booking (0.75); the converting
  // journeys' 110 EUR are shared 1 : 0.75, so 63 and 47 EUR.
  const order = page.locator('#portfolio-rows tr.measured[data-key="web.order"]');
  await until(() => order.count(), "the portfolio lists the online order");
  const cells = (await order.locator("td").allInnerTexts()).map(t => t.replace(/\s+/g, " ").trim());
  check(/improve|eliminate/i.test(cells[1]), `the online order is judged improve or eliminate: ${cells[1]}`);
  check(cells[8] === "40 journeys worth 110 EUR 100 % of conversions (≈ 63 EUR attributed)",
    `beside its verdict, what cutting it would cost: ${JSON.stringify(cells[8])}`);
  const heads = (await page.locator("#portfolio-table thead th").allTextContents()).map(t => t.trim());
  check(heads[8] === "Cutting it would cost", `the column is headed for what it says: ${JSON.stringify(heads)}`);
  const booking = page.locator('#portfolio-rows tr.measured[data-key="workshop.booking"]');
  if (await booking.count()) {
    const b = (await booking.locator("td").allInnerTexts()).map(t => t.replace(/\s+/g, " ").trim());
    const judged = /improve|eliminate/i.test(b[1]);
    check(judged ? b[8].startsWith("30 journeys worth 90 EUR 75 % of conversions") : b[8] === "",
      `the repair booking (${b[1]}): ${JSON.stringify(b[8])}`);
  }
  const chart = page.locator("#attribution svg");
  await until(() => chart.count(), "the attribution chart is drawn");
  const names = await chart.locator("text[text-anchor=end]").evaluateAll(ts => ts.map(t => t.firstChild.textContent));
  check(names.indexOf("Online order") === 0 && names.includes("Repair booking"),
    `the chart lists the points on journeys, the most attributed first: ${JSON.stringify(names)}`);
  const bars = await chart.locator("rect").evaluateAll(rs => rs.map(r => ({ title: r.querySelector("title")?.textContent ?? "", width: Number(r.getAttribute("width")) })));
  const bar = t => bars.find(b => b.title.replace(/\s+/g, " ") === t);
  const orderBar = bar("Online order: attributed through journeys 63 EUR"), bookingBar = bar("Repair booking: attributed through journeys 47 EUR");
  check(orderBar && bookingBar && orderBar.width > bookingBar.width,
    `the attributed bars carry their figures, the larger the longer: ${JSON.stringify(bars.map(b => b.title))}`);
  check(bars.some(b => /^Online order: own net value /.test(b.title)) && bars.some(b => /^Repair booking: own net value /.test(b.title)),
    "each point has its own net value bar beside it");
  await elementShot(page, "#attribution", "admin-1440-attribution");

  // The same page on a phone.
  log("admin at 390 px");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  await fits(page, 390);
  await shot(page, "admin-390");
  await shot(page, "admin-390-feed", { feedOnly: true });
  // The chart keeps a readable width and scrolls inside its box; the page does not.
  const box = await page.locator("#attribution .scroll").evaluate(e => ({ scroll: e.scrollWidth, client: e.clientWidth }));
  check(box.scroll > box.client && box.client <= 390, `on a phone the chart scrolls inside its box: ${JSON.stringify(box)}`);
  await elementShot(page, "#attribution", "admin-390-attribution");
  await axe(page, "admin, 390 px");
  await ac.close();

  // ---- an analyst: sees the feed, has no Replay --------------------------------------------------
  log("analyst at 1440 px");
  const { context: nc, page: analyst } = await open(1440);
  await analyst.goto(`${URL}/#token=${ANALYST}`);
  await until(() => analyst.locator("#feed-table").isVisible(), "the analyst sees the deliveries");
  check(!analyst.url().includes("token"), `the token is taken out of the address bar: ${analyst.url()}`);
  check(await analyst.evaluate(() => localStorage.getItem("touchbase.token") === null && sessionStorage.getItem("touchbase.token") !== null),
    "the token is kept for the tab only (sessionStorage, not localStorage)");
  check(await analyst.locator("#feed-deliveries button.replay").count() === 0 && await analyst.getByRole("button", { name: /replay/i }).count() === 0, "the analyst has no Replay button");
  check(/Replaying a delivery needs the admin role/.test(await analyst.locator("#feed-deliveries").innerText()), "the analyst is told replay needs the admin role");
  await shot(analyst, "analyst-1440-feed", { feedOnly: true });
  await nc.close();

  // ---- a viewer: the feed is not theirs; no Replay -------------------------------------------------
  log("viewer at 1440 and 390 px");
  const { context: vc, page: viewer } = await open(1440);
  await viewer.goto(`${URL}/#token=${VIEWER}`);
  await until(async () => /for analysts, owners, executives and admins/.test(await viewer.locator("#feed-rules").innerText()), "the viewer is told whom the feed is for");
  check(await viewer.getByRole("button", { name: /replay/i }).count() === 0, "the viewer has no Replay button");
  check(!(await viewer.locator("#feed-list").isVisible()), "the viewer sees no deliveries list");
  await until(() => viewer.locator("#portfolio-rows tr.measured").count(), "the viewer's dashboard is drawn");
  await shot(viewer, "viewer-1440-feed", { feedOnly: true });
  await axe(viewer, "viewer, 1440 px");
  await viewer.setViewportSize({ width: 390, height: 844 });
  await viewer.waitForTimeout(300);
  await fits(viewer, 390);
  await shot(viewer, "viewer-390");
  await vc.close();

  // ---- an empty feed, then a failing one (the API's answers replaced in the browser) -------------
  log("an empty feed, a failing feed");
  const { context: ec, page: empty } = await open(1440);
  const answer = (path, body, status = 200) => empty.route(u => u.pathname === path,
    route => route.fulfill({ status, contentType: "application/json", body: JSON.stringify(body) }));
  await answer("/api/rules", []);
  await answer("/api/endpoints", []);
  await answer("/api/deliveries", []);
  await empty.goto(`${URL}/#token=${ADMIN}`);
  await until(async () => (await empty.locator("#feed-rules").innerText()).includes("touchbase rule add --file RULES.yaml"), "with no rules, the page says how to add one");
  check((await empty.locator("#feed-endpoints").innerText()).includes("touchbase endpoint add"), "with no endpoints, the page says how to declare one");
  await until(async () => /No deliveries yet/.test(await empty.locator("#feed-deliveries").innerText()), "with no deliveries, the page says so");
  await shot(empty, "empty-1440-feed", { feedOnly: true });
  await empty.unroute(u => u.pathname === "/api/rules");
  await answer("/api/rules", { title: "Internal Server Error", status: 500, detail: "the store <is> down" }, 500);
  await empty.getByRole("button", { name: "Refresh" }).click();
  await until(async () => (await empty.locator("#feed-rules .error").innerText()) === "the store <is> down", "a failing API call shows its problem's detail, escaped, where the section would be");
  await empty.unroute(u => u.pathname === "/api/rules");
  await answer("/api/rules", []);
  await empty.getByRole("button", { name: "Try the reverse feed again" }).click();
  await until(async () => (await empty.locator("#feed-rules").innerText()).includes("No rules yet"), "after a failure, the section can be asked again");
  await ec.close();

  check(!errors.length, `no script error in the page${errors.length ? ":\n" + errors.join("\n") : ""}`);
  log(`dashboard: ${checks} checks passed`);
  await browser.close();
} catch (e) {
  console.error(`FAILED: ${e.stack || e}`);
  if (errors.length) console.error(`errors in the page:\n${errors.join("\n")}`);
  try {
    await current?.screenshot({ path: path.join(SHOTS[0], "failure.png"), fullPage: true });
    for (const dir of SHOTS.slice(1)) fs.copyFileSync(path.join(SHOTS[0], "failure.png"), path.join(dir, "failure.png"));
    console.error(`the page as it was: ${path.join(SHOTS[0], "failure.png")}`);
    console.error(`the Reverse feed's HTML:\n${(await current?.evaluate(() => ["feed-rules", "feed-endpoints", "feed-list"].map(id => document.getElementById(id)?.outerHTML).join("\n")))?.slice(0, 3000)}`);
  } catch { /* the page is gone */ }
  await browser.close().catch(() => {});
  process.exit(1);
}

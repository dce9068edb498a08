// Drives the system's Chromium (headless) against a node's dashboard:
//   node dashboard.mjs <url> <screenshot.png>
// Prints "ready" once the page shows its Supernet, then waits for a task to appear as
// proving (the caller submits it after "ready"), prints "proving", and waits for it to
// become done (the caller lets its prover finish after "proving"). Fails on any console
// error or page error, or if the task does not finish in time. Prints "ok" at the end.
import { chromium } from "playwright-core";

const [url, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
  page.on("pageerror", (e) => problems.push("page: " + e.message));
  await page.goto(url);
  await page.waitForSelector("section.supernet", { timeout: 20000 });
  console.log("ready");
  await page.waitForSelector(".pill.proving", { timeout: 30000 });
  console.log("proving");
  await page.waitForSelector(".pill.done", { timeout: 60000 });
  // The finished task's jobs show in the charts: a price line and a proving-latency line.
  await page.waitForFunction(() => document.querySelectorAll("svg path").length >= 2, null, { timeout: 10000 });
  const finished = await page.$$eval("td", (cells) => cells.some((td) => td.textContent === "2/2"));
  if (!finished) {
    problems.push("the finished task's progress is missing: " + (await page.textContent("main")).slice(0, 400));
  }
  if (shot) await page.screenshot({ path: shot, fullPage: true });
} catch (e) {
  problems.push("driver: " + e.message);
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log("ok");

/*
 * page.cjs: drives mxd's page in a real, headless Chromium (Debian's
 * /usr/bin/chromium through playwright-core) for t_web.py.
 *
 * In: MXD_URL (the page, http://127.0.0.1:PORT/), SHOT_DIR (where the
 * screenshots go), CHROMIUM (the browser; default /usr/bin/chromium).
 * It talks to t_web.py over stdio, one line each way: it prints
 * "SEND <what>" when it wants the test to send mail over SMTP and reads a
 * line back ("SENT <queue ID>") before it goes on.  Every check prints
 * "CHECK {ok, name, detail}" (JSON); "DONE" ends the run.  A step that
 * waits waits for a condition in the page, bounded by STEP_MS.
 */
"use strict";

const { chromium } = require("playwright-core");
const fs = require("fs");
const path = require("path");
const readline = require("readline");

const STEP_MS = 20000;
const url = process.env.MXD_URL;
const shots = process.env.SHOT_DIR;
const rl = readline.createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();

/* Print one check's outcome for the TAP side, as JSON on one line. */
function check(ok, name, detail) {
	console.log(`CHECK ${JSON.stringify({ ok: !!ok, name, detail })}`);
}

/* Ask the test to send a message; resolve to its queue ID. */
async function send(what) {
	console.log(`SEND ${what}`);
	const { value, done } = await lines.next();
	if (done || !value.startsWith("SENT "))
		throw new Error(`no SENT for ${what}: ${value}`);
	return value.slice(5).trim();
}

/* Save a screenshot of the page. */
async function shot(page, name) {
	await page.screenshot({ path: path.join(shots, `${name}.png`),
	    fullPage: true });
}

/* The steps, in order: each depends on the one before. */
async function steps(page) {
	let navigations = 0;
	page.on("framenavigated", (f) => {
		if (f === page.mainFrame())
			navigations++;
	});
	await page.goto(url);
	await page.waitForFunction(() =>
	    document.querySelector("#summary").textContent !== "",
	    null, { timeout: STEP_MS });
	check(await page.isVisible("#empty"), "empty list says so");
	await page.waitForSelector("#live.on", { timeout: STEP_MS });
	check(true, "event stream connected");
	await shot(page, "01-empty");
	const loads = navigations;

	const qid = await send("html");
	await page.waitForSelector(`tr.message[data-id="${qid}"]`,
	    { timeout: STEP_MS });
	check(navigations === loads, "new message listed without a reload",
	    { navigations, loads });
	const rowText = await page.textContent(`tr[data-id="${qid}"]`);
	check(rowText.includes("Page test \u00e9t\u00e9"), "row shows the decoded subject",
	    rowText);
	check(rowText.includes("sender@client.example"), "row shows the sender",
	    rowText);
	const att = await page.textContent(`tr[data-id="${qid}"] td.c-att`);
	check(att === "1", "row shows the attachment mark", att);
	check(await page.getAttribute(`tr[data-id="${qid}"]`, "class") ===
	    "message unread", "row is unread");
	await shot(page, "02-listed");

	await page.fill("#search", "subject:nomatch-xyz");
	await page.press("#search", "Enter");
	await page.waitForSelector(`tr[data-id="${qid}"]`,
	    { state: "detached", timeout: STEP_MS });
	await page.fill("#search", "from:sender@client.example");
	await page.press("#search", "Enter");
	await page.waitForSelector(`tr[data-id="${qid}"]`, { timeout: STEP_MS });
	check(true, "search hides and finds the message");
	await page.fill("#search", "");
	await page.press("#search", "Enter");
	await page.waitForFunction(() => !document.querySelector("#summary")
	    .textContent.includes("match"), null, { timeout: STEP_MS });

	await page.click(`tr[data-id="${qid}"]`);
	await page.waitForSelector("#message-pane:not([hidden])",
	    { timeout: STEP_MS });
	check((await page.textContent("#m-subject")) === "Page test \u00e9t\u00e9",
	    "message view shows the subject");
	const sandbox = await page.getAttribute("#m-html", "sandbox");
	check(sandbox === "", "HTML body is in a sandboxed iframe", sandbox);
	const frame = await (await page.$("#m-html")).contentFrame();
	await frame.waitForSelector("#marker", { timeout: STEP_MS });
	check((await frame.textContent("#marker")) === "script did not run",
	    "HTML rendered, its script did not run",
	    await frame.textContent("#marker"));
	check(await frame.isVisible("b.hello"), "HTML markup is rendered");
	const title = await page.title();
	check(title === "mxd", "page title untouched by the message", title);
	await shot(page, "03-message");

	const [download] = await Promise.all([
		page.waitForEvent("download", { timeout: STEP_MS }),
		page.click("#m-attachments a"),
	]);
	const file = path.join(shots, "download.bin");
	await download.saveAs(file);
	console.log(`DOWNLOADED ${download.suggestedFilename()} ${file}`);

	await page.click('.tabs button[data-tab="raw"]');
	await page.waitForFunction(() =>
	    document.querySelector("#tab-raw").textContent.includes("Subject:"),
	    null, { timeout: STEP_MS });
	check(true, "raw source shown");
	await page.click('.tabs button[data-tab="headers"]');
	await page.waitForSelector("#tab-headers th", { timeout: STEP_MS });
	check(true, "headers shown");

	await page.click("#back");
	/*
	 * The list drawn before the message was opened is still in the
	 * page until the reload after #back replaces it: wait for the row
	 * to be drawn read, bounded, instead of reading the old one.
	 */
	let read = true;
	await page.waitForSelector(`tr[data-id="${qid}"]:not(.unread)`,
	    { timeout: STEP_MS }).catch(() => { read = false; });
	check(read && await page.getAttribute(`tr[data-id="${qid}"]`,
	    "class") === "message", "opened message is read in the list",
	    await page.getAttribute(`tr[data-id="${qid}"]`, "class"));

	await page.click(`tr[data-id="${qid}"]`);
	await page.waitForSelector("#message-pane:not([hidden])",
	    { timeout: STEP_MS });
	await page.click("#delete");
	await page.waitForSelector(`tr[data-id="${qid}"]`,
	    { state: "detached", timeout: STEP_MS });
	check(true, "deleted message left the list");
	console.log(`DELETED ${qid}`);
	await shot(page, "04-deleted");

	const other = await send("plain");
	await page.waitForSelector(`tr[data-id="${other}"]`,
	    { timeout: STEP_MS });
	page.once("dialog", (d) => d.accept());
	await page.click("#delete-all");
	await page.waitForSelector("#empty:not([hidden])", { timeout: STEP_MS });
	check(true, "delete all empties the list");
	console.log(`DELETED ${other}`);
}

/* Launch the browser, run the steps, always close it. */
async function main() {
	fs.mkdirSync(shots, { recursive: true });
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
		args: ["--no-sandbox", "--disable-gpu"],
	});
	const errors = [];
	try {
		const ctx = await browser.newContext({ acceptDownloads: true });
		const page = await ctx.newPage();
		page.on("pageerror", (e) => errors.push(String(e)));
		await steps(page);
	} catch (e) {
		check(false, "page steps", String(e.stack || e));
	} finally {
		await browser.close();
	}
	check(errors.length === 0, "no script errors in the page", errors);
	console.log("DONE");
	rl.close();
}

main();

/*
 * clients.cjs: test code written for Mailpit and for MailHog, run
 * unchanged against mxd: the npm client libraries people use (mailpit-api
 * and mailhog, pinned in package.json), pointed at mxd's HTTP port; only
 * the host and port differ from what such code has.  For t_npm_clients.py.
 *
 * In: MXD_URL (http://127.0.0.1:PORT), SUITE ("mailpit" or "mailhog"), and
 * on stdin the messages t_npm_clients.py sent: one JSON line {name: ID}
 * before the checks start.  The suite prints "SEND <name>" when it needs
 * one more message sent while it waits, and reads "SENT <ID>".  Out: one
 * "CHECK {ok, name, detail}" line per check, then "DONE".
 */
"use strict";

const crypto = require("crypto");
const readline = require("readline");

const url = new URL(process.env.MXD_URL);
const rl = readline.createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();

/* Print one check's outcome as JSON on one line. */
function check(ok, name, detail) {
	console.log(`CHECK ${JSON.stringify({ ok: !!ok, name, detail })}`);
}

/* The next line from the test. */
async function readLine() {
	const { value, done } = await lines.next();
	if (done)
		throw new Error("stdin closed");
	return value;
}

/* Run one check: fn returns [ok, detail] or throws. */
async function step(name, fn) {
	try {
		const [ok, detail] = await fn();
		check(ok, name, ok ? undefined : detail);
	} catch (e) {
		check(false, name, String(e.stack || e));
	}
}

/* The expected attachment bytes (t_npm_clients.py makes the same). */
function invoiceBytes() {
	const b = Buffer.alloc(4096);
	for (let i = 0; i < b.length; i++)
		b[i] = (i * 7 + 3) & 0xff;
	return b;
}

/* Test code written for Mailpit, through the mailpit-api client. */
async function mailpit(ids) {
	const { MailpitClient } = require("mailpit-api");
	const mp = new MailpitClient(url.origin);
	let invoice;

	await step("listMessages: three, newest first", async () => {
		const r = await mp.listMessages();
		return [r.total === 3 && r.messages_count === 3 &&
		    r.messages.length === 3 && r.messages[0].ID === ids.reset &&
		    r.messages[2].ID === ids.welcome &&
		    typeof r.messages[0].Size === "number" &&
		    r.messages[0].From.Address === "app@shop.example", r];
	});
	await step("listMessages(start, limit) pages", async () => {
		const r = await mp.listMessages(1, 1);
		return [r.messages.length === 1 && r.messages[0].ID ===
		    ids.invoice && r.start === 1 && r.total === 3, r];
	});
	await step("searchMessages to:", async () => {
		const r = await mp.searchMessages({ query: "to:alice@example.test" });
		return [r.messages_count === 2, r];
	});
	await step("searchMessages subject phrase", async () => {
		const r = await mp.searchMessages({ query: 'subject:"Welcome Alice"' });
		return [r.messages_count === 1 && r.messages[0].ID === ids.welcome, r];
	});
	await step("searchMessages has:attachment", async () => {
		const r = await mp.searchMessages({ query: "has:attachment" });
		return [r.messages_count === 1 && r.messages[0].ID === ids.invoice &&
		    r.messages[0].Attachments === 1, r];
	});
	await step("searchMessages free text and negation", async () => {
		const a = await mp.searchMessages({ query: "123456" });
		const b = await mp.searchMessages({ query: "alice -welcome" });
		return [a.messages_count === 1 && a.messages[0].ID === ids.welcome &&
		    b.messages_count === 1 && b.messages[0].ID === ids.reset,
		    [a, b]];
	});
	await step("getMessageSummary marks read, has Text", async () => {
		const before = await mp.searchMessages({ query: "is:unread" });
		const m = await mp.getMessageSummary(ids.welcome);
		const after = await mp.searchMessages({ query: "is:unread" });
		return [before.messages_count === 3 && m.Text.includes("123456") &&
		    m.Subject === "Welcome Alice" && after.messages_count === 2,
		    [before.messages_count, m, after.messages_count]];
	});
	await step("getMessageSummary() is the latest", async () => {
		const m = await mp.getMessageSummary();
		return [m.ID === ids.reset && m.HTML.includes(
		    "https://shop.example/reset?t=abc"), m];
	});
	await step("decoded subject, Cc, attachment checksum", async () => {
		invoice = await mp.getMessageSummary(ids.invoice);
		const a = invoice.Attachments[0];
		const sha = crypto.createHash("sha256").update(invoiceBytes())
		    .digest("hex");
		return [invoice.Subject === "Invoice \u00e9t\u00e9" &&
		    invoice.Cc[0].Address === "carol@example.test" &&
		    a.FileName === "invoice.pdf" &&
		    a.ContentType === "application/pdf" && a.Size === 4096 &&
		    a.Checksums.SHA256 === sha, invoice];
	});
	await step("getMessageAttachment bytes", async () => {
		const blob = await mp.getMessageAttachment(ids.invoice,
		    invoice.Attachments[0].PartID);
		const got = Buffer.from(await blob.arrayBuffer());
		return [got.equals(invoiceBytes()), got.length];
	});
	await step("getMessageHeaders", async () => {
		const h = await mp.getMessageHeaders(ids.invoice);
		return [Array.isArray(h.Subject) && Array.isArray(h["Content-Type"]) &&
		    h.Cc[0].includes("carol@example.test"), h];
	});
	await step("getMessageSource", async () => {
		const raw = await mp.getMessageSource(ids.welcome);
		return [raw.includes("Subject: Welcome Alice") &&
		    raw.includes("123456"), raw.slice(0, 400)];
	});
	await step("renderMessageHTML and renderMessageText", async () => {
		const html = await mp.renderMessageHTML(ids.reset);
		const text = await mp.renderMessageText(ids.welcome);
		return [html.includes("https://shop.example/reset?t=abc") &&
		    text.includes("123456"), [html, text]];
	});
	await step("getInfo", async () => {
		const i = await mp.getInfo();
		return [i.Messages === 3 && typeof i.Version === "string", i];
	});
	await step("setReadStatus all, by IDs, by search", async () => {
		await mp.setReadStatus({ Read: false });
		const a = await mp.searchMessages({ query: "is:unread" });
		await mp.setReadStatus({ IDs: [ids.welcome], Read: true });
		const b = await mp.searchMessages({ query: "is:unread" });
		await mp.setReadStatus({ Search: "to:alice@example.test",
		    Read: true });
		const c = await mp.searchMessages({ query: "is:unread" });
		await mp.setReadStatus({ Read: true });
		const d = await mp.searchMessages({ query: "is:unread" });
		const counts = [a, b, c, d].map((r) => r.messages_count);
		return [counts.join() === "3,2,1,0" &&
		    c.messages[0].ID === ids.invoice, counts];
	});
	await step("waitForMessage sees a message sent while it waits",
	    async () => {
		const waiting = mp.waitForMessage({ query: "subject:Late" },
		    { timeout: 60000, interval: 200 });
		console.log("SEND late");
		const line = await readLine();
		const m = await waiting;
		return [m.Subject === "Late" && line === `SENT ${m.ID}`,
		    [line, m.ID]];
	});
	await step("deleteMessagesBySearch", async () => {
		await mp.deleteMessagesBySearch({ query: "to:bob@example.test" });
		const r = await mp.listMessages();
		return [r.total === 3 && !r.messages.some((m) =>
		    m.ID === ids.invoice), r.total];
	});
	await step("deleteMessages by ID", async () => {
		await mp.deleteMessages({ IDs: [ids.welcome] });
		const r = await mp.listMessages();
		return [r.total === 2, r.total];
	});
	await step("getMessageSummary of a deleted ID is an error", async () => {
		try {
			await mp.getMessageSummary(ids.welcome);
		} catch (e) {
			return [String(e).includes("404"), String(e)];
		}
		return [false, "no error"];
	});
	await step("deleteMessages() deletes all", async () => {
		await mp.deleteMessages();
		const r = await mp.listMessages();
		return [r.total === 0 && r.messages.length === 0, r];
	});
	await step("getChaosTriggers: Mailpit's defaults", async () => {
		const t = await mp.getChaosTriggers();
		return [t.Sender.ErrorCode === 451 && t.Sender.Probability === 0 &&
		    t.Recipient.ErrorCode === 451 &&
		    t.Authentication.ErrorCode === 535, t];
	});
	await step("setChaosTriggers sets one and resets the others",
	    async () => {
		const a = await mp.setChaosTriggers({ Recipient:
		    { ErrorCode: 550, Probability: 100 } });
		const b = await mp.getChaosTriggers();
		const c = await mp.setChaosTriggers();
		return [JSON.stringify(a) === JSON.stringify(b) &&
		    b.Recipient.ErrorCode === 550 &&
		    b.Recipient.Probability === 100 &&
		    b.Sender.Probability === 0 &&
		    c.Recipient.Probability === 0, [a, b, c]];
	});
}

/* Test code written for MailHog, through the mailhog client. */
async function mailhog(ids) {
	const mh = require("mailhog")({ host: url.hostname,
	    port: Number(url.port) });

	await step("messages: three, newest first", async () => {
		const r = await mh.messages();
		return [r.total === 3 && r.count === 3 &&
		    r.items[0].ID === ids.reset && r.items[2].ID === ids.welcome,
		    r];
	});
	await step("messages(start, limit)", async () => {
		const r = await mh.messages(1, 1);
		return [r.count === 1 && r.items[0].ID === ids.invoice &&
		    r.total === 3, r];
	});
	await step("search kind to", async () => {
		const r = await mh.search("alice@example.test", "to");
		return [r.total === 2, r.total];
	});
	await step("latestTo: decoded subject, Cc, attachment", async () => {
		const m = await mh.latestTo("bob@example.test");
		const a = m.attachments && m.attachments[0];
		return [m.subject === "Invoice \u00e9t\u00e9" &&
		    m.cc.includes("carol@example.test") && a &&
		    a.name === "invoice.pdf" && Buffer.from(a.Body.replace(
		    /\s+/g, ""), "base64").equals(invoiceBytes()),
		    { subject: m.subject, cc: m.cc, a: a && a.name }];
	});
	await step("latestFrom and its text", async () => {
		const m = await mh.latestFrom("app@shop.example");
		return [m.ID === ids.reset && m.html.includes(
		    "https://shop.example/reset?t=abc"), m.ID];
	});
	await step("latestContaining and the envelope", async () => {
		const m = await mh.latestContaining("123456");
		return [m.ID === ids.welcome && m.text.includes("123456") &&
		    m.Raw.From === "app@shop.example" &&
		    m.Raw.To[0] === "alice@example.test" &&
		    m.Raw.Helo === "client.example" &&
		    m.To[0].Mailbox === "alice" && m.To[0].Domain ===
		    "example.test", m.Raw];
	});
	await step("deleteMessage", async () => {
		const res = await mh.deleteMessage(ids.welcome);
		const r = await mh.messages();
		return [res.statusCode === 200 && r.total === 2,
		    [res.statusCode, r.total]];
	});
	await step("deleteAll", async () => {
		const res = await mh.deleteAll();
		const r = await mh.messages();
		return [res.statusCode === 200 && r.total === 0,
		    [res.statusCode, r.total]];
	});
}

/* Read the IDs, run the suite, say DONE. */
async function main() {
	const ids = JSON.parse(await readLine());
	if (process.env.SUITE === "mailhog")
		await mailhog(ids);
	else
		await mailpit(ids);
	console.log("DONE");
	rl.close();
}

main().catch((e) => {
	check(false, "suite", String(e.stack || e));
	console.log("DONE");
	process.exit(0);
});

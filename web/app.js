/*
 * app.js: the behaviour of mxd's page.  In: the Mailpit-shaped API under
 * /api/v1 (messages, search, message, headers, raw, part, PUT and DELETE
 * on messages) and the HTML view /view/{ID}.html; live updates from the
 * Server-Sent Events stream /api/v1/events, with a slow poll while that
 * stream is down.  Out: the DOM of index.html.  Message data is only ever
 * put into the page as text (textContent), never as markup: the one place
 * a message's own HTML is shown is a sandboxed iframe whose response
 * carries a Content-Security-Policy from the server.
 */
"use strict";

const PAGE_SIZE = 50;
const POLL_MS = 3000;		/* only while the event stream is down */
const state = { start: 0, query: "", total: 0, current: null,
	reloadTimer: null, pollTimer: null, newest: null };

const $ = (sel) => document.querySelector(sel);

/* Call the API; resolve to parsed JSON, text, or null; reject with a reason. */
async function api(method, path, body) {
	const opts = { method, headers: {} };
	if (body !== undefined) {
		opts.body = JSON.stringify(body);
		opts.headers["Content-Type"] = "application/json";
	}
	const res = await fetch(path, opts);
	const text = await res.text();
	if (!res.ok) {
		let reason = text;
		try { reason = JSON.parse(text).Error || text; } catch (e) { }
		throw new Error(`${method} ${path}: ${res.status} ${reason}`);
	}
	const type = res.headers.get("Content-Type") || "";
	return type.includes("json") && text ? JSON.parse(text) : text;
}

/* Show an error for a few seconds. */
function showError(err) {
	const p = $("#error");
	p.textContent = String(err.message || err);
	p.hidden = false;
	setTimeout(() => { p.hidden = true; }, 6000);
}

/* "Name <address>" or the address alone, for one Address object. */
function addr(a) {
	if (!a || !a.Address)
		return "";
	return a.Name ? `${a.Name} <${a.Address}>` : a.Address;
}

/* A list of Address objects as one line. */
function addrs(list) {
	return (list || []).map(addr).join(", ");
}

/* Octets as B, kB or MB (powers of 1024, one decimal). */
function size(n) {
	if (n < 1024)
		return `${n} B`;
	if (n < 1048576)
		return `${(n / 1024).toFixed(1)} kB`;
	return `${(n / 1048576).toFixed(1)} MB`;
}

/* "1 message", "2 messages". */
function plural(n, word) {
	return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/* A table cell with text and a class. */
function cell(cls, text, title) {
	const td = document.createElement("td");
	td.className = cls;
	td.textContent = text;
	td.title = title === undefined ? text : title;
	return td;
}

/* One row of the list for a MessageSummary. */
function row(m) {
	const tr = document.createElement("tr");
	tr.className = "message" + (m.Read ? "" : " unread");
	tr.dataset.id = m.ID;
	const when = new Date(m.Created);
	tr.append(cell("c-time", when.toLocaleString()),
	    cell("c-from", addr(m.From)),
	    cell("c-to", addrs((m.To || []).concat(m.Cc || []))),
	    cell("c-subject", m.Subject || "(no subject)"),
	    cell("c-size", size(m.Size), `${m.Size} octets`),
	    cell("c-att", m.Attachments ? String(m.Attachments) : "",
		m.Attachments ? `${m.Attachments} attachment(s)` : ""));
	tr.addEventListener("click", () => { location.hash = `#/m/${m.ID}`; });
	return tr;
}

/* Fetch the current page of the list (or of the search) and draw it. */
async function loadList() {
	const q = `start=${state.start}&limit=${PAGE_SIZE}`;
	const path = state.query ?
	    `/api/v1/search?query=${encodeURIComponent(state.query)}&${q}` :
	    `/api/v1/messages?${q}`;
	const r = await api("GET", path);
	const tbody = $("#messages tbody");
	tbody.replaceChildren(...r.messages.map(row));
	state.total = r.messages_count;
	state.newest = r.messages.length ? r.messages[0].ID : null;
	$("#empty").hidden = r.messages.length > 0 || state.query !== "";
	$("#summary").textContent = state.query ?
	    `${r.messages_count} of ${plural(r.total, "message")} match` :
	    `${plural(r.total, "message")}, ${r.unread} unread`;
	const last = Math.min(state.start + r.messages.length, state.total);
	$("#page").textContent = r.messages.length ?
	    `${state.start + 1}\u2013${last} of ${state.total}` : "";
	$("#prev").disabled = state.start === 0;
	$("#next").disabled = last >= state.total;
}

/* Reload the list soon, once for a burst of events. */
function scheduleReload() {
	if (state.reloadTimer)
		return;
	state.reloadTimer = setTimeout(() => {
		state.reloadTimer = null;
		loadList().catch(showError);
	}, 100);
}

/* Select one of the message's tabs and fetch its content if needed. */
async function showTab(name) {
	for (const b of document.querySelectorAll(".tabs button"))
		b.setAttribute("aria-selected", b.dataset.tab === name);
	for (const t of ["html", "text", "headers", "raw"])
		$(`#tab-${t}`).hidden = t !== name;
	const m = state.current;
	if (name === "headers" && !$("#tab-headers tbody").childElementCount) {
		const h = await api("GET", `/api/v1/message/${m.ID}/headers`);
		const rows = [];
		for (const [k, vals] of Object.entries(h))
			for (const v of vals) {
				const tr = document.createElement("tr");
				const th = document.createElement("th");
				th.textContent = k;
				const td = document.createElement("td");
				td.textContent = v;
				tr.append(th, td);
				rows.push(tr);
			}
		$("#tab-headers tbody").replaceChildren(...rows);
	}
	if (name === "raw" && !$("#tab-raw").textContent)
		$("#tab-raw").textContent =
		    await api("GET", `/api/v1/message/${m.ID}/raw`);
}

/* A term and its description in the message's meta list. */
function meta(dl, term, text) {
	if (!text)
		return;
	const dt = document.createElement("dt");
	dt.textContent = term;
	const dd = document.createElement("dd");
	dd.textContent = text;
	dl.append(dt, dd);
}

/* Fetch one message (which marks it read) and show it. */
async function openMessage(id) {
	const m = await api("GET", `/api/v1/message/${encodeURIComponent(id)}`);
	state.current = m;
	$("#list-pane").hidden = true;
	$("#message-pane").hidden = false;
	$("#m-subject").textContent = m.Subject || "(no subject)";
	const dl = $("#m-meta");
	dl.replaceChildren();
	meta(dl, "From", addr(m.From));
	meta(dl, "To", addrs(m.To));
	meta(dl, "Cc", addrs(m.Cc));
	meta(dl, "Bcc", addrs(m.Bcc));
	meta(dl, "Date", new Date(m.Date).toLocaleString());
	meta(dl, "Message-ID", m.MessageID);
	meta(dl, "Size", `${size(m.Size)} (${m.Size} octets)`);
	meta(dl, "Queue ID", m.ID);
	const parts = (m.Attachments || []).concat(m.Inline || []);
	$("#m-attachments").replaceChildren(...parts.map((p) => {
		const li = document.createElement("li");
		const a = document.createElement("a");
		a.href = `/api/v1/message/${m.ID}/part/${p.PartID}`;
		a.download = p.FileName || `part-${p.PartID}`;
		a.textContent = p.FileName || `part ${p.PartID}`;
		li.append(a, ` ${p.ContentType}, ${size(p.Size)}`);
		return li;
	}));
	$("#tab-text").textContent = m.Text;
	$("#tab-raw").textContent = "";
	$("#tab-headers tbody").replaceChildren();
	const hasHTML = m.HTML !== "";
	$("#m-html").hidden = !hasHTML;
	$("#m-nohtml").hidden = hasHTML;
	$("#m-html").src = hasHTML ? `/view/${m.ID}.html` : "about:blank";
	await showTab(hasHTML ? "html" : "text");
}

/* Follow the address bar: #/m/ID shows a message, anything else the list. */
async function route() {
	const m = location.hash.match(/^#\/m\/([^/]+)$/);
	if (m)
		return openMessage(decodeURIComponent(m[1]));
	state.current = null;
	$("#message-pane").hidden = true;
	$("#list-pane").hidden = false;
	$("#m-html").src = "about:blank";
	return loadList();
}

/* Listen to the event stream; poll slowly while it is down. */
function live() {
	if (!window.EventSource)
		return poll();
	const es = new EventSource("/api/v1/events");
	es.onopen = () => {
		$("#live").className = "live on";
		clearInterval(state.pollTimer);
		state.pollTimer = null;
		scheduleReload();
	};
	es.onmessage = () => { if (!state.current) scheduleReload(); };
	for (const kind of ["new", "delete"])
		es.addEventListener(kind, () => {
			if (!state.current)
				scheduleReload();
		});
	es.onerror = () => {
		$("#live").className = "live off";
		poll();
	};
}

/* The fallback: look for a change of the newest message every few seconds. */
function poll() {
	if (state.pollTimer)
		return;
	state.pollTimer = setInterval(async () => {
		if (state.current)
			return;
		try {
			const r = await api("GET", "/api/v1/messages?limit=1");
			const newest = r.messages.length ? r.messages[0].ID : null;
			if (newest !== state.newest || r.total !== state.total)
				scheduleReload();
		} catch (e) { }
	}, POLL_MS);
}

/* Wire the buttons, the search box and the tabs. */
function wire() {
	const act = (fn) => () => fn().catch(showError);
	$("#search-form").addEventListener("submit", (ev) => {
		ev.preventDefault();
		state.query = $("#search").value.trim();
		state.start = 0;
		if (location.hash && location.hash !== "#/")
			location.hash = "#/";
		else
			loadList().catch(showError);
	});
	$("#prev").addEventListener("click", act(async () => {
		state.start = Math.max(0, state.start - PAGE_SIZE);
		await loadList();
	}));
	$("#next").addEventListener("click", act(async () => {
		state.start += PAGE_SIZE;
		await loadList();
	}));
	$("#back").addEventListener("click", () => { location.hash = "#/"; });
	$("#delete").addEventListener("click", act(async () => {
		await api("DELETE", "/api/v1/messages",
		    { IDs: [state.current.ID] });
		location.hash = "#/";
	}));
	$("#mark-unread").addEventListener("click", act(async () => {
		await api("PUT", "/api/v1/messages",
		    { IDs: [state.current.ID], Read: false });
		location.hash = "#/";
	}));
	$("#mark-all-read").addEventListener("click", act(async () => {
		await api("PUT", "/api/v1/messages", { Read: true });
		await loadList();
	}));
	$("#delete-all").addEventListener("click", act(async () => {
		if (!confirm("Delete every message?"))
			return;
		await api("DELETE", "/api/v1/messages");
		state.start = 0;
		await loadList();
	}));
	for (const b of document.querySelectorAll(".tabs button"))
		b.addEventListener("click", act(() => showTab(b.dataset.tab)));
	window.addEventListener("hashchange", act(route));
}

wire();
route().catch(showError);
live();

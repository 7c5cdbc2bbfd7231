"""The web page `shoal serve` answers at `/`: one self-contained HTML file (no CDN, no fonts,
no network but the server's own API), for people: sign in with a token, pick a dataset,
search it, ask it (the answer streams in, its sources clickable), read its version log and
the diff of two versions, and search an old version. In a dataset of images or audio, hits
and sources show their image (the ``thumbnail`` column ingest stores, else the first image
column) and play their clip of the recording, labelled with its time in it (`start`-`end`),
fetched as blobs from ``/v1/datasets/{name}/rows/{id}/{column}`` with the page's token.

Every value from the server is put into the page as text (`textContent`), never as HTML;
query terms are highlighted by splitting the text, not by building markup from it.
"""

from __future__ import annotations

__all__ = ["PAGE"]

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shoal</title>
<link rel="icon" href="data:,">
<style>
  :root { font-family: system-ui, sans-serif; color: #1d232b; background: #f7f8fa; }
  body { margin: 0; }
  header { background: #18324a; color: #fff; padding: .6rem 1rem; display: flex;
           flex-wrap: wrap; gap: .6rem; align-items: center; }
  header h1 { font-size: 1.1rem; margin: 0 1rem 0 0; }
  main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
  section { background: #fff; border: 1px solid #d8dde3; border-radius: 6px;
            padding: .8rem 1rem; margin-bottom: 1rem; }
  h2 { font-size: 1rem; margin: 0 0 .6rem; }
  form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; }
  label { display: flex; flex-direction: column; font-size: .8rem; gap: .2rem; }
  input, select, textarea, button { font: inherit; padding: .35rem .5rem; border-radius: 4px;
            border: 1px solid #9aa5b1; }
  input[type=search], textarea { min-width: min(24rem, 80vw); }
  button { background: #1f5f8b; color: #fff; border-color: #1f5f8b; cursor: pointer; }
  button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible,
  a:focus-visible { outline: 3px solid #f0a202; outline-offset: 1px; }
  ol.hits { padding-left: 1.4rem; }
  ol.hits li { margin-bottom: .7rem; }
  .meta, .score { color: #5a6572; font-size: .8rem; }
  mark { background: #ffe58a; }
  .source { border-left: 3px solid #d8dde3; padding-left: .6rem; margin: .4rem 0; }
  .source.chosen { border-color: #f0a202; background: #fff8e1; }
  .error { color: #a4161a; white-space: pre-wrap; }
  table { border-collapse: collapse; width: 100%; font-size: .9rem; }
  th, td { text-align: left; padding: .25rem .4rem; border-bottom: 1px solid #e4e7eb; }
  #answer { white-space: pre-wrap; }
  img.thumb { display: block; max-width: 12rem; max-height: 8rem; margin: .3rem 0;
              border: 1px solid #d8dde3; border-radius: 4px; }
  audio { display: block; margin: .3rem 0; max-width: 100%; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<header>
  <h1>Shoal</h1>
  <form id="login" aria-label="Sign in">
    <label>Token <input id="token" type="password" autocomplete="off" placeholder="shoal_..."></label>
    <button type="submit">Sign in</button>
  </form>
  <label>Dataset <select id="dataset" aria-label="Dataset"></select></label>
  <span id="who" class="meta"></span>
</header>
<main>
  <p id="status" class="error" role="alert"></p>
  <section aria-labelledby="search-title">
    <h2 id="search-title">Search</h2>
    <form id="search">
      <label>Query <input id="query" type="search" required></label>
      <label>Mode <select id="mode"><option>hybrid</option><option>vector</option>
        <option>keyword</option></select></label>
      <label>k <input id="k" type="number" min="1" max="100" value="5" size="3"></label>
      <label>Version <select id="ref"><option value="">latest</option></select></label>
      <label>Filter (JSON) <textarea id="where" rows="1" placeholder='{"topic": "pets"}'></textarea></label>
      <button type="submit">Search</button>
    </form>
    <ol id="hits" class="hits"></ol>
  </section>
  <section aria-labelledby="ask-title">
    <h2 id="ask-title">Ask</h2>
    <form id="ask">
      <label>Question <input id="question" type="search" required></label>
      <button type="submit">Ask</button>
    </form>
    <p id="answer" aria-live="polite"></p>
    <div id="sources"></div>
  </section>
  <section aria-labelledby="rows-title">
    <h2 id="rows-title">Rows</h2>
    <form id="rows-nav">
      <button type="button" id="rows-prev">Previous</button>
      <button type="button" id="rows-next">Next</button>
      <span id="rows-where" class="meta" aria-live="polite"></span>
    </form>
    <table><thead><tr><th>id</th><th>text</th><th>metadata</th></tr></thead>
      <tbody id="rows"></tbody></table>
  </section>
  <section aria-labelledby="map-title">
    <h2 id="map-title">Map</h2>
    <form id="map-form">
      <label>Colour by (metadata field) <input id="map-color" placeholder="topic"></label>
      <button type="submit">Draw the map</button>
    </form>
    <iframe id="map" title="Embedding map" sandbox="allow-scripts" hidden
            style="width: 100%; height: 32rem; border: 1px solid #d8dde3;"></iframe>
  </section>
  <section aria-labelledby="log-title">
    <h2 id="log-title">Versions</h2>
    <form id="diff">
      <label>From <select id="diff-a"></select></label>
      <label>To <select id="diff-b"></select></label>
      <button type="submit">Diff</button>
    </form>
    <div id="diff-out"></div>
    <table><thead><tr><th>version</th><th>when</th><th>rows</th><th>tags</th><th>message</th></tr></thead>
      <tbody id="log"></tbody></table>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("shoal-token") || "";

function headers() {
  const h = {"Content-Type": "application/json"};
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}
function show(message) { $("status").textContent = message || ""; }
async function call(path, body) {
  const response = await fetch(path, {method: body === undefined ? "GET" : "POST",
                                      headers: headers(), body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data && data.error ? data.error.type + ": " + data.error.message : "HTTP " + response.status;
    throw new Error(error);
  }
  return data;
}
function dataset() { return $("dataset").value; }
// The binary columns that show a row: an image column (thumbnail first) and an audio one.
let media = {image: null, audio: null};
async function loadMedia() {
  const columns = (await method("info")).result.columns || [];
  const images = columns.filter((c) => c.htype === "image").map((c) => c.tensor);
  const audio = columns.find((c) => c.htype === "audio");
  media = {image: images.includes("thumbnail") ? "thumbnail" : (images[0] || null),
           audio: audio ? audio.tensor : null};
}
async function blobOf(id, column, ref) {
  let path = "/v1/datasets/" + encodeURIComponent(dataset()) + "/rows/" + encodeURIComponent(id)
    + "/" + encodeURIComponent(column);
  if (ref) path += "?ref=" + encodeURIComponent(ref);
  const response = await fetch(path, {headers: token ? {"Authorization": "Bearer " + token} : {}});
  return response.ok ? URL.createObjectURL(await response.blob()) : null;
}
function clock(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
}
function attachMedia(node, id, metadata, ref) {
  if (media.image) {
    const img = document.createElement("img");
    img.className = "thumb"; img.alt = "image of " + id; img.hidden = true;
    node.prepend(img);
    blobOf(id, media.image, ref).then((url) => { if (url) { img.src = url; img.hidden = false; } });
  }
  if (media.audio) {
    const audio = document.createElement("audio");
    audio.controls = true; audio.preload = "metadata"; audio.hidden = true;
    const m = metadata || {};
    if (m.start !== undefined && m.end !== undefined)
      audio.title = "from " + clock(m.start) + " to " + clock(m.end) + " of " + (m.source || "the recording");
    node.append(audio);
    // Each row holds its own clip, which starts at its `start`: it plays from there.
    blobOf(id, media.audio, ref).then((url) => { if (url) { audio.src = url; audio.hidden = false; } });
  }
}
function method(name, body) { return call("/v1/datasets/" + encodeURIComponent(dataset()) + "/" + name, body || {}); }

function highlighted(text, query) {
  const words = query.toLowerCase().split(/\\W+/).filter((w) => w.length > 2);
  const out = document.createDocumentFragment();
  if (!words.length) { out.append(text); return out; }
  const pattern = new RegExp("(" + words.map((w) => w.replace(/[.*+?^${}()|[\\]\\\\]/g, "\\\\$&")).join("|") + ")", "gi");
  text.split(pattern).forEach((part, i) => {
    if (i % 2) { const m = document.createElement("mark"); m.textContent = part; out.append(m); }
    else out.append(part);
  });
  return out;
}
function item(text, query, extra) {
  const li = document.createElement("li");
  const body = document.createElement("div");
  body.append(highlighted(text, query));
  li.append(body);
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = extra;
  li.append(meta);
  return li;
}

async function loadDatasets() {
  try {
    const ready = await call("/ready");
    $("login").hidden = !ready.tokens;
    if (ready.tokens && !token) { show("Sign in with a token (shoal token create)."); return; }
    const names = (await call("/v1/datasets")).datasets;
    const select = $("dataset");
    select.replaceChildren(...names.map((n) => new Option(n, n)));
    $("who").textContent = token ? "signed in" : "";
    show(names.length ? "" : "No dataset this token can read.");
    if (names.length) { rowsOffset = 0; await loadMedia(); await loadLog(); await loadRows(); }
  } catch (error) { show(error.message); }
}
const PAGE_ROWS = 20;
let rowsOffset = 0, rowsTotal = 0;
async function loadRows() {
  rowsTotal = (await method("count")).result;
  const page = (await method("select", {fields: ["id", "text"], limit: PAGE_ROWS, offset: rowsOffset})).result;
  const records = page.length ? (await method("get", {ids: page.map((r) => r.id)})).result : [];
  const meta = Object.fromEntries(records.map((r) => [r.id, r.metadata]));
  $("rows").replaceChildren(...page.map((r) => {
    const tr = document.createElement("tr");
    [r.id, r.text, JSON.stringify(meta[r.id] || {})].forEach((cell) => {
      const td = document.createElement("td"); td.textContent = cell; tr.append(td);
    });
    return tr;
  }));
  $("rows-where").textContent = page.length
    ? "rows " + (rowsOffset + 1) + "-" + (rowsOffset + page.length) + " of " + rowsTotal : "no rows";
  $("rows-prev").disabled = rowsOffset === 0;
  $("rows-next").disabled = rowsOffset + PAGE_ROWS >= rowsTotal;
}
$("rows-prev").addEventListener("click", () => { rowsOffset = Math.max(0, rowsOffset - PAGE_ROWS); loadRows().catch((e) => show(e.message)); });
$("rows-next").addEventListener("click", () => { rowsOffset += PAGE_ROWS; loadRows().catch((e) => show(e.message)); });
$("map-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {method: "pca"};
  if ($("map-color").value.trim()) body.color_by = $("map-color").value.trim();
  try {
    const html = (await call("/v1/datasets/" + encodeURIComponent(dataset()) + "/map", body)).result;
    $("map").srcdoc = html; $("map").hidden = false;
    // Into view: a browser may not lay out (or size) an off-screen sandboxed frame until
    // it is seen, and the map is what was asked for.
    $("map").scrollIntoView({block: "nearest"});
  } catch (error) { show(error.message); }
});

async function loadLog() {
  const versions = (await method("log")).result;
  $("log").replaceChildren(...versions.slice().reverse().map((v) => {
    const tr = document.createElement("tr");
    [v.version, v.timestamp.replace("T", " ").slice(0, 19), v.rows, v.tags.join(", "), v.message]
      .forEach((cell) => { const td = document.createElement("td"); td.textContent = String(cell); tr.append(td); });
    return tr;
  }));
  for (const id of ["diff-a", "diff-b", "ref"]) {
    const select = $(id), keep = id === "ref" ? [new Option("latest", "")] : [];
    select.replaceChildren(...keep, ...versions.map((v) => new Option(String(v.version), String(v.version))));
  }
  if (versions.length) { $("diff-a").value = String(versions[0].version); $("diff-b").value = String(versions[versions.length - 1].version); }
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("shoal-token", token);
  $("token").value = "";
  loadDatasets();
});
$("dataset").addEventListener("change", () => {
  rowsOffset = 0;
  loadMedia().then(loadLog).then(loadRows).catch((e) => show(e.message));
});
$("search").addEventListener("submit", async (event) => {
  event.preventDefault();
  const query = $("query").value, body = {query, k: Number($("k").value), mode: $("mode").value};
  try {
    if ($("where").value.trim()) body.where = JSON.parse($("where").value);
    if ($("ref").value) body.ref = Number($("ref").value);
    const hits = (await method("search", body)).result;
    $("hits").replaceChildren(...hits.map((h) => {
      const m = h.metadata || {};
      const when = m.start !== undefined && m.end !== undefined ? "  " + clock(m.start) + "-" + clock(m.end) : "";
      const li = item(h.text, query, h.id + when + "  score " + h.score.toFixed(4) + "  " + JSON.stringify(m));
      attachMedia(li, h.id, m, body.ref);
      return li;
    }));
    show(hits.length ? "" : "No hits.");
  } catch (error) { show(error instanceof SyntaxError ? "The filter is not JSON: " + error.message : error.message); }
});
$("ask").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("answer").textContent = ""; $("sources").replaceChildren(); show("");
  const response = await fetch("/v1/datasets/" + encodeURIComponent(dataset()) + "/ask",
    {method: "POST", headers: headers(), body: JSON.stringify({question: $("question").value, k: 4, mode: "hybrid"})});
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    show(data && data.error ? data.error.type + ": " + data.error.message : "HTTP " + response.status);
    return;
  }
  const reader = response.body.getReader(), decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    let cut;
    while ((cut = buffer.indexOf("\\n\\n")) >= 0) {
      const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      const event = (block.match(/^event: (.*)$/m) || [])[1], data = (block.match(/^data: (.*)$/m) || [])[1];
      if (event === "piece") $("answer").textContent += JSON.parse(data);
      else if (event === "answer") showSources(JSON.parse(data));
      else if (event === "error") { const e = JSON.parse(data).error; show(e.type + ": " + e.message); }
    }
  }
});
function showSources(answer) {
  $("answer").textContent = answer.text;
  $("sources").replaceChildren(...answer.sources.map((s) => {
    const div = document.createElement("div");
    div.className = "source"; div.id = "source-" + s.number; div.tabIndex = -1;
    const link = document.createElement("a");
    link.href = "#source-" + s.number; link.textContent = "[" + s.number + "] " + s.id;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      document.querySelectorAll(".source.chosen").forEach((n) => n.classList.remove("chosen"));
      div.classList.add("chosen"); div.focus();
    });
    const text = document.createElement("div"); text.textContent = s.text;
    div.append(link, text);
    attachMedia(div, s.id, s.metadata);
    return div;
  }));
}
$("diff").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const d = (await method("diff", {a: Number($("diff-a").value), b: Number($("diff-b").value)})).result;
    $("diff-out").replaceChildren(...[["added", "+"], ["removed", "-"], ["changed", "~"]].map(([k, sign]) => {
      const p = document.createElement("p");
      p.textContent = d[k].length + " " + k + (d[k].length ? ": " + d[k].map((i) => sign + i).join(" ") : "");
      return p;
    }));
  } catch (error) { show(error.message); }
});
loadDatasets();
</script>
</body>
</html>
"""

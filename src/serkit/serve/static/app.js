// serkit web page: POST /v1/entities, then highlight, legend, table and copy-as-JSON.
// Entity offsets are Unicode code points; JS strings index UTF-16 units, so the text is
// split with Array.from (code points) before slicing. User text only ever goes into
// textContent, never innerHTML. URLs are relative to the page, so that it works behind a
// reverse proxy that serves it under a path prefix (/ner/ -> /ner/v1/entities).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { colors: {}, limits: null, last: null };

// The colour of each type comes from the server (GET /v1/palette, serkit.palette): the
// same as in `serkit tag -o page.html` and in notebooks. A type missing there stays grey
// (app.css), never a colour made up here.
function colorFor(label) {
  return state.colors[label] || "";
}

function setStatus(message, isError = false) {
  const el = $("status");
  el.textContent = message;
  el.classList.toggle("error", isError);
}

function updateCount() {
  const n = Array.from($("text").value).length;
  const max = state.limits ? ` / ${state.limits.max_text_chars}` : "";
  $("count").textContent = `${n}${max} characters`;
}

async function getJSON(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

async function init() {
  try {
    const [palette, limits, health] = await Promise.all([
      getJSON("v1/palette"), getJSON("v1/limits"), getJSON("healthz"),
    ]);
    state.colors = palette.colors;
    document.documentElement.style.setProperty("--ent-fg", palette.text);
    state.limits = limits;
    const m = health.model;
    $("model").textContent = `model ${m.name} (${m.version}${m.runtime ? ", " + m.runtime : ""})`;
  } catch (e) {
    setStatus(`cannot reach the serkit service: ${e.message}`, true);
  }
  updateCount();
}

function render(text, entities) {
  const chars = Array.from(text);
  const out = $("highlighted");
  out.replaceChildren();
  let pos = 0;
  for (const e of entities) {
    if (e.start > pos) out.append(chars.slice(pos, e.start).join(""));
    const mark = document.createElement("mark");
    mark.className = "ent";
    mark.dataset.label = e.label;
    mark.dataset.start = e.start;
    mark.dataset.end = e.end;
    mark.title = `${e.label} ${e.start}-${e.end} score ${e.score.toFixed(2)}`;
    mark.style.setProperty("--c", colorFor(e.label));
    mark.textContent = chars.slice(e.start, e.end).join("");
    out.append(mark);
    pos = e.end;
  }
  if (pos < chars.length) out.append(chars.slice(pos).join(""));

  const present = [...new Set(entities.map((e) => e.label))].sort();
  const legend = $("legend");
  legend.replaceChildren();
  for (const label of present) {
    const li = document.createElement("li");
    li.dataset.label = label;
    li.style.setProperty("--c", colorFor(label));
    li.textContent = label;
    legend.append(li);
  }

  const tbody = $("table").tBodies[0];
  tbody.replaceChildren();
  for (const e of entities) {
    const tr = tbody.insertRow();
    const label = tr.insertCell();
    label.className = "label";
    const swatch = document.createElement("span");
    swatch.style.setProperty("--c", colorFor(e.label));
    label.append(swatch, e.label);
    tr.insertCell().textContent = e.text;
    for (const v of [e.start, e.end, e.score.toFixed(3)]) {
      const td = tr.insertCell();
      td.className = "num";
      td.textContent = String(v);
    }
  }
  $("n-entities").textContent = `(${entities.length})`;
  $("result").hidden = false;
}

async function submit(ev) {
  if (ev) ev.preventDefault();
  const text = $("text").value;
  if (!text.trim()) {
    // Nothing to tag: ask for text rather than report "0 entities".
    $("result").hidden = true;
    setStatus("Type or paste some text first (or open a .txt file).", true);
    $("text").focus();
    return;
  }
  const n = Array.from(text).length;
  if (state.limits && n > state.limits.max_text_chars) {
    const max = state.limits.max_text_chars;
    setStatus(`the text has ${n.toLocaleString("en")} characters (limit ${max.toLocaleString("en")})`, true);
    return;
  }
  $("submit").disabled = true;
  setStatus("tagging...");
  const t0 = performance.now();
  try {
    const r = await fetch("v1/entities", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text }),
    });
    const body = await r.json().catch(() => null);
    if (!r.ok) {
      const msg = body && body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${r.status}`;
      setStatus(msg, true);
      return;
    }
    state.last = { text, ...body };
    render(text, body.entities);
    const ms = Math.round(performance.now() - t0);
    const n = body.entities.length;
    setStatus(`${n} ${n === 1 ? "entity" : "entities"} in ${ms} ms`);
  } catch (e) {
    setStatus(`request failed: ${e.message}`, true);
  } finally {
    $("submit").disabled = false;
  }
}

async function copyJSON() {
  if (!state.last) return;
  const json = JSON.stringify(state.last, null, 2);
  try {
    await navigator.clipboard.writeText(json);
  } catch {
    // No clipboard permission (plain http on another host): copy through a selection.
    const ta = document.createElement("textarea");
    ta.value = json;
    document.body.append(ta);
    ta.select();
    document.execCommand("copy");
    ta.remove();
  }
  $("copy-status").textContent = "copied";
  setTimeout(() => { $("copy-status").textContent = ""; }, 2000);
}

async function loadFile(file) {
  if (!file) return;
  const isText = file.type === "text/plain" || /\.txt$/i.test(file.name);
  if (!isText) {
    setStatus(`${file.name}: only .txt files can be dropped here`, true);
    return;
  }
  $("text").value = await file.text();
  updateCount();
  setStatus(`loaded ${file.name}`);
  await submit();
}

function setup() {
  const ta = $("text");
  $("form").addEventListener("submit", submit);
  ta.addEventListener("input", updateCount);
  ta.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) submit(ev);
  });
  $("file").addEventListener("change", (ev) => loadFile(ev.target.files[0]));
  $("copy").addEventListener("click", copyJSON);
  ta.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    ta.classList.add("dragover");
  });
  ta.addEventListener("dragleave", () => ta.classList.remove("dragover"));
  ta.addEventListener("drop", (ev) => {
    ev.preventDefault();
    ta.classList.remove("dragover");
    loadFile(ev.dataTransfer && ev.dataTransfer.files[0]);
  });
  init();
}

setup();

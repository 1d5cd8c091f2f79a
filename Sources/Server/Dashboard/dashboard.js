// The dicomdrop status dashboard. The API it reads is docs/STATUS-SERVER.md.
// Everything is built with createElement/textContent: unit names and paths come from
// hospital folders, so no server string is ever parsed as HTML.
"use strict";

const pageParams = new URLSearchParams(location.search);
const TOKEN = pageParams.get("token");
const FAST = 2000;   // health and units: the operator watches these move
const SLOW = 10000;  // buckets, throughput and failures change slowly and cost more queries
const PAGE = 48;

const $ = (id) => document.getElementById(id);

// Query values are encoded with encodeURIComponent rather than URLSearchParams, whose "+"
// for a space not every server reads back as a space. The page's token rides on every URL,
// images included, because an <img> cannot send an Authorization header.
function url(path, query = {}) {
  const q = Object.entries({ ...query, token: TOKEN })
    .filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
  return q.length ? `${path}?${q.join("&")}` : path;
}

// Output paths are "directory/file.png": encode each segment but keep the slashes, so the
// server sees a path under the output directory rather than one name containing "%2F".
const encodePath = (p) => p.split("/").map(encodeURIComponent).join("/");

// ---- DOM helpers ----

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "data") for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = String(dv);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  e.append(...children.flat().filter((c) => c !== null && c !== undefined)
    .map((c) => (c instanceof Node ? c : String(c))));
  return e;
}

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

const emptyRow = (columns, text) =>
  el("tr", { class: "empty" }, el("td", { colspan: columns }, text));

// Enter on a focused row or tile does what a click does, for keyboard users.
const activate = (fn) => ({
  tabindex: 0, onclick: fn,
  onkeydown: (e) => { if (e.key === "Enter") fn(); },
});

// ---- formatting ----

const pad = (n) => String(n).padStart(2, "0");
const clock = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;

// Local time for reading, the server's UTC string kept in the tooltip for reports.
function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return el("time", { datetime: iso, title: iso }, `${date} ${clock(d)}`);
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i > 0 && n < 10 ? 1 : 0)} ${units[i]}`;
}

function value(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// ---- fetching and the status line ----

// One message per source, so a section that recovers clears only its own complaint.
const errors = new Map();
function report(source, message) {
  if (message) errors.set(source, message); else errors.delete(source);
  const line = $("status");
  line.textContent = [...errors].map(([s, m]) => `${s}: ${m}`).join(" · ");
  line.hidden = errors.size === 0;
}

// Returns the parsed body, or null after reporting why there is none. `usable` lists the
// statuses whose body is still worth showing (a 503 from /api/health explains itself).
async function getJSON(source, path, query, usable = [200]) {
  let res;
  try {
    res = await fetch(url(path, query), { headers: { Accept: "application/json" }, cache: "no-store" });
  } catch (e) {
    report(source, `network error (${e.message})`);
    return null;
  }
  const text = await res.text().catch(() => "");
  let body = null;
  try { body = JSON.parse(text); } catch { /* a 401 or a proxy may answer in plain text */ }
  if (!res.ok) {
    const why = body?.problems?.join("; ") || body?.error || text.trim().slice(0, 160) || res.statusText;
    report(source, `HTTP ${res.status} ${why}`);
  } else if (body === null) {
    report(source, "the answer is not JSON");
  } else {
    report(source, null);
    $("updated").textContent = `updated ${clock(new Date())}`;
  }
  return usable.includes(res.status) && body !== null && typeof body === "object" ? body : null;
}

// A surprising answer must not stop the polling loops: say so and carry on.
const guarded = (source, fn) => async (...args) => {
  try { await fn(...args); } catch (e) { report(source, `cannot show the answer (${e.message})`); }
};

// ---- 1. health ----

const disk = (d) => (d ? `${bytes(d.free_bytes)} free of ${bytes(d.total_bytes)} — ${d.path}` : "—");

const loadHealth = guarded("health", async () => {
  const h = await getJSON("health", "/api/health", {}, [200, 503]);
  if (!h) return;
  const badge = $("health-state");
  badge.textContent = h.ok ? "ok" : "problems";
  badge.className = `badge ${h.ok ? "ok" : "bad"}`;
  $("health").dataset.ok = String(Boolean(h.ok));
  $("problems").replaceChildren(...[...(h.problems ?? []), ...(h.warnings ?? []).map((w) => "warning: " + w)].map((p) => el("li", {}, p)));

  const q = h.queue ?? {};
  const run = h.current_run;
  const pass = h.last_pass;
  const facts = [
    ["watcher", [h.watcher?.description ?? "—", h.watcher?.alive === false ? " (not alive)" : ""]],
    ["queue", `${q.pending_units} pending units, ${q.ready_units} ready, ${q.files_in_hand} files in hand, ` +
      `${q.files_waiting_for_a_worker} waiting for a worker, ${q.batches_waiting_to_commit} batches to commit`],
    ["current run", run ? [el("code", {}, run.unit), ` (${run.trigger}) since `, when(run.started)] : "idle"],
    ["paused", h.paused ? [h.paused.reason, " — since ", when(h.paused.since)] : "no"],
    ["output disk", disk(h.disk?.output)],
    ["ledger disk", disk(h.disk?.ledger)],
    ["last pass", pass ? [when(pass.at), ` — ${pass.files} files in ${value(pass.seconds)} s`] : "none yet"],
    h.inotify_overflows ? ["inotify overflows", h.inotify_overflows] : null,
    ["version", [h.version ?? "—", ", started ", when(h.started)]],
  ].filter(Boolean);
  $("facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
});

// ---- 2. units ----

const COUNTS = ["files", "processed", "duplicate", "not_dicom", "failed", "unreadable"];

function unitRow(u) {
  const run = u.last_run;
  const outcome = run ? run.outcome ?? "running" : "—";
  return el("tr", { data: { unit: u.name, state: u.state, files: u.files, processed: u.processed, failed: u.failed } },
    el("td", { class: "name" }, u.name),
    el("td", { class: "state" }, u.state),
    COUNTS.map((k) => el("td", { class: "n" }, u[k] ?? 0)),
    el("td", { class: run ? `outcome ${outcome}` : null, title: run?.error ?? null }, outcome),
    el("td", {}, run ? when(run.finished ?? run.started) : "—"));
}

const loadUnits = guarded("units", async () => {
  const data = await getJSON("units", "/api/units");
  if (!data) return;
  $("units").replaceChildren(...(data.units.length ? data.units.map(unitRow) : [emptyRow(10, "no units yet")]));
  $("unit-count").textContent = String(data.units.length);
});

// ---- 3. buckets ----

let buckets = [];
const counted = (items, label) => (items ?? []).map((i) => `${label(i)} (${i.images})`).join(", ");

const loadBuckets = guarded("buckets", async () => {
  const data = await getJSON("buckets", "/api/buckets");
  if (!data) return;
  buckets = data.buckets;
  const total = $("total-images");
  total.dataset.images = String(data.total_images);
  total.textContent = String(data.total_images);
  $("buckets").replaceChildren(...(buckets.length ? buckets.map((b) =>
    el("tr", { class: "bucket", data: { bucket: b.name, images: b.images }, title: "Show in the gallery",
      ...activate(() => openGallery(b.name, { user: true })) },
      el("td", { class: "name" }, b.name),
      el("td", { class: "n" }, b.images),
      el("td", { class: "name" }, counted(b.directories, (d) => d.name)),
      el("td", {}, counted(b.reasons, (r) => r.reason ?? "plain")))) : [emptyRow(4, "no images yet")]));
  fillBucketSelect();
});

// ---- 4. throughput ----

const loadThroughput = guarded("throughput", async () => {
  const data = await getJSON("throughput", "/api/throughput");
  if (!data) return;
  const minutes = data.minutes;
  const total = minutes.reduce((s, m) => s + m.files, 0);
  const peak = Math.max(0, ...minutes.map((m) => m.files));
  const [W, H, top, bottom] = [600, 100, 14, 14];  // the viewBox in index.html
  const plot = H - top - bottom;
  const step = W / Math.max(minutes.length, 1);
  const hhmm = (iso) => clock(new Date(iso)).slice(0, 5);
  const chart = $("throughput");
  chart.dataset.total = String(total);
  chart.replaceChildren(
    svg("text", { x: 0, y: 10, class: "axis" }, `max ${peak} files/min`),
    svg("line", { x1: 0, x2: W, y1: H - bottom, y2: H - bottom, class: "base" }),
    ...minutes.map((m, i) => {
      const h = peak ? (m.files / peak) * plot : 0;
      const bar = svg("rect", { x: i * step + 1, y: H - bottom - h, width: Math.max(step - 2, 1), height: h, class: "bar" });
      bar.append(svg("title", {}, `${hhmm(m.at)}: ${m.files} files`));
      return bar;
    }),
    ...(minutes.length ? [
      svg("text", { x: 0, y: H - 2, class: "axis" }, hhmm(minutes[0].at)),
      svg("text", { x: W, y: H - 2, class: "axis", "text-anchor": "end" }, hhmm(minutes[minutes.length - 1].at)),
    ] : []));
  $("throughput-total").textContent = `${total} files`;
});

// ---- 5. failures ----

const loadFailures = guarded("failures", async () => {
  const data = await getJSON("failures", "/api/failures", { limit: 20 });
  if (!data) return;
  $("failures").replaceChildren(...(data.failures.length ? data.failures.map((f) =>
    el("tr", { class: "failure", data: { kind: f.kind } },
      el("td", { class: "name" }, f.path),
      el("td", { class: "kind" }, f.kind),
      el("td", {}, f.reason ?? "—"),
      el("td", {}, when(f.at)))) : [emptyRow(4, "no failures")]));
});

// ---- 6. gallery ----

// `after` is the cursor of the page shown; `back` the cursors of the pages before it, since
// the API only hands out the way forward.
const gallery = { bucket: "", after: null, back: [], next: null, seq: 0 };

function fillBucketSelect() {
  const select = $("gallery-bucket");
  const options = buckets.map((b) => [b.name, `${b.name} (${b.images})`]);
  // A ?bucket= the ledger has no image in (yet) still shows as what is selected.
  if (gallery.bucket && !buckets.some((b) => b.name === gallery.bucket)) options.push([gallery.bucket, gallery.bucket]);
  // Rebuilding on every poll would close a dropdown the operator has open.
  const same = options.length === select.options.length &&
    options.every(([v, t], i) => select.options[i].value === v && select.options[i].text === t);
  if (!same) select.replaceChildren(...options.map(([v, t]) => el("option", { value: v }, t)));
  select.value = gallery.bucket;
}

async function openGallery(bucket, { user = false } = {}) {
  Object.assign(gallery, { bucket, after: null, back: [], next: null });
  fillBucketSelect();
  if (user) {
    // Keeps the choice across a reload; the token stays in the address too.
    const here = new URL(location.href);
    here.searchParams.set("bucket", bucket);
    history.replaceState(null, "", here);
    $("gallery-section").scrollIntoView({ behavior: "smooth", block: "start" });
  }
  await loadGallery();
}

function tile(img) {
  const flagged = img.reason != null || img.suboptimal;
  const flag = flagged ? (img.bucket === "excluded" ? "flag-red" : "flag-amber") : "";
  const picture = img.png
    ? el("img", { class: "thumb", data: { name: img.name }, loading: "lazy", alt: img.name,
      src: url(`/thumbnails/${encodePath(img.png)}`, { size: 160 }) })
    : el("div", { class: "thumb nopng", data: { name: img.name } }, "no PNG");
  return el("figure", { class: `tile ${flag}`.trim(), title: img.reason ?? (img.suboptimal ? "suboptimal" : null),
    ...activate(() => openDetail(img.name, img.bucket)) },
    picture, el("figcaption", { class: "name" }, img.name));
}

const loadGallery = guarded("gallery", async () => {
  const seq = ++gallery.seq;
  const box = $("gallery");
  let images = [];
  if (gallery.bucket) {
    const data = await getJSON("gallery", "/api/images", { bucket: gallery.bucket, limit: PAGE, after: gallery.after });
    if (seq !== gallery.seq) return;  // a later bucket or page choice won the race
    images = data?.images ?? [];
    gallery.next = data?.next ?? null;
  }
  box.replaceChildren(...(images.length ? images.map(tile) : [el("p", { class: "muted" }, "no images")]));
  box.dataset.bucket = gallery.bucket;
  box.dataset.count = String(box.querySelectorAll(".thumb").length);
  $("prev-page").disabled = gallery.back.length === 0;
  $("next-page").disabled = !gallery.next;
  $("page-info").textContent = gallery.bucket ? `page ${gallery.back.length + 1}` : "";
});

// ---- detail panel ----

let detailSeq = 0;

function qualityTable(rows) {
  if (!rows?.length) return el("p", { class: "muted" }, "no quality record");
  const keys = [...new Set(rows.flatMap((q) => Object.keys(q.features ?? {})))];
  return el("div", { class: "scroll" }, el("table", {},
    el("thead", {}, el("tr", {}, ["frame", ...keys, "model score", "suboptimal", "reason"].map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((q) => el("tr", { class: q.suboptimal ? "suboptimal" : null },
      el("td", { class: "n", title: q.output }, q.frame),
      keys.map((k) => el("td", { class: "n" }, value(q.features?.[k]))),
      el("td", { class: "n" }, value(q.model_score)),
      el("td", {}, q.suboptimal ? "yes" : "no"),
      el("td", {}, q.reason ?? "—"))))));
}

function metadataTable(meta) {
  const rows = Object.entries(meta ?? {}).filter(([, v]) => v !== null && v !== undefined);
  if (!rows.length) return el("p", { class: "muted" }, "no metadata");
  return el("table", { class: "meta" },
    el("tbody", {}, rows.map(([k, v]) => el("tr", {}, el("th", { class: "name" }, k), el("td", {}, value(v))))));
}

// One colour per label with a box, in label order: the colours `dicomdrop render-boxes` uses.
const BOX_COLOURS = ["#ff0000", "#00ff00", "#0080ff", "#ffff00", "#ff00ff", "#00ffff", "#ff8000"];

function labelColours(labels) {
  const names = [...new Set((labels ?? []).filter((l) => l.box).map((l) => l.label))].sort();
  return new Map(names.map((n, i) => [n, BOX_COLOURS[i % BOX_COLOURS.length]]));
}

// The image with its first frame's boxes drawn over it in an SVG of the image's own pixel
// coordinates, so the rectangles scale with the picture.
function figure(d, full) {
  const img = el("img", { class: "full", src: full, alt: d.name });
  const boxes = (d.labels ?? []).filter((l) => l.box && (l.frame ?? 1) === 1);
  if (!boxes.length || !d.columns || !d.rows) return el("a", { href: full, target: "_blank", rel: "noopener" }, img);
  const colours = labelColours(d.labels);
  const overlay = svg("svg", { viewBox: `0 0 ${d.columns} ${d.rows}`, preserveAspectRatio: "none", class: "boxes" });
  for (const l of boxes) {
    const [sx, sy] = l.box.units === "normalized" ? [d.columns, d.rows] : [1, 1];
    const rect = svg("rect", { x: l.box.x * sx, y: l.box.y * sy, width: l.box.width * sx, height: l.box.height * sy,
      class: "box", stroke: colours.get(l.label), "data-label": l.label });
    rect.append(svg("title", {}, l.label));
    overlay.append(rect);
  }
  return el("a", { class: "figure", href: full, target: "_blank", rel: "noopener" }, img, overlay);
}

// Set through the CSSOM: the page's CSP refuses style attributes.
function swatch(colour) {
  if (!colour) return null;
  const e = el("span", { class: "swatch" });
  e.style.background = colour;
  return e;
}

function labelsTable(labels) {
  if (!labels?.length) return el("p", { class: "muted" }, "no labels");
  const colours = labelColours(labels);
  return el("table", { class: "labels" },
    el("thead", {}, el("tr", {}, ["label", "frame", "box", "annotator", "source", "confidence"].map((h) => el("th", {}, h)))),
    el("tbody", {}, labels.map((l) => el("tr", { "data-label": l.label },
      el("td", {}, swatch(colours.get(l.label)), l.label),
      el("td", { class: "n" }, value(l.frame)),
      el("td", { class: "name" }, l.box ? `${l.box.x}, ${l.box.y}, ${l.box.width} × ${l.box.height} ${l.box.units}` : "—"),
      el("td", {}, l.annotator ?? "—"), el("td", {}, l.source ?? "—"), el("td", { class: "n" }, value(l.confidence))))));
}

async function openDetail(name, bucket) {
  const seq = ++detailSeq;
  const dialog = $("detail");
  const body = $("detail-body");
  $("detail-title").textContent = name;
  body.replaceChildren(el("p", { class: "muted" }, "loading…"));
  if (!dialog.open) dialog.showModal();
  const d = await getJSON("image", `/api/images/${encodeURIComponent(name)}`, { bucket });
  if (seq !== detailSeq) return;  // another thumbnail was opened meanwhile
  if (!d) { body.replaceChildren(el("p", { class: "muted" }, "could not load this image (see the status line)")); return; }
  const full = d.png ? url(`/files/${encodePath(d.png)}`) : null;
  body.replaceChildren(
    full ? figure(d, full) : el("div", { class: "nopng full" }, "no PNG"),
    el("dl", { class: "facts" }, [
      ["bucket", d.bucket], ["directory", d.directory], ["reason", d.reason ?? "—"],
      ["frames", d.frames], ["modality", d.modality ?? "—"], ["size", `${d.columns} × ${d.rows}`],
      ["outputs", (d.outputs ?? []).join(", ")],
    ].flatMap(([k, v]) => [el("dt", {}, k), el("dd", { class: "name" }, value(v))])),
    el("h3", {}, "Labels"), labelsTable(d.labels),
    el("h3", {}, "Quality"), qualityTable(d.quality),
    el("h3", {}, "Metadata"), metadataTable(d.metadata));
}

// ---- start ----

function poll(fn, ms) {
  const loop = async () => { await fn(); setTimeout(loop, ms); };
  setTimeout(loop, ms);  // chained, not setInterval: a slow answer never piles up requests
}

async function main() {
  $("gallery-bucket").addEventListener("change", (e) => openGallery(e.target.value, { user: true }));
  $("next-page").addEventListener("click", () => {
    if (!gallery.next) return;
    gallery.back.push(gallery.after);
    gallery.after = gallery.next;
    loadGallery();
  });
  $("prev-page").addEventListener("click", () => {
    if (!gallery.back.length) return;
    gallery.after = gallery.back.pop();
    loadGallery();
  });
  const dialog = $("detail");
  $("detail-close").addEventListener("click", () => dialog.close());
  // A modal dialog closes on Escape by itself; this also covers focus left outside it.
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && dialog.open) dialog.close(); });
  dialog.addEventListener("click", (e) => { if (e.target === dialog) dialog.close(); });  // the backdrop

  await Promise.all([loadHealth(), loadUnits(), loadBuckets(), loadThroughput(), loadFailures()]);
  // The gallery needs the bucket list to pick its first bucket, so it loads after it.
  const first = pageParams.get("bucket") || buckets.find((b) => b.images > 0)?.name || buckets[0]?.name || "";
  await openGallery(first);
  // ?image=NAME opens that image's detail: a link to one image, its labels and boxes.
  if (pageParams.get("image")) await openDetail(pageParams.get("image"), pageParams.get("bucket") || undefined);
  document.body.dataset.loaded = "1";

  poll(loadHealth, FAST);
  poll(loadUnits, FAST);
  for (const fn of [loadBuckets, loadThroughput, loadFailures]) poll(fn, SLOW);
}

main();

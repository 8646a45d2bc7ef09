// monetgan studio: the gallery, walks and live run dashboards. Plain JS, no framework, no network
// beyond this server. Painters and runs are named by index; the server resolves them.
"use strict";

// Set once per page load: the browser tests check that live updates never reload the page.
window.studioLoadId = Math.random().toString(36).slice(2);

const $ = (sel, root = document) => root.querySelector(sel);
const PAGE = 24;            // paintings added per scroll step
const POLL_MS = 1500;       // dashboard refresh
const WALK_FPS = 24;

// ---- tabs -----------------------------------------------------------------------------------
function showTab(name) {
  document.querySelectorAll("nav button").forEach(b => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll("main > .tab").forEach(s => s.classList.toggle("active", s.id === name));
  // Not before start() has listed the stylizers: start() opens it then if this tab is showing.
  if (name === "stylize" && !stylizeState.ready && !stylizeState.loading && $("#stylizer").options.length) {
    chooseStylizer();
  }
}
$("#tabs").addEventListener("click", e => { if (e.target.dataset.tab) showTab(e.target.dataset.tab); });

// ---- gallery --------------------------------------------------------------------------------
const gallery = { painter: 0, next: 0, selected: [], ready: false };

function paintingUrl(seed) { return `/api/paint/${gallery.painter}/${seed}.png`; }

function addTiles(count) {
  const grid = $("#grid");
  for (let i = 0; i < count; i++) {
    const seed = gallery.next++;
    const tile = document.createElement("div");
    tile.className = "tile";
    tile.dataset.seed = seed;
    tile.innerHTML = `<img loading="lazy" alt="seed ${seed}"><div class="meta">
      <span>seed ${seed}</span><label><input type="checkbox"> walk</label></div>`;
    const img = tile.querySelector("img");
    img.src = paintingUrl(seed);
    img.dataset.seed = seed;
    img.addEventListener("click", () => openLightbox(seed));
    tile.querySelector("input").addEventListener("change", e => toggleSelected(seed, tile, e.target.checked));
    grid.appendChild(tile);
  }
}

function resetGallery() {
  $("#grid").innerHTML = "";
  gallery.next = 0;
  gallery.selected = [];
  updateSelection();
  addTiles(PAGE);
  fillIfNeeded();
}

function toggleSelected(seed, tile, on) {
  gallery.selected = gallery.selected.filter(s => s !== seed);
  if (on) gallery.selected.push(seed);
  tile.classList.toggle("selected", on);
  updateSelection();
}

function updateSelection() {
  const n = gallery.selected.length;
  $("#walk-selected").disabled = n < 2;
  $("#selection-note").textContent = n ? `Selected seeds: ${gallery.selected.join(", ")}`
                                       : "Tick two or more paintings to walk between them.";
}

// Infinite scroll: while the marker under the grid is within 400 px of the window, add a page.
function fillIfNeeded() {
  if (gallery.ready && $("#gallery").classList.contains("active") && gallery.next < 100000 &&
      $("#grid-end").getBoundingClientRect().top < innerHeight + 400) addTiles(PAGE);
}
window.addEventListener("scroll", fillIfNeeded, { passive: true });
window.addEventListener("resize", fillIfNeeded);

function openLightbox(seed) {
  $("#lightbox-image").src = paintingUrl(seed);
  $("#lightbox-seed").textContent = `seed ${seed} · ${$("#painter").selectedOptions[0]?.textContent || ""}`;
  const link = $("#lightbox-download");
  link.href = paintingUrl(seed) + "?download=1";
  link.setAttribute("download", `seed${String(seed).padStart(6, "0")}.png`);
  $("#lightbox").hidden = false;
}
$("#lightbox-close").addEventListener("click", () => { $("#lightbox").hidden = true; });
$("#lightbox").addEventListener("click", e => { if (e.target.id === "lightbox") $("#lightbox").hidden = true; });
document.addEventListener("keydown", e => { if (e.key === "Escape") $("#lightbox").hidden = true; });
$("#painter").addEventListener("change", e => { gallery.painter = Number(e.target.value); resetGallery(); });
$("#walk-selected").addEventListener("click", () => {
  $("#walk-seeds").value = gallery.selected.join(",");
  showTab("walk");
  startWalk();
});

// ---- walk -----------------------------------------------------------------------------------
// Frames are fetched one by one (each is one forward pass on the server) and kept as decoded
// images; play and the scrubber show whichever are loaded. window.studioWalk exposes the state.
const walk = window.studioWalk = { frames: 0, loaded: 0, index: 0, playing: false, images: [], token: 0, query: "" };

function walkQuery() {
  const seeds = $("#walk-seeds").value.split(",").map(s => s.trim()).filter(Boolean).join(",");
  const frames = Math.max(2, Math.min(240, Number($("#walk-frames").value) || 48));
  const mode = $("#walk-lerp").checked ? "lerp" : "slerp";
  return { seeds, frames, mode, qs: `seeds=${encodeURIComponent(seeds)}&frames=${frames}&mode=${mode}` };
}

function showWalkFrame(i) {
  walk.index = i;
  $("#walk-scrub").value = i;
  if (walk.images[i]) $("#walk-image").src = walk.images[i].src;
  $("#walk-status").textContent = `frame ${i + 1} / ${walk.frames}` + (walk.loaded < walk.frames ? ` (loaded ${walk.loaded})` : "");
}

async function startWalk() {
  const q = walkQuery();
  const token = ++walk.token;           // a newer walk cancels this one's loading
  Object.assign(walk, { frames: q.frames, loaded: 0, index: 0, playing: false, images: new Array(q.frames), query: q.qs });
  const base = `/api/walk/${gallery.painter}`;
  $("#walk-scrub").max = q.frames - 1;
  $("#walk-scrub").disabled = false;
  $("#walk-play").disabled = false;
  $("#walk-play").textContent = "Play";
  for (const [id, fmt] of [["#walk-mp4", "mp4"], ["#walk-gif", "gif"]]) {
    const a = $(id);
    a.href = `${base}/walk.${fmt}?${q.qs}&fps=${WALK_FPS}`;
    a.setAttribute("download", `walk-${q.seeds.replace(/,/g, "-")}.${fmt}`);
    a.classList.remove("disabled");
  }
  $("#walk-status").textContent = "painting frames…";
  for (let i = 0; i < q.frames; i++) {
    const img = new Image();
    img.src = `${base}/frame.png?${q.qs}&i=${i}`;
    try { await img.decode(); } catch (err) { $("#walk-status").textContent = "could not paint this walk"; return; }
    if (token !== walk.token) return;
    walk.images[i] = img;
    walk.loaded = i + 1;
    if (i === 0) showWalkFrame(0);
    else if (!walk.playing) $("#walk-status").textContent = `frame ${walk.index + 1} / ${walk.frames} (loaded ${walk.loaded})`;
  }
}

function playWalk() {
  if (!walk.playing) return;
  const next = (walk.index + 1) % Math.max(1, walk.loaded);
  showWalkFrame(next);
  setTimeout(playWalk, 1000 / WALK_FPS);
}
$("#walk-go").addEventListener("click", startWalk);
$("#walk-play").addEventListener("click", () => {
  walk.playing = !walk.playing;
  $("#walk-play").textContent = walk.playing ? "Pause" : "Play";
  playWalk();
});
$("#walk-scrub").addEventListener("input", e => {
  walk.playing = false;
  $("#walk-play").textContent = "Play";
  showWalkFrame(Math.min(Number(e.target.value), Math.max(0, walk.loaded - 1)));
});

// ---- photo to Monet -------------------------------------------------------------------------
// The chosen photo is sent as the request body; the painting comes back as PNG bytes. Changing a
// control paints again; a newer request wins (window.studioStylize exposes the state to tests).
// A stylizer's settings (and so its weights) are fetched when the tab is first opened or another
// stylizer is chosen, not at page load.
const stylizeState = window.studioStylize = { token: 0, painted: 0, ready: false, loading: false, afterUrl: null };

function stylizeLabels() {
  $("#stylize-strength-value").textContent = Number($("#stylize-strength").value).toFixed(2);
  $("#stylize-chroma-value").textContent = Number($("#stylize-chroma").value).toFixed(2);
}

async function chooseStylizer() {
  stylizeState.ready = false;
  stylizeState.loading = true;
  const response = await fetch(`/api/stylizers/${$("#stylizer").value}`);
  stylizeState.loading = false;
  if (!response.ok) { $("#stylize-status").textContent = await response.text(); return; }
  const d = await response.json();
  for (const [id, value, range] of [["#stylize-strength", d.strength, d.strength_range],
                                    ["#stylize-chroma", d.chroma_blur, d.chroma_blur_range]]) {
    Object.assign($(id), { min: range[0], max: range[1], value });
    $(id).disabled = range[0] === range[1];  // a plain translator has no strength to change
  }
  stylizeLabels();
  stylizeState.ready = true;
  await stylizePhoto();
}

async function stylizePhoto() {
  const file = $("#stylize-file").files[0];
  stylizeLabels();
  if (!file || !stylizeState.ready) return;
  const token = ++stylizeState.token;
  const before = $("#stylize-before");
  if (before.dataset.name !== file.name + file.size) {
    if (before.src) URL.revokeObjectURL(before.src);
    before.src = URL.createObjectURL(file);
    before.dataset.name = file.name + file.size;
  }
  const qs = new URLSearchParams({ size: $("#stylize-size").value, strength: $("#stylize-strength").value,
                                   chroma_blur: $("#stylize-chroma").value });
  $("#stylize-status").textContent = "painting…";
  $("#stylize-download").classList.add("disabled");
  let response;
  try { response = await fetch(`/api/stylize/${$("#stylizer").value}.png?${qs}`, { method: "POST", body: file }); }
  catch (err) { if (token === stylizeState.token) $("#stylize-status").textContent = "the studio did not answer"; return; }
  if (token !== stylizeState.token) return;
  if (!response.ok) { $("#stylize-status").textContent = await response.text(); return; }
  const blob = await response.blob();
  if (token !== stylizeState.token) return;
  if (stylizeState.afterUrl) URL.revokeObjectURL(stylizeState.afterUrl);
  stylizeState.afterUrl = URL.createObjectURL(blob);
  $("#stylize-after").src = stylizeState.afterUrl;
  await $("#stylize-after").decode().catch(() => {});
  const link = $("#stylize-download");
  link.href = stylizeState.afterUrl;
  link.setAttribute("download", file.name.replace(/\.[^.]*$/, "") + "-monet.png");
  link.classList.remove("disabled");
  $("#stylize-status").textContent = `painted by ${$("#stylizer").selectedOptions[0].text} at strength ` +
    `${qs.get("strength")}, colour blur ${qs.get("chroma_blur")} px`;
  stylizeState.painted++;
}
for (const id of ["#stylize-file", "#stylize-strength", "#stylize-chroma", "#stylize-size"]) {
  $(id).addEventListener("change", stylizePhoto);
}
for (const id of ["#stylize-strength", "#stylize-chroma"]) $(id).addEventListener("input", stylizeLabels);
$("#stylizer").addEventListener("change", chooseStylizer);

// ---- charts ---------------------------------------------------------------------------------
// A line/dot chart on a canvas: series = [{xs, ys, color, axis: "left"|"right", dots}], shared x.
function extent(values) {
  const v = values.filter(x => x !== null && Number.isFinite(x));
  if (!v.length) return null;
  let lo = Math.min(...v), hi = Math.max(...v);
  if (lo === hi) { lo -= 1; hi += 1; }
  return [lo, hi];
}

function fmt(x) {
  const a = Math.abs(x);
  return a >= 1000 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 0.1 ? x.toFixed(2) : x.toPrecision(2);
}

function drawChart(canvas, series) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, L = 52, R = 52, T = 10, B = 22;
  ctx.clearRect(0, 0, W, H);
  ctx.font = "11px system-ui, sans-serif";
  const xr = extent(series.flatMap(s => s.xs));
  if (!xr) { ctx.fillStyle = "#6b7078"; ctx.fillText("nothing logged yet", L, H / 2); return; }
  const yr = { left: extent(series.filter(s => s.axis !== "right").flatMap(s => s.ys)),
               right: extent(series.filter(s => s.axis === "right").flatMap(s => s.ys)) };
  const X = x => L + (x - xr[0]) / (xr[1] - xr[0]) * (W - L - R);
  const Y = (y, ax) => T + (1 - (y - yr[ax][0]) / (yr[ax][1] - yr[ax][0])) * (H - T - B);
  ctx.strokeStyle = "#d8d3c7"; ctx.fillStyle = "#6b7078"; ctx.lineWidth = 1;
  ctx.strokeRect(L, T, W - L - R, H - T - B);
  ctx.textAlign = "left"; ctx.fillText(`step ${Math.round(xr[0]).toLocaleString()}`, L, H - 6);
  ctx.textAlign = "right"; ctx.fillText(`step ${Math.round(xr[1]).toLocaleString()}`, W - R, H - 6);
  for (const ax of ["left", "right"]) {
    if (!yr[ax]) continue;
    ctx.textAlign = ax === "left" ? "right" : "left";
    const x = ax === "left" ? L - 4 : W - R + 4;
    ctx.fillText(fmt(yr[ax][1]), x, T + 9);
    ctx.fillText(fmt(yr[ax][0]), x, H - B);
  }
  for (const s of series) {
    const ax = s.axis === "right" ? "right" : "left";
    if (!yr[ax]) continue;
    ctx.strokeStyle = ctx.fillStyle = s.color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let pen = false;
    s.xs.forEach((x, i) => {
      const y = s.ys[i];
      if (y === null || !Number.isFinite(y)) { pen = false; return; }
      if (s.dots) { ctx.moveTo(X(x) + 4, Y(y, ax)); ctx.arc(X(x), Y(y, ax), 4, 0, 2 * Math.PI); return; }
      if (pen) ctx.lineTo(X(x), Y(y, ax)); else ctx.moveTo(X(x), Y(y, ax));
      pen = true;
    });
    if (s.dots) ctx.fill(); else ctx.stroke();
  }
}

// ---- runs -----------------------------------------------------------------------------------
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
  return h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
}

function frameUrl(index, step) { return `/runs/${index}/files/frames/step-${String(step).padStart(6, "0")}.png`; }

function addRun(run) {
  const id = `run-${run.index}`;
  const button = document.createElement("button");
  button.dataset.tab = id;
  button.textContent = `Run: ${run.name}`;
  $("#tabs").appendChild(button);
  const section = $("#run-template").content.firstElementChild.cloneNode(true);
  section.id = id;
  $("main").appendChild(section);
  const state = { index: run.index, section, frames: [], follow: true, configShown: false };
  $(".frame-scrub", section).addEventListener("input", e => {
    state.follow = Number(e.target.value) === state.frames.length - 1;
    showRunFrame(state, Number(e.target.value));
  });
  pollRun(state);
}

function showRunFrame(state, i) {
  const step = state.frames[i];
  if (step === undefined) return;
  const img = $(".frame", state.section);
  const url = frameUrl(state.index, step);
  if (!img.src.endsWith(url)) img.src = url;
  $(".frame-caption", state.section).textContent = `frame at step ${step.toLocaleString()} (${i + 1} of ${state.frames.length})`;
}

function renderRun(state, d) {
  const s = state.section;
  $(".run-name", s).textContent = d.name;
  const st = $(".run-state", s);
  st.textContent = d.live ? "training" : "idle";
  st.classList.toggle("live", d.live);
  $(".latest-step", s).textContent = d.latest_step === null ? "–" : d.latest_step;
  $(".total-steps", s).textContent = d.steps ?? "–";
  $(".rate", s).textContent = d.steps_per_second ? `${d.steps_per_second.toFixed(2)} steps/s` : "";
  $(".eta", s).textContent = d.eta_seconds ? `ETA ${duration(d.eta_seconds)}` : "";
  if (!state.configShown && d.config) { $(".config", s).textContent = JSON.stringify(d.config, null, 2); state.configShown = true; }
  const c = d.curves, m = d.metrics;
  const mx = m.map(r => r.step);
  drawChart($(".chart-w", s), [
    { xs: c.step, ys: c.wasserstein_estimate, color: "#3f6f8f" },
    { xs: mx, ys: m.map(r => r.fid), color: "#c0603a", axis: "right", dots: true }]);
  drawChart($(".chart-loss", s), [
    { xs: c.step, ys: c.generator_loss, color: "#6a8f3f" },
    { xs: c.step, ys: c.critic_loss, color: "#8f3f6f", axis: "right" }]);
  drawChart($(".chart-metrics", s), [
    { xs: mx, ys: m.map(r => r.kid), color: "#c0603a", dots: true },
    { xs: mx, ys: m.map(r => r.swd), color: "#7a5fb0", axis: "right", dots: true }]);
  if (d.frames.length !== state.frames.length) {
    state.frames = d.frames;
    const scrub = $(".frame-scrub", s);
    scrub.max = Math.max(0, d.frames.length - 1);
    if (state.follow) scrub.value = scrub.max;        // follow the newest frame unless scrubbed back
    showRunFrame(state, Number(scrub.value));
  }
}

async function pollRun(state) {
  try {
    const response = await fetch(`/api/runs/${state.index}`, { cache: "no-store" });
    if (response.ok) renderRun(state, await response.json());
  } catch (err) { /* server restarting: try again at the next tick */ }
  setTimeout(() => pollRun(state), POLL_MS);
}

// ---- start ----------------------------------------------------------------------------------
async function start() {
  const info = await (await fetch("/api/info")).json();
  const select = $("#painter");
  for (const p of info.painters) select.add(new Option(p.label, p.index));
  info.runs.forEach(addRun);
  const wanted = new URLSearchParams(location.search);
  if (wanted.has("painter")) { select.value = wanted.get("painter"); gallery.painter = Number(select.value); }
  gallery.ready = true;  // scroll and resize events before this point must not add tiles
  resetGallery();
  for (const s of info.stylizers) $("#stylizer").add(new Option(s.label, s.index));
  showTab(wanted.get("tab") || document.querySelector("nav button.active").dataset.tab);
}
start();

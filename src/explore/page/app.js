// The explorer page: the URL's query is the run; every control appends one
// action to it and asks the server to replay. Nothing is kept here.
const $ = (s) => document.querySelector(s);
let view = null;
let busy = false;

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "on") for (const [ev, f] of Object.entries(v)) e.addEventListener(ev, f);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

function showError(msg) {
  const e = $("#error");
  e.textContent = msg || "";
  e.hidden = !msg;
}

async function load(path, push) {
  if (busy) return;
  busy = true;
  document.body.classList.add("busy");
  try {
    const r = await fetch(path);
    const j = await r.json();
    if (!r.ok) { showError(j.error); return; }
    showError("");
    view = j;
    render(j);
    const url = "?" + j.query;
    if (push) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
  } catch (e) {
    showError("the explorer's server does not answer: " + e);
  } finally {
    busy = false;
    document.body.classList.remove("busy");
    // How many answers the page has drawn: what a test waits on.
    document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
  }
}

function withAction(code) {
  const q = new URLSearchParams(view.query);
  const a = q.get("a");
  q.set("a", a ? a + "." + code : code);
  return q.toString();
}

function act(code) {
  load("/api/state?" + withAction(code), true);
}

function renderNode(m) {
  const cls = "node " + m.role + (m.up ? "" : " down");
  const title = `node ${m.id}` + (m.role === "attacker" ? ` — attacker (${view.setup.attack})` : m.role === "twin" ? " — twin" : "");
  const card = el("div", { class: cls, id: "node-" + m.member }, el("h3", {}, title));
  const facts = el("ul");
  facts.append(el("li", {}, m.up ? "up" : "DOWN (what it persisted survives)"));
  if (m.leads) facts.append(el("li", {}, "leads: " + m.leads));
  if (m.promised_from) facts.append(el("li", {}, "promised " + m.promised_from));
  for (const s of m.slots) {
    facts.append(el("li", {}, `pos ${s.pos}: promised ${s.promised}` + (s.accepted ? `, accepted ${s.accepted}` : "")));
  }
  card.append(facts);
  const log = m.log.map(([p, v]) => `${p}:${v}`).join("  ");
  card.append(el("div", { class: "log" }, "log: " + (log || "(empty)")));
  if (m.flagged.length) {
    const f = el("ul", { class: "flagged" });
    for (const [node, why] of m.flagged) f.append(el("li", {}, `flagged node ${node}: ${why}`));
    card.append(f);
  }
  if (m.notes.length) {
    const n = el("ul", { class: "notes" });
    for (const t of m.notes) n.append(el("li", {}, t));
    card.append(n);
  }
  card.append(m.up
    ? el("button", { class: "crash", on: { click: () => act("k" + m.member) } }, "Crash")
    : el("button", { class: "restart", on: { click: () => act("r" + m.member) } }, "Restart"));
  return card;
}

function renderFlying(p) {
  const next = view.flying.length && view.flying[0].id === p.id && p.due <= view.now;
  const row = el("tr", { class: (p.cut ? "cut" : "") + (next ? " next" : ""), "data-id": p.id,
    title: next ? "Next step delivers this one" : "" });
  const cells = [p.id, `${p.from} → ${p.to}`, p.kind, p.pos ?? "", p.ballot ?? "", p.value ?? "",
    p.signed ? "signed" : "—", p.due, p.text + (p.duplicate ? " (copy)" : "")];
  for (const c of cells) row.append(el("td", {}, String(c)));
  const btns = el("td");
  for (const [code, label] of [["d", "Deliver"], ["x", "Drop"], ["u", "Duplicate"], ["w", "Delay"]]) {
    btns.append(el("button", { class: label.toLowerCase(), on: { click: () => act(code + p.id) } }, label));
  }
  row.append(btns);
  return row;
}

function renderDefences(v) {
  const list = $("#defence-list");
  list.replaceChildren();
  for (const d of v.setup.defences) {
    const box = el("input", { type: "checkbox", id: "defence-" + d.name });
    box.checked = d.on;
    box.addEventListener("change", () => {
      if (v.setup.bft) {
        // BFT mode's proofs work as a whole: every defence or none, from the start.
        replayWith(box.checked ? "all" : "none");
        return;
      }
      const on = v.setup.defences.filter((x) => (x.name === d.name ? box.checked : x.on)).map((x) => x.name);
      act("D" + (on.length ? on.join("_") : "none"));
    });
    list.append(el("label", { title: `${d.what} (answers ${d.answers})` }, box, " " + d.name));
  }
}

// The same actions from the start, with `defences` from the first step.
function replayWith(defences) {
  const q = new URLSearchParams(view.query);
  q.set("defences", defences);
  q.set("a", (q.get("a") || "").split(".").filter((c) => c && !c.startsWith("D")).join("."));
  load("/api/state?" + q, true);
}

function options(sel, n) {
  const keep = sel.value;
  sel.replaceChildren(...Array.from({ length: n }, (_, i) => el("option", { value: i }, "node " + i)));
  if (keep && keep < n) sel.value = keep;
}

function render(v) {
  const lt = $("#lesson-text");
  lt.hidden = !v.lesson;
  lt.textContent = v.lesson ? `${v.lesson.title}: ${v.lesson.text}` : "";
  if (v.lesson) $("#lesson").value = v.lesson.name;
  const b = $("#banner");
  b.hidden = !v.violation;
  b.textContent = v.violation
    ? `VIOLATION at position ${v.violation.pos}: ${v.violation.text}` + (v.violation.cause ? ` — caused by ${v.violation.cause}` : "")
    : "";
  $("#clock").textContent = `t = ${v.now} · ${v.actions} actions · ${v.flying.length} in flight`;
  const inv = $("#invariants");
  inv.replaceChildren(...["agreement", "validity", "stability"].map((k) =>
    el("span", { class: v.invariants[k] ? "ok" : "bad", id: "inv-" + k }, `${k}: ${v.invariants[k] ? "holds" : "BROKEN"}`)));
  $("#detected").textContent = v.detected.length ? "flagged: node " + v.detected.join(", node ") : "nobody flagged";
  renderDefences(v);
  $("#nodes").replaceChildren(...v.members.map(renderNode));
  $("#flying").replaceChildren(...v.flying.map(renderFlying));
  $("#chart-svg").innerHTML = v.chart_svg;
  const log = $("#trace");
  log.textContent = v.trace.join("\n");
  log.scrollTop = log.scrollHeight;
  $("#command").textContent = v.command + (v.sim_command ? "\n" + v.sim_command + "   # the whole run, in the simulator" : "");
  $("#export-svg").href = "/export.svg?" + v.query;
  $("#export-mmd").href = "/export.mmd?" + v.query;
  $("#permalink").href = "?" + v.query;
  const f = $("#setup");
  f.nodes.value = v.setup.nodes;
  f.bft.value = String(v.setup.bft);
  f.attack.value = v.setup.attack || "";
  f.attacker.value = v.setup.attacker ?? 0;
  f.seed.value = v.setup.seed;
  for (const s of ["#req-node", "#cut-a", "#cut-b"]) options($(s), v.members.length);
  $("#req-value").value = "v" + v.actions;
}

async function init() {
  const lessons = await (await fetch("/api/lessons")).json();
  for (const l of lessons) $("#lesson").append(el("option", { value: l.name }, l.title));
  for (const a of ["SAFETY", "LIVENESS", "BALLOT_OVERFLOW", "PREMATURE_COMMIT", "FORGERY", "REPLAY", "IGNORE_PREPARED", "STALE_PREPARED"]) {
    $("#attack").append(el("option", { value: a }, a));
  }
  $("#lesson").addEventListener("change", (e) => e.target.value && load("/api/state?lesson=" + e.target.value, true));
  $("#setup").addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const q = new URLSearchParams({ nodes: f.get("nodes"), seed: f.get("seed"), a: "" });
    if (f.get("bft") === "true") q.set("bft", "true");
    if (f.get("attack")) { q.set("attack", f.get("attack")); q.set("attacker", f.get("attacker")); }
    q.set("defences", view ? view.setup.defences.filter((d) => d.on).map((d) => d.name).join("_") || "none" : "none");
    load("/api/state?" + q, true);
  });
  $("#next").addEventListener("click", () => act("n"));
  $("#tick").addEventListener("click", () => act("t"));
  for (const u of ["commit", "flag", "violation"]) {
    $("#until-" + u).addEventListener("click", () => load(`/api/until?${view.query}&until=${u}`, true));
  }
  $("#find").addEventListener("click", () => load("/api/find?" + view.query, true));
  $("#undo").addEventListener("click", () => history.back());
  $("#replay").addEventListener("click", () => {
    // The same actions, with the defences now ticked on from the start.
    const on = view.setup.defences.filter((d) => d.on).map((d) => d.name);
    replayWith(on.length ? on.join("_") : "none");
  });
  $("#request").addEventListener("click", () => act(`p${$("#req-node").value}:${$("#req-value").value}`));
  $("#cut").addEventListener("click", () => act(`c${$("#cut-a").value}-${$("#cut-b").value}`));
  $("#heal").addEventListener("click", () => act("h"));
  window.addEventListener("popstate", () => load("/api/state" + location.search, false));
  // Keys for stepping: n (next step), t (tick), b (back).
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT" || !view) return;
    const keys = { n: () => act("n"), t: () => act("t"), b: () => history.back() };
    if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
  });
  await load("/api/state" + location.search, false);
}

init();

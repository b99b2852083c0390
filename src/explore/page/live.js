// The live page: the coordinator's status of a real cluster, every second.
const $ = (s) => document.querySelector(s);

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
}

function panel(s, id) {
  const attacker = s.attackers.includes(id);
  const state = s.free.includes(id) ? "not started" : s.unreachable.includes(id) ? "UNREACHABLE" : "up";
  const card = el("div", { class: "node" + (attacker ? " attacker" : "") + (state === "up" ? "" : " down"), id: "node-" + id },
    el("h3", {}, `node ${id}` + (attacker ? " — attacker" : "")));
  const facts = el("ul", {}, el("li", {}, state));
  const log = s.logs[id];
  if (log) facts.append(el("li", { class: "log" }, `log (${log.length}): ` + (log.slice(-8).join("  ") || "(empty)")));
  for (const f of s.flagged[id] || []) facts.append(el("li", { class: "flagged" }, `flagged node ${f}`));
  card.append(facts);
  return card;
}

async function refresh() {
  try {
    const r = await fetch("/api/live");
    const s = await r.json();
    $("#error").hidden = r.ok;
    if (!r.ok) { $("#error").textContent = s.error; return; }
    $("#where").textContent = `the cluster of ${s.nodes} nodes at ${s.coordinator}`;
    $("#committed").textContent = `${s.committed} positions committed on every honest node`;
    const a = $("#agreement");
    a.className = s.agreement ? "ok" : "bad";
    a.textContent = s.agreement ? "agreement: holds" : "agreement: BROKEN";
    const b = $("#banner");
    b.hidden = !s.conflict;
    b.textContent = s.conflict ? "VIOLATION: " + JSON.stringify(s.conflict) : "";
    $("#detected").textContent = s.detected.length ? "flagged: node " + s.detected.join(", node ") : "nobody flagged";
    $("#nodes").replaceChildren(...Array.from({ length: s.nodes }, (_, id) => panel(s, id)));
  } catch (e) {
    $("#error").hidden = false;
    $("#error").textContent = "the live page's server does not answer: " + e;
  } finally {
    document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
  }
}

refresh();
setInterval(refresh, 1000);

// medgap error annotation page. Every piece of data is put into the page with textContent (model
// output is untrusted); the token comes from the link's #fragment and travels as a Bearer header.
"use strict";

(() => {
  const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
  const state = { session: null, items: [], index: 0, item: null, showPrelabel: false, finishArmed: false };
  const $ = (id) => document.getElementById(id);

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (!response.ok) {
      let detail = response.statusText;
      try {
        const data = await response.json();
        detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
      } catch (_) { /* not JSON */ }
      throw new ApiError(response.status, detail);
    }
    const type = response.headers.get("content-type") || "";
    return type.includes("json") ? response.json() : response.text();
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function showMessage(text) {
    $("message").textContent = text;
    $("message").hidden = !text;
  }

  const codebook = () => state.session.codebook;
  const byKey = (key) => codebook().find((c) => c.key === key);
  const categoryName = (key) => {
    const c = byKey(key);
    return c ? `${c.name_zh} ${c.name}` : key;
  };
  const isAdjudicator = () => state.session.role === "adjudicator";
  const locked = () => !isAdjudicator() && state.session.finished;
  const canAdjudicate = () => ["needs_adjudication", "adjudicated"].includes(state.item && state.item.status);

  // --------------------------------------------------------------------------- static parts
  function buildCodebook() {
    const box = $("codebook");
    box.replaceChildren();
    const rules = state.session.codebook_rules || { order: [], consequences: [] };
    const how = el("div", null, "codebook-rules");
    const order = el("ol");
    for (const line of rules.order) order.append(el("li", line));
    const consequences = el("ul");
    for (const line of rules.consequences) consequences.append(el("li", line));
    how.append(order, el("p", "Consequences:", "rule"), consequences);
    box.append(how);
    for (const c of codebook()) {
      const entry = el("details", null, "code");
      entry.append(el("summary", `${c.shortcut} ${c.name_zh} ${c.name}`));
      entry.append(el("p", c.definition));
      entry.append(el("p", c.definition_zh));
      entry.append(el("p", `Decision rule: ${c.decision_rule}`, "rule"));
      entry.append(el("p", `例：${c.example_zh}`, "example"));
      box.append(entry);
    }
  }

  function buildButtons() {
    const primary = $("categories");
    const secondary = $("secondary");
    primary.replaceChildren();
    secondary.replaceChildren();
    for (const c of codebook()) {
      const button = el("button", `${c.shortcut} ${c.name_zh} ${c.name}`, "category");
      button.type = "button";
      button.dataset.key = c.key;
      button.title = c.definition;
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", () => choose(c.key));
      primary.append(button);

      const label = el("label", null, "check");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = c.key;
      box.dataset.key = c.key;
      box.addEventListener("change", () => toggleSecondary(c.key, box.checked));
      label.append(box, el("span", `${c.name_zh} ${c.name}`));
      secondary.append(label);
    }
    $("note").addEventListener("change", () => saveCurrent({}));
  }

  // --------------------------------------------------------------------------- rendering
  function renderHeader() {
    const s = state.session;
    $("who").textContent = `${s.name} (${s.role}) · run ${s.run_id} · ${s.model}`;
    const done = isAdjudicator()
      ? `${state.items.filter((i) => i.status === "needs_adjudication").length} to adjudicate`
      : `${state.items.filter((i) => i.labelled).length} / ${state.items.length} labelled${s.finished ? " · finished" : ""}`;
    $("progress").textContent = done;
    $("position").textContent = `${state.index + 1} / ${state.items.length}`;
    $("finish").hidden = isAdjudicator() || s.finished;
    $("export-csv").hidden = !isAdjudicator();
    $("export-jsonl").hidden = !isAdjudicator();
    $("label-title").textContent = isAdjudicator() ? "裁定 Adjudication" : "主要类别 Primary category";
  }

  function renderList() {
    const list = $("item-list");
    list.replaceChildren();
    for (const entry of state.items) {
      const li = el("li");
      const button = el("button", String(entry.index + 1), "item-chip");
      button.type = "button";
      button.dataset.index = String(entry.index);
      if (entry.labelled) button.classList.add("labelled");
      if (entry.status) button.classList.add(`status-${entry.status}`);
      button.title = [entry.dimension, entry.kind, entry.status].filter(Boolean).join(" · ");
      if (entry.index === state.index) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => go(entry.index));
      li.append(button);
      list.append(li);
    }
  }

  function fillList(id, values) {
    const list = $(id);
    list.replaceChildren(...values.map((v) => el("li", v)));
    $(`${id}-box`).hidden = values.length === 0;
  }

  function renderItem() {
    const item = state.item;
    $("meta").textContent = `#${item.index + 1} · ${item.task} · ${item.dimension} ${item.dimension_zh} · ${item.kind} · ${item.sample_id}` +
      (item.permutation ? ` · order ${item.permutation}` : "");
    $("question").textContent = item.question;
    $("context").textContent = item.context || "";
    $("context-box").hidden = !item.context;
    const options = $("options");
    options.replaceChildren();
    for (const option of item.options) {
      const li = el("li", `${option.letter}. ${option.text}`, option.gold ? "gold-option" : "");
      options.append(li);
    }
    $("options-box").hidden = item.options.length === 0;
    $("gold").textContent = goldText(item);
    $("response").textContent = item.response;
    const scoring = [];
    if (item.extracted !== null && item.extracted !== undefined) scoring.push(`extracted: ${item.extracted}`);
    if (item.options.length && item.extracted === null) scoring.push("extracted: none (no answer found)");
    if (item.score !== null && item.score !== undefined) scoring.push(`score: ${Number(item.score).toFixed(2)}`);
    if (item.recall !== null && item.recall !== undefined) scoring.push(`key-point recall: ${Number(item.recall).toFixed(2)}`);
    $("scoring").textContent = scoring.join(" · ");
    fillList("missed", item.missed);
    fillList("hallucinated", item.hallucinated);
    renderPrelabel();
    renderLabel();
    renderReveal();
  }

  function goldText(item) {
    const gold = item.gold;
    if (gold.letters && gold.letters.length) return `答案 ${gold.letters.join("")}`;
    const parts = [];
    if (gold.text) parts.push(gold.text);
    if (gold.key_points && gold.key_points.length && !gold.text) parts.push(gold.key_points.map((p) => `• ${p}`).join("\n"));
    if (gold.structure) parts.push(gold.structure);
    return parts.join("\n\n") || "（无参考答案）";
  }

  function renderPrelabel() {
    const box = $("prelabel");
    box.replaceChildren();
    const pre = state.item.prelabel;
    $("prelabel-box").hidden = !state.showPrelabel;
    $("toggle-prelabel").setAttribute("aria-pressed", String(state.showPrelabel));
    $("toggle-prelabel").textContent = state.showPrelabel ? "隐藏预标注 (h)" : "显示预标注 (h)";
    if (!pre) {
      box.append(el("p", "no pre-label"));
      return;
    }
    box.append(el("p", `${categoryName(pre.category)} · ${pre.source}${pre.rule ? ` (${pre.rule})` : ""} · confidence ${pre.confidence}`, `confidence-${pre.confidence}`));
    if (pre.secondary.length) box.append(el("p", `secondary: ${pre.secondary.map(categoryName).join(", ")}`));
    if (pre.rationale) box.append(el("p", pre.rationale, "rationale"));
  }

  function renderLabel() {
    const mine = state.item.mine;
    const disabled = locked() || (isAdjudicator() && !canAdjudicate());
    for (const button of $("categories").querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(Boolean(mine) && mine.category === button.dataset.key));
      button.disabled = disabled;
    }
    for (const box of $("secondary").querySelectorAll("input")) {
      box.checked = Boolean(mine) && mine.secondary.includes(box.dataset.key);
      box.disabled = disabled || !mine || mine.category === box.dataset.key;
    }
    $("note").value = mine ? mine.note : "";
    $("note").disabled = disabled || !mine;
    if (isAdjudicator() && !canAdjudicate()) $("saved").textContent = `No adjudication needed (status: ${state.item.status}).`;
    else if (locked()) $("saved").textContent = "Finished: your labels are locked.";
    else $("saved").textContent = mine ? `Saved: ${categoryName(mine.category)}` : "Not labelled yet.";
  }

  function renderReveal() {
    const item = state.item;
    $("reveal").hidden = !item.revealed;
    if (!item.revealed) return;
    const status = {
      pending: "Pending: not every annotator has labelled this item.",
      agreed: `Consensus (majority): ${categoryName(item.consensus)}`,
      needs_adjudication: "No majority: needs adjudication.",
      adjudicated: `Adjudicated: ${categoryName(item.consensus)}`,
    }[item.status];
    $("status").textContent = status || item.status;
    $("status").className = `status-${item.status}`;
    const others = $("others");
    others.replaceChildren();
    for (const [name, label] of Object.entries(item.labels || {})) {
      let text = `${name}: ${categoryName(label.category)}`;
      if (label.secondary.length) text += ` (+ ${label.secondary.map(categoryName).join(", ")})`;
      if (label.note) text += ` — ${label.note}`;
      others.append(el("li", text));
    }
  }

  async function renderAgreement() {
    if (!isAdjudicator()) return;
    const report = await api("GET", "/api/agreement");
    const list = $("agreement");
    list.replaceChildren();
    const fmt = (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(3));
    const rows = [
      ["items complete", `${report.complete} / ${report.items}`],
      ["Fleiss' κ", fmt(report.fleiss_kappa)],
      ["Krippendorff's α", fmt(report.krippendorff_alpha)],
      ["observed agreement", fmt(report.observed_agreement)],
      ["pre-label accuracy", `${fmt(report.prelabel.accuracy)} (n=${report.prelabel.n})`],
    ];
    for (const [name, value] of rows) list.append(el("dt", name), el("dd", value));
    $("agreement-box").hidden = false;
  }

  // --------------------------------------------------------------------------- actions
  async function refreshSession() {
    [state.session, state.items] = await Promise.all([api("GET", "/api/session"), api("GET", "/api/items")]);
  }

  async function go(index) {
    if (index < 0 || index >= state.items.length) return;
    try {
      state.item = await api("GET", `/api/items/${index}`);
      state.index = index;
      renderHeader();
      renderList();
      renderItem();
      showMessage("");
    } catch (error) {
      showMessage(`Could not load item ${index + 1}: ${error.message}`);
    }
  }

  async function saveCurrent(change) {
    const item = state.item; // the item on screen now: the user may move on while this saves
    const mine = item.mine;
    const category = change.category || (mine && mine.category);
    if (!category) {
      renderLabel();
      showMessage("Choose a primary category first.");
      return;
    }
    const secondary = (change.secondary || (mine ? mine.secondary : [])).filter((key) => key !== category);
    const body = { category, secondary, note: $("note").value };
    const path = `/api/items/${item.index}/${isAdjudicator() ? "adjudication" : "label"}`;
    try {
      item.mine = await api("PUT", path, body);
      state.items[item.index].labelled = true;
      showMessage("");
      if (isAdjudicator()) {
        await refreshSession();
        await go(state.index);
        await renderAgreement();
      } else {
        renderHeader();
        renderList();
        if (state.item === item) renderLabel();
      }
    } catch (error) {
      showMessage(`Not saved: ${error.message}`);
      if (state.item === item) renderLabel();
    }
  }

  function choose(key) {
    if (locked() || (isAdjudicator() && !canAdjudicate())) return;
    saveCurrent({ category: key });
  }

  function toggleSecondary(key, on) {
    const mine = state.item.mine;
    if (!mine) {
      renderLabel();
      return;
    }
    const secondary = mine.secondary.filter((k) => k !== key);
    if (on) secondary.push(key);
    saveCurrent({ secondary });
  }

  async function finish() {
    if (!state.finishArmed) {
      state.finishArmed = true;
      $("finish").textContent = "确认：锁定我的标注 Confirm finish";
      setTimeout(() => {
        state.finishArmed = false;
        $("finish").textContent = "完成并查看他人标注 Finish";
      }, 5000);
      return;
    }
    try {
      await api("POST", "/api/finish");
      await refreshSession();
      await go(state.index);
      showMessage("Finished: your labels are locked; other labels and the consensus are shown.");
    } catch (error) {
      showMessage(`Cannot finish yet: ${error.message}`);
    }
  }

  async function download(format) {
    try {
      const text = await api("GET", `/api/export?format=${format}`);
      const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
      const link = el("a");
      link.href = url;
      link.download = `${state.session.run_id}-labels.${format}`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (error) {
      showMessage(`Export failed: ${error.message}`);
    }
  }

  function togglePrelabel() {
    state.showPrelabel = !state.showPrelabel;
    renderPrelabel();
  }

  function onKey(event) {
    if (!state.item || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLTextAreaElement || target instanceof HTMLInputElement && target.type === "text") return;
    const digit = /^Digit([1-8])$/.exec(event.code) || /^Numpad([1-8])$/.exec(event.code);
    if (digit) {
      const entry = codebook()[Number(digit[1]) - 1];
      event.preventDefault();
      if (event.shiftKey) {
        const mine = state.item.mine;
        if (mine && !locked()) toggleSecondary(entry.key, !mine.secondary.includes(entry.key));
      } else {
        choose(entry.key);
      }
      return;
    }
    const key = event.key.toLowerCase();
    if (key === "n") go(state.index + 1);
    else if (key === "p") go(state.index - 1);
    else if (key === "h") togglePrelabel();
    else return;
    event.preventDefault();
  }

  function firstIndex() {
    const wanted = isAdjudicator()
      ? state.items.find((i) => i.status === "needs_adjudication")
      : state.items.find((i) => !i.labelled);
    return wanted ? wanted.index : 0;
  }

  async function start() {
    if (!token) {
      showMessage("No token in this link: open the link `medgap annotate` printed for you.");
      return;
    }
    try {
      await refreshSession();
    } catch (error) {
      showMessage(error.status === 401 ? "This link's token is not valid (401). Ask for a new link." : `Cannot start: ${error.message}`);
      return;
    }
    buildCodebook();
    buildButtons();
    $("prev").addEventListener("click", () => go(state.index - 1));
    $("next").addEventListener("click", () => go(state.index + 1));
    $("toggle-prelabel").addEventListener("click", togglePrelabel);
    $("finish").addEventListener("click", finish);
    $("export-csv").addEventListener("click", () => download("csv"));
    $("export-jsonl").addEventListener("click", () => download("jsonl"));
    document.addEventListener("keydown", onKey);
    $("toolbar").hidden = false;
    $("app").hidden = false;
    await go(firstIndex());
    await renderAgreement().catch((error) => showMessage(`Agreement: ${error.message}`));
    document.body.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", start);
})();

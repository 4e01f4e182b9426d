(function () {
  "use strict";
  // Renders the rows table from the JSON block. Text is only ever set with textContent:
  // model output and dataset text are never parsed as HTML.
  var PAGE_SIZE = 50;
  var data = JSON.parse(document.getElementById("medgap-data").textContent);
  var body = document.getElementById("rows-body");
  if (!body) { return; }
  var filters = ["run", "dimension", "task", "status", "category"];
  var search = document.getElementById("f-search");
  var page = 0;
  var runNames = {};
  data.runs.forEach(function (run) { runNames[run.id] = run.name; });

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function select(name) { return document.getElementById("f-" + name); }

  function labelOf(name, value) {
    if (name === "run") { return runNames[value] || value; }
    if (name === "dimension") { var d = data.dimensions[value]; return d ? d[0] + " " + d[1] : value; }
    if (name === "status") { var s = data.statuses[value]; return s ? s[0] + " " + s[1] : value; }
    if (name === "category") { return value === "__none__" ? "无标签 unlabelled" : (data.categories[value] || value); }
    return value;
  }

  function fillFilters() {
    filters.forEach(function (name) {
      var box = select(name);
      if (!box) { return; }
      var field = name === "run" ? "run" : name;
      var seen = {};
      data.rows.forEach(function (row) {
        var v = row[field];
        if (name === "category" && !v) { v = "__none__"; }
        if (v !== null && v !== undefined) { seen[v] = true; }
      });
      var values = Object.keys(seen);
      if (name === "status") {
        var order = Object.keys(data.statuses);
        values.sort(function (a, b) { return order.indexOf(a) - order.indexOf(b); });
      } else if (name === "dimension") {
        var dims = Object.keys(data.dimensions);
        values.sort(function (a, b) { return dims.indexOf(a) - dims.indexOf(b); });
      } else {
        values.sort();
      }
      values.forEach(function (v) {
        var option = el("option", null, labelOf(name, v));
        option.value = v;
        box.appendChild(option);
      });
      if (name === "category" && Object.keys(data.categories).length === 0) {
        box.disabled = true;
        box.title = "no error labels in this report";
      }
      box.addEventListener("change", function () { page = 0; render(); });
    });
    if (search) { search.addEventListener("input", function () { page = 0; render(); }); }
    var form = document.getElementById("filters");
    if (form) { form.addEventListener("submit", function (event) { event.preventDefault(); }); }
  }

  function matches(row, wanted, needle) {
    for (var i = 0; i < filters.length; i++) {
      var name = filters[i], want = wanted[name];
      if (!want) { continue; }
      var have = row[name];
      if (name === "category" && !have) { have = "__none__"; }
      if (have !== want) { return false; }
    }
    if (!needle) { return true; }
    var hay = [row.id, row.task, row.question, row.response, row.gold, row.extracted].join("\n").toLowerCase();
    return hay.indexOf(needle) !== -1;
  }

  function cell(tr, className, text) { var td = el("td", className, text); tr.appendChild(td); return td; }

  function textBlock(parent, text, className) {
    parent.appendChild(el("div", className || "text", text));
  }

  function listBlock(parent, title, items) {
    if (!items || (Array.isArray(items) && items.length === 0)) { return; }
    var text = Array.isArray(items) ? items.map(function (x) { return "• " + x; }).join("\n") : items;
    parent.appendChild(el("div", "more", title + "\n" + text));
  }

  function rowNode(row) {
    var tr = el("tr", "row");
    tr.tabIndex = 0;
    tr.setAttribute("aria-expanded", "false");
    tr.dataset.status = row.status;
    var item = cell(tr);
    item.appendChild(el("div", "id", row.id));
    item.appendChild(el("div", "sub", "order " + row.perm + (data.runs.length > 1 ? " · " + labelOf("run", row.run) : "")));
    var where = cell(tr);
    var dim = data.dimensions[row.dimension];
    where.appendChild(el("div", "", dim ? dim[0] : row.dimension));
    if (dim) { where.title = dim[0] + " " + dim[1]; }
    where.appendChild(el("div", "sub", row.task + " · " + row.kind));
    var question = cell(tr);
    textBlock(question, row.question);
    if (row.options) { question.appendChild(el("div", "more", row.options)); }
    var gold = cell(tr);
    textBlock(gold, row.gold || "–");
    var response = cell(tr);
    textBlock(response, row.response || (row.error ? "" : "(empty)"));
    if (row.error) { response.appendChild(el("div", "sub", "error: " + row.error)); }
    listBlock(response, "covered key points 覆盖要点", row.covered);
    listBlock(response, "missed key points 遗漏要点", row.missed);
    cell(tr, "", row.extracted === null || row.extracted === undefined ? "–" : row.extracted);
    cell(tr, "", row.score === null || row.score === undefined ? "–" : (Math.round(row.score * 1000) / 1000));
    var result = cell(tr);
    result.appendChild(el("span", "badge " + row.status, labelOf("status", row.status)));
    cell(tr, "", row.category ? labelOf("category", row.category) : "–");
    function toggle() {
      var open = tr.classList.toggle("open");
      tr.setAttribute("aria-expanded", open ? "true" : "false");
    }
    tr.addEventListener("click", toggle);
    tr.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); toggle(); }
    });
    return tr;
  }

  function render() {
    var wanted = {};
    filters.forEach(function (name) { var box = select(name); wanted[name] = box ? box.value : ""; });
    var needle = search ? search.value.trim().toLowerCase() : "";
    var shown = data.rows.filter(function (row) { return matches(row, wanted, needle); });
    var pages = Math.max(1, Math.ceil(shown.length / PAGE_SIZE));
    page = Math.min(page, pages - 1);
    var start = page * PAGE_SIZE;
    var slice = shown.slice(start, start + PAGE_SIZE);
    while (body.firstChild) { body.removeChild(body.firstChild); }
    if (slice.length === 0) {
      var tr = el("tr");
      var td = el("td", "empty", "没有符合条件的题目 · No rows match these filters");
      td.colSpan = 9;
      tr.appendChild(td);
      body.appendChild(tr);
    }
    slice.forEach(function (row) { body.appendChild(rowNode(row)); });
    var range = shown.length ? (start + 1) + "–" + (start + slice.length) : "0";
    document.getElementById("rows-count").textContent =
      "显示 " + range + " / " + shown.length + " 条 · showing " + range + " of " + shown.length +
      (shown.length !== data.rows.length ? " (filtered from " + data.rows.length + ")" : "");
    document.getElementById("page").textContent = (page + 1) + " / " + pages;
    document.getElementById("prev").disabled = page === 0;
    document.getElementById("next").disabled = page >= pages - 1;
  }

  document.getElementById("prev").addEventListener("click", function () { page -= 1; render(); });
  document.getElementById("next").addEventListener("click", function () { page += 1; render(); });
  fillFilters();
  render();
})();

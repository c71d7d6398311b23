// tuneplan's page: the recommend form (generated from /api/schema) and the rules view with its editor.
// Plain DOM, no framework, no build step. Text from the server is set with textContent, never as HTML.
"use strict";

// -- small helpers ------------------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// A server listening beyond this machine prints its URL with "#token=..." (a fragment: never sent over
// the network by the browser); the page keeps it for this server and sends it with every POST.
const TOKEN_KEY = "tuneplan-token";

function takeToken() {
  const match = /^#token=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (!match) return;
  try { sessionStorage.setItem(TOKEN_KEY, match[1]); } catch (err) { /* storage off: POSTs will say why */ }
  history.replaceState(null, "", location.pathname + location.search);
}

function token() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch (err) { return null; }
}

async function api(path, body, options) {
  const headers = {"Content-Type": "application/json"};
  if (token()) headers["X-Tuneplan-Token"] = token();
  const init = body === undefined ? {} : {method: "POST", headers, body: JSON.stringify(body)};
  if (options && options.signal) init.signal = options.signal;
  const response = await fetch(path, init);
  let data;
  try {
    data = await response.json();
  } catch (err) {
    data = {error: `HTTP ${response.status}: the answer is not JSON`, problems: []};
  }
  return {ok: response.ok, status: response.status, data};
}

function fmt(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(+value.toFixed(2));
  return String(value);
}

function usd(value) {
  return value === null || value === undefined ? "—" : `$${Number(value).toFixed(2)}`;
}

// -- recommend page -------------------------------------------------------------------------------------
const GROUPS = [  // how the form is laid out; facts the schema adds later land in "More"
  ["Model and method", ["model", "model_params_b", "method", "precision", "lora_rank", "seq_len", "batch_size",
                        "gradient_checkpointing", "new_model"]],
  ["Hardware, time and money", ["gpu", "gpu_count", "budget_usd", "train_hours", "dataset_tokens", "epochs",
                                "preemptible_ok", "serverless", "platform"]],
  ["People and goals", ["experience", "priority", "interface", "tool", "alignment", "deploy", "merge_adapters",
                        "team", "compliance"]],
];

function fieldControl(fact) {
  const id = `f-${fact.name}`;
  const given = fact.default === null || fact.default === undefined ? null : fmt(fact.default);
  if (fact.type === "enum" || fact.type === "catalog" || fact.type === "bool") {
    const values = fact.type === "bool" ? ["true", "false"] : fact.values;
    const select = el("select", {id, name: fact.name});
    select.append(el("option", {value: "", text: given === null ? "— not given —" : `default (${given})`}));
    for (const value of values) select.append(el("option", {value, text: value}));
    return select;
  }
  const input = el("input", {
    id, name: fact.name, type: "number", inputmode: "decimal",
    step: fact.type === "integer" ? "1" : "any",
    min: fact.minimum ?? fact.min_exclusive ?? null, max: fact.maximum ?? null,
    placeholder: given === null ? "not given" : `default ${given}`,
  });
  return input;
}

function fieldFor(fact) {
  const unit = fact.unit ? el("span", {class: "unit", text: fact.unit}) : null;
  const range = [];
  if (fact.min_exclusive !== null && fact.min_exclusive !== undefined) range.push(`> ${fact.min_exclusive}`);
  if (fact.minimum !== null && fact.minimum !== undefined) range.push(`≥ ${fact.minimum}`);
  if (fact.maximum !== null && fact.maximum !== undefined) range.push(`≤ ${fact.maximum}`);
  return el("div", {class: "field", "data-fact": fact.name},
    el("label", {for: `f-${fact.name}`}, el("code", {text: fact.name}), unit),
    fieldControl(fact),
    el("small", {class: "desc", text: fact.description + (range.length ? ` (${range.join(", ")})` : "")}));
}

function buildForm(facts) {
  const host = document.getElementById("fields");
  host.replaceChildren();
  const byName = new Map(facts.map((f) => [f.name, f]));
  const placed = new Set();
  const groups = GROUPS.map(([title, names]) => [title, names.filter((n) => byName.has(n))]);
  groups.push(["More", facts.map((f) => f.name).filter((n) => !GROUPS.some(([, ns]) => ns.includes(n)))]);
  for (const [title, names] of groups) {
    if (!names.length) continue;
    const set = el("fieldset", {class: "group"}, el("legend", {text: title}));
    for (const name of names) {
      set.append(fieldFor(byName.get(name)));
      placed.add(name);
    }
    host.append(set);
  }
}

function formConstraints(form) {
  const constraints = {};
  for (const control of form.querySelectorAll("select, input")) {
    if (control.value !== "") constraints[control.name] = control.value;
  }
  return constraints;
}

function fillForm(form, params) {
  const extra = {};
  for (const [name, value] of params) {
    const control = form.elements.namedItem(name);
    if (control && "value" in control) {
      control.value = value;
      if (control.value !== value) extra[name] = value;  // a value the select does not offer: send it anyway
    } else {
      extra[name] = value;
    }
  }
  return extra;
}

function markField(name, message) {
  for (const node of document.querySelectorAll(".field.invalid")) {
    node.classList.remove("invalid");
    node.querySelector(".error-text")?.remove();
  }
  const field = name && document.querySelector(`.field[data-fact="${CSS.escape(name)}"]`);
  if (field) {
    field.classList.add("invalid");
    field.append(el("small", {class: "error-text", text: message}));
  }
}

function decisionRows(rec) {
  const hw = rec.hardware || {};
  const platform = rec.platform || {};
  const cost = rec.cost || {};
  const mem = rec.memory || {};
  const dep = rec.deployment || {};
  const because = (d) => (d && d.because ? d.because.join("; ") : "");
  const budget = cost.within_budget === null || cost.within_budget === undefined ? "" :
    cost.within_budget ? ` — within the budget of ${usd(cost.budget_usd)}` : ` — over the budget of ${usd(cost.budget_usd)}`;
  return [
    ["Tool", rec.tool?.choice, because(rec.tool)],
    ["Method", rec.method?.choice, because(rec.method)],
    ["GPU", hw.gpu ? `${hw.count ?? 1} × ${hw.gpu}` : null,
     hw.vram_gib ? `${fmt(hw.vram_gib)} GiB each; ${fmt(hw.per_gpu_gib)} GiB needed per GPU, ` +
                   `${fmt(hw.headroom_gib)} GiB headroom` : ""],
    ["Platform", platform.choice, platform.price_per_gpu_hour_usd !== undefined ?
      `${usd(platform.price_per_gpu_hour_usd)}/GPU-hour (${platform.price_tier}, as of ${platform.price_as_of}); ` +
      because(platform) : because(platform)],
    ["Peak memory", mem.peak_gib !== undefined ? `${fmt(mem.peak_gib)} GiB` : null,
     mem.per_gpu_gib !== undefined ? `${fmt(mem.per_gpu_gib)} GiB per GPU (${mem.setup?.method}, ` +
       `${mem.setup?.precision}, seq_len ${mem.setup?.seq_len}, batch ${mem.setup?.batch_size})` : ""],
    ["Cost", cost.total_usd !== null && cost.total_usd !== undefined ? usd(cost.total_usd) : null,
     cost.hours !== null && cost.hours !== undefined ? `${fmt(cost.hours)} h (${cost.hours_how})${budget}` :
       `not estimated: ${cost.hours_how || "give train_hours or dataset_tokens"}`],
    ["Workflow", rec.workflow?.id, because(rec.workflow)],
    ["Export", dep.export, because(dep.decisions?.export)],
    ["Serve", dep.serve, because(dep.decisions?.serve)],
    ["Merge", dep.merge, because(dep.decisions?.merge)],
  ];
}

function alternativesOf(rec) {
  const dep = rec.deployment?.decisions || {};
  return [
    ["tool", rec.tool], ["method", rec.method], ["gpu", {...rec.hardware, choice: rec.hardware?.gpu}],
    ["platform", rec.platform], ["workflow", {...rec.workflow, choice: rec.workflow?.id}],
    ["export", dep.export], ["serve", dep.serve], ["merge", dep.merge],
  ].filter(([, d]) => d && (d.ranking || d.excluded));
}

function whyNotSection(rec) {
  const section = el("section", {id: "why-not"}, el("h3", {text: "Alternatives and why not"}));
  for (const [name, decision] of alternativesOf(rec)) {
    const rows = [];
    for (const option of decision.ranking || []) {
      if (option.id === decision.choice) continue;
      rows.push(el("tr", {}, el("td", {}, el("code", {text: option.id})), el("td", {class: "num", text: fmt(option.score)}),
        el("td", {}, el("ul", {}, (option.why_not || ["ranked lower"]).map((t) => el("li", {text: t}))))));
    }
    for (const option of decision.excluded || []) {
      rows.push(el("tr", {class: "excluded"}, el("td", {}, el("code", {text: option.id})),
        el("td", {class: "num", text: "excluded"}),
        el("td", {}, el("ul", {}, (option.because || []).map((t) => el("li", {text: t}))))));
    }
    if (!rows.length) continue;
    section.append(el("details", {class: "alt", "data-decision": name},
      el("summary", {}, el("b", {text: name}), ` — chose `, el("code", {text: decision.choice ?? "nothing"}),
        el("span", {class: "muted", text: ` · ${rows.length} alternative${rows.length === 1 ? "" : "s"}`})),
      el("table", {class: "grid"}, el("thead", {}, el("tr", {}, el("th", {text: "option"}), el("th", {text: "score"}),
        el("th", {text: "why not"}))), el("tbody", {}, rows))));
  }
  return section;
}

function renderRecommendation(data) {
  const rec = data.recommendation;
  const result = document.getElementById("result");
  const link = el("button", {type: "button", class: "secondary", id: "copy-link", onclick: async (event) => {
    try {
      await navigator.clipboard.writeText(location.href);
      event.target.textContent = "Link copied";
    } catch (err) {
      event.target.textContent = "Copy the address bar";
    }
  }}, "Copy link");
  const blocked = data.blocked.length ? el("p", {class: "banner error"},
    `No ${data.blocked.join(", ")} satisfies these constraints; see the warnings and the alternatives.`) : null;
  const answer = el("table", {class: "grid answer", id: "answer"},
    el("tbody", {}, decisionRows(rec).map(([label, value, why]) => el("tr", {"data-row": label.toLowerCase()},
      el("th", {text: label}), el("td", {class: "choice"}, value ? el("b", {text: value}) : el("span", {class: "muted", text: "none"})),
      el("td", {class: "why", text: why || ""})))));
  const steps = rec.workflow?.steps?.length ? el("section", {id: "steps"}, el("h3", {text: "Workflow"}),
    el("ol", {}, rec.workflow.steps.map((s) => el("li", {text: s})))) : null;
  const warnings = el("section", {id: "warnings"}, el("h3", {text: `Warnings (${rec.warnings.length})`}),
    rec.warnings.length ? el("ul", {class: "warnings"}, rec.warnings.map((w) => el("li", {class: `level-${w.level}`},
      el("span", {class: `badge ${w.level === "info" ? "info" : "warn"}`, text: w.level}), " ", w.message,
      el("div", {class: "src", text: `${w.id} · source: ${w.source}`})))) : el("p", {class: "muted", text: "none"}));
  let graphBody;
  if (data.svg) {
    const url = URL.createObjectURL(new Blob([data.svg], {type: "image/svg+xml"}));
    const img = el("img", {id: "graph-img", class: "fit", src: url, alt: "decision graph",
      title: "click to zoom to full size, click again to fit"});
    img.addEventListener("click", () => img.classList.toggle("fit"));
    graphBody = el("div", {class: "graph-wrap"}, img);
  } else {
    graphBody = el("p", {class: "muted", text: data.graph_error || "no graph"});
  }
  const graph = el("details", {id: "graph", class: "graph"},
    el("summary", {}, "Decision graph ", el("span", {class: "muted small", text: "click it to zoom · "}),
      el("a", {href: data.graph_url, target: "_blank", rel: "noopener", class: "small", text: "open in a new tab"}),
      el("span", {class: "muted small", text: " · "}),
      el("a", {href: data.full_graph_url, target: "_blank", rel: "noopener", class: "small",
        text: "every rule and check"})),
    graphBody);
  const reasons = el("details", {id: "reasons"}, el("summary", {text: `Reasons: ${rec.trace.fired.length} rules fired`}),
    el("table", {class: "grid"}, el("thead", {}, el("tr", {}, el("th", {text: "stage"}), el("th", {text: "rule"}),
      el("th", {text: "because"}), el("th", {text: "source"}))),
      el("tbody", {}, rec.trace.fired.map((f) => el("tr", {}, el("td", {text: f.stage}),
        el("td", {}, el("code", {text: f.rule}), f.entry ? el("span", {class: "muted", text: ` (${f.entry})`}) : null),
        el("td", {text: f.because}), el("td", {class: "src", text: f.source}))))));
  const configs = el("details", {id: "configs"}, el("summary", {text: "Ready-to-run config files"}),
    el("div", {id: "config-files", class: "muted", text: "loading…"}));
  configs.addEventListener("toggle", async () => {
    if (!configs.open || configs.dataset.loaded) return;
    configs.dataset.loaded = "1";
    const box = document.getElementById("config-files");
    const {ok, data: out} = await api(data.emit_url);
    if (!ok) { box.textContent = out.error || "no config files"; return; }
    box.className = "";
    box.replaceChildren(
      el("p", {class: "muted small", text: `for ${out.tool}; fill in what is marked FILL-IN (RUN.md lists it)`}),
      el("div", {class: "actions"}, out.files.map((f) => el("a", {
        class: "button", download: f.name, "data-file": f.name,
        href: URL.createObjectURL(new Blob([f.text], {type: "text/plain"}))}, f.name))),
      el("pre", {class: "config-preview", text: out.files[0].text}));
  });
  result.replaceChildren(
    el("div", {class: "result-head"}, el("h2", {text: "Recommendation"}),
      el("div", {class: "actions"}, el("a", {class: "button", id: "download-md", href: data.markdown_url,
        download: "tuneplan-recommendation.md"}, "Download markdown"), link)),
    ...[blocked, answer, warnings, steps, rec.plan ? configs : null, graph, whyNotSection(rec), reasons]
      .filter(Boolean));
}

async function recommend(form, extra) {
  const result = document.getElementById("result");
  const constraints = {...formConstraints(form), ...(extra || {})};
  const query = new URLSearchParams(Object.entries(constraints).sort(([a], [b]) => a.localeCompare(b)));
  history.replaceState(null, "", query.toString() ? `/?${query}` : "/");
  result.classList.add("busy");
  markField(null);
  try {
    const {ok, data} = await api("/api/recommend", constraints);
    if (!ok) {
      markField(data.fact, data.error);
      const problems = (data.problems || []).map((p) => el("li", {text: `${p.file}:${p.line}:${p.col}: ${p.message}`}));
      result.replaceChildren(el("div", {class: "banner error", id: "error", role: "alert"}, data.error,
        problems.length ? el("ul", {}, problems) : null));
      return;
    }
    renderRecommendation(data);
  } catch (err) {
    result.replaceChildren(el("div", {class: "banner error", id: "error", text: `The server did not answer: ${err}`}));
  } finally {
    result.classList.remove("busy");
  }
}

async function initRecommend() {
  const form = document.getElementById("constraints");
  const {ok, data} = await api("/api/schema");
  if (!ok) {
    document.getElementById("fields").replaceChildren(el("div", {class: "banner error", text: data.error},
      el("ul", {}, (data.problems || []).map((p) => el("li", {text: `${p.file}:${p.line}:${p.col}: ${p.message}`})))));
    return;
  }
  buildForm(data.facts);
  const params = new URLSearchParams(location.search);
  const extra = fillForm(form, params);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    recommend(form);
  });
  document.getElementById("reset").addEventListener("click", () => {
    form.reset();
    history.replaceState(null, "", "/");
    markField(null);
  });
  if ([...params.keys()].length) recommend(form, extra);
}

// -- rules page -----------------------------------------------------------------------------------------
const editor = {
  path: null, saved: "", sha256: null, allowEdit: false, seq: 0, timer: null, controller: null,
  problems: [], findings: [], checkedText: null, rulesData: null,
  baseline: null,  // keys of the lint findings of the saved text: the rest are new, caused by the edit
};

function findingKey(f) {
  return `${f.file}|${f.lint_id}|${(f.rules || []).join(",")}|${f.message}`;  // no line: lines shift as one types
}

function setStatus(text, kind) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = `status ${kind || ""}`;
}

function renderRulebase(data) {
  const side = document.getElementById("rulebase");
  const nodes = [];
  if (data.problems.length) {
    nodes.push(el("div", {class: "banner error"}, `The saved rules have ${data.problems.length} problem(s):`,
      el("ul", {}, data.problems.map((p) => el("li", {}, data.files.includes(p.file) ?
        fileLink(p.file, p.line, `${p.file}:${p.line}:${p.col}`) : `${p.file}:${p.line}:${p.col}`, `: ${p.message}`)))));
  }
  if (data.scenarios) {
    const s = data.scenarios;
    nodes.push(el("p", {class: "summary", id: "coverage"},
      `${s.rules_fired} of ${s.rules_defined} rules fired by ${s.count} scenario tests`,
      s.failures.length ? el("span", {class: "badge error", text: `${s.failures.length} failing`}) : null));
  }
  for (const ruleset of data.rulesets) {
    nodes.push(el("details", {class: "ruleset", open: true, "data-ruleset": ruleset.name},
      el("summary", {}, el("b", {text: ruleset.name}), " ", el("span", {class: "badge stage", text: ruleset.stage}), " ",
        fileLink(ruleset.file, 1, ruleset.file)),
      el("p", {class: "desc", text: ruleset.description}),
      el("ul", {class: "rules"}, ruleset.rules.map((rule) => el("li", {class: "rule", "data-rule": rule.id},
        el("div", {class: "rule-head"}, fileLink(ruleset.file, rule.line, rule.id, "rule-link"),
          el("span", {class: `fired ${rule.fired ? "" : "never"}`, title: "scenario tests that fire this rule",
            text: rule.fired ? `fired ×${rule.fired}` : "never fired"})),
        el("div", {class: "desc", text: rule.description}),
        el("div", {class: "src", text: `source: ${rule.source}`}))))));
  }
  const others = data.files.filter((f) => !data.rulesets.some((r) => r.file === f));
  if (others.length) {
    nodes.push(el("details", {class: "ruleset", open: true}, el("summary", {}, el("b", {text: "Catalogs and tests"})),
      el("ul", {class: "files"}, others.map((f) => {
        const catalog = data.catalogs.find((c) => c.file === f);
        return el("li", {}, fileLink(f, 1, f), catalog ? el("span", {class: "muted", text: ` · ${catalog.entries} entries`}) : null);
      }))));
  }
  side.replaceChildren(...nodes);
}

function fileLink(file, line, label, cls) {
  return el("a", {href: `#${file}:${line}`, class: cls || "file-link", "data-file": file, "data-line": line,
    text: label, onclick: (event) => {
      event.preventDefault();
      openFile(file, line);
    }});
}

async function loadRulebase() {
  const {ok, data} = await api("/api/rules");
  if (!ok) {
    document.getElementById("rulebase").replaceChildren(el("div", {class: "banner error", text: data.error}));
    return;
  }
  editor.rulesData = data;
  editor.allowEdit = data.allow_edit;
  renderRulebase(data);
}

async function openFile(path, line) {
  const text = document.getElementById("text");
  if (editor.path && editor.path !== path && text.value !== editor.saved &&
      !confirm(`Discard the unsaved changes to ${editor.path}?`)) return;
  if (editor.path !== path) {
    const {ok, data} = await api(`/api/file?path=${encodeURIComponent(path)}`);
    if (!ok) {
      setStatus(data.error, "error");
      return;
    }
    editor.path = data.path;
    editor.saved = data.text;
    editor.sha256 = data.sha256;
    text.value = data.text;
    document.getElementById("file-name").textContent = data.path;
    for (const id of ["editor", "editor-actions", "findings"]) document.getElementById(id).hidden = false;
    document.getElementById("diff").hidden = true;
    const banner = document.getElementById("edit-banner");
    banner.hidden = editor.allowEdit;
    banner.textContent = "Saving is off on this server: try changes here and see check, lint and the diff; " +
      "to save, start it with `tuneplan serve --allow-edit`.";
    onEdit(true);
  }
  history.replaceState(null, "", `#${path}:${line || 1}`);
  goToLine(line || 1);
}

function goToLine(line) {
  const text = document.getElementById("text");
  const lines = text.value.split("\n");
  const target = Math.max(1, Math.min(line, lines.length));
  let offset = 0;
  for (let i = 0; i < target - 1; i++) offset += lines[i].length + 1;
  text.focus({preventScroll: true});
  text.setSelectionRange(offset, offset);
  const lineHeight = parseFloat(getComputedStyle(text).lineHeight) || 20;
  text.scrollTop = Math.max(0, (target - 4) * lineHeight);
  syncScroll();
}

function syncScroll() {
  const text = document.getElementById("text");
  document.getElementById("marks").style.transform = `translate(${-text.scrollLeft}px, ${-text.scrollTop}px)`;
  document.getElementById("gutter").scrollTop = text.scrollTop;
}

function renderGutter() {
  const text = document.getElementById("text");
  const count = text.value.split("\n").length;
  const byLine = new Map();
  for (const item of currentItems()) {
    if (item.file !== editor.path) continue;
    const worst = byLine.get(item.line);
    if (!worst || item.level === "error") byLine.set(item.line, item);
  }
  const gutter = document.getElementById("gutter");
  const rows = [];
  for (let i = 1; i <= count; i++) {
    const item = byLine.get(i);
    rows.push(el("div", {class: item ? `ln ${item.level}` : "ln", title: item ? item.message : null, text: i}));
  }
  rows.push(el("div", {class: "ln pad"}));  // room for a horizontal scroll bar
  gutter.replaceChildren(...rows);
  const marks = document.getElementById("marks");
  const lineHeight = parseFloat(getComputedStyle(text).lineHeight) || 20;
  const padTop = parseFloat(getComputedStyle(text).paddingTop) || 0;
  marks.replaceChildren(...[...byLine.values()].map((item) => {
    const mark = el("div", {class: `mark ${item.level}`});
    mark.style.top = `${padTop + (item.line - 1) * lineHeight}px`;
    mark.style.height = `${lineHeight}px`;
    return mark;
  }));
  syncScroll();
}

function currentItems() {
  const problems = editor.problems.map((p) => ({...p, kind: "check", level: "error", fresh: true}));
  const findings = editor.findings.map((f) => ({...f, kind: f.lint_id,
    fresh: editor.baseline !== null && !editor.baseline.has(findingKey(f))}));
  // what the edit caused comes first; the findings the saved file already had follow
  findings.sort((a, b) => Number(b.fresh) - Number(a.fresh));
  return [...problems, ...findings];
}

function renderFindings() {
  const list = document.getElementById("findings-list");
  const mine = [];
  const others = [];
  for (const item of currentItems()) {
    // check problems anywhere block a save, so they are always shown; other files' lint findings fold away
    (item.file === editor.path || item.kind === "check" ? mine : others).push(item);
  }
  const row = (item) => el("li", {class: `finding ${item.level}`, "data-line": item.line, "data-kind": item.kind,
    onclick: () => (item.file === editor.path ? goToLine(item.line) : openFile(item.file, item.line))},
    el("span", {class: `badge ${item.level}`, text: item.level}), " ",
    item.fresh && item.kind !== "check" ? el("span", {class: "badge new", text: "new"}) : null, " ",
    el("code", {class: "where", text: `${item.file}:${item.line}:${item.col}`}), " ",
    el("b", {text: item.kind}), item.rules && item.rules.length ? ` (${item.rules.join(", ")})` : "", `: ${item.message}`,
    item.fix ? el("div", {class: "fix", text: `fix: ${item.fix}`}) : null);
  list.replaceChildren(...(mine.length ? mine.map(row) : [el("li", {class: "finding ok", text: "No problem and no lint finding in this file."})]));
  const details = document.getElementById("other-findings");
  details.hidden = !others.length;
  details.querySelector("summary").textContent = `${others.length} lint finding(s) in other files`;
  details.querySelector("ul").replaceChildren(...others.map(row));
}

function updateButtons() {
  const text = document.getElementById("text");
  const dirty = text.value !== editor.saved;
  document.getElementById("dirty").hidden = !dirty;
  const save = document.getElementById("save-btn");
  const checked = editor.checkedText === text.value;
  save.disabled = !editor.allowEdit || !dirty || !checked || editor.problems.length > 0;
  save.title = !editor.allowEdit ? "saving needs `tuneplan serve --allow-edit`" :
    editor.problems.length ? "fix the check problems first" : !dirty ? "nothing changed" : "";
  document.getElementById("diff-btn").disabled = !dirty || editor.problems.length > 0;
  document.getElementById("revert-btn").disabled = !dirty;
}

function onEdit(immediately) {
  updateButtons();
  renderGutter();
  clearTimeout(editor.timer);
  setStatus("checking…", "busy");
  editor.timer = setTimeout(runLint, immediately ? 0 : 400);
}

async function runLint() {
  const text = document.getElementById("text").value;
  const seq = ++editor.seq;
  if (editor.controller) editor.controller.abort();
  editor.controller = new AbortController();
  try {
    const {ok, data} = await api("/api/lint", {path: editor.path, text}, {signal: editor.controller.signal});
    if (seq !== editor.seq) return;  // a newer edit is being checked
    if (!ok) {
      setStatus(data.error, "error");
      return;
    }
    editor.problems = data.problems;
    editor.findings = data.findings;
    editor.checkedText = text;
    if (text === editor.saved) editor.baseline = new Set(data.findings.map(findingKey));
    const here = data.findings.filter((f) => f.file === editor.path).length;
    setStatus(data.problems.length ? `check: ${data.problems.length} problem(s) — cannot be saved` :
      `check ok · lint: ${here} finding(s) in this file`, data.problems.length ? "error" : "ok");
    renderFindings();
    renderGutter();
    updateButtons();
  } catch (err) {
    if (err.name !== "AbortError") setStatus(`The server did not answer: ${err}`, "error");
  }
}

function renderDiff(data, withConfirm) {
  const panel = document.getElementById("diff");
  panel.hidden = false;
  const lists = [["rules added", data.rules_added], ["rules removed", data.rules_removed],
    ["rules changed", data.rules_changed], ["catalog entries changed", data.entries_changed]]
    .filter(([, ids]) => ids.length).map(([label, ids]) => el("li", {}, `${label}: `, el("code", {text: ids.join(", ")})));
  const fieldText = (name, change) => {
    if (Array.isArray(change.old) || Array.isArray(change.new)) {  // lists (warnings): what went, what came
      const before = change.old || [];
      const after = change.new || [];
      const gone = before.filter((x) => !after.includes(x));
      const came = after.filter((x) => !before.includes(x));
      return `${name}: ${[...gone.map((x) => `− ${x}`), ...came.map((x) => `+ ${x}`)].join("; ")}`;
    }
    return `${name}: ${fmt(change.old)} → ${fmt(change.new)}`;
  };
  const rows = data.changes.map((c, i) => el("tr", {}, el("td", {class: "num", text: i + 1}), el("td", {text: c.case}),
    el("td", {class: "small", text: Object.entries(c.constraints).map(([k, v]) => `${k}=${fmt(v)}`).join(", ")}),
    el("td", {}, el("ul", {}, Object.entries(c.fields).map(([k, v]) => el("li", {text: fieldText(k, v)})))),
    el("td", {class: "small", text: [...c.fired_only_old.map((r) => `${r} (fired only before)`),
      ...c.fired_only_new.map((r) => `${r} (fired only after)`), ...c.changed_rules.map((r) => `${r} (changed)`)]
      .join(", ") || "—"})));
  const nodes = [el("h3", {text: "Diff of recommendations: saved → edited"}),
    el("p", {class: `summary ${data.changed ? "changed" : ""}`, id: "diff-summary", text: data.summary}),
    lists.length ? el("ul", {}, lists) : null];
  if (rows.length) {
    nodes.push(el("div", {class: "scroll"}, el("table", {class: "grid", id: "diff-table"},
      el("thead", {}, el("tr", {}, ["#", "case", "constraints", "what changed", "rules responsible"].map((h) => el("th", {text: h})))),
      el("tbody", {}, rows))));
  }
  if (withConfirm) {
    nodes.push(el("div", {class: "actions"},
      el("button", {type: "button", id: "confirm-save", onclick: save}, `Save ${editor.path}`),
      el("button", {type: "button", class: "secondary", onclick: () => { panel.hidden = true; }}, "Cancel")));
  }
  panel.replaceChildren(...nodes);
  panel.scrollIntoView({block: "nearest"});
}

async function showDiff(withConfirm) {
  const text = document.getElementById("text").value;
  const panel = document.getElementById("diff");
  panel.hidden = false;
  panel.replaceChildren(el("p", {class: "muted", text: "Replaying the scenarios and the built-in grid through both rule bases…"}));
  const {ok, data} = await api("/api/diff", {path: editor.path, text});
  if (document.getElementById("text").value !== text) return;  // edited meanwhile: the diff is stale
  if (!ok) {
    panel.replaceChildren(el("div", {class: "banner error", text: data.error}));
    return;
  }
  renderDiff(data, withConfirm);
}

async function save() {
  const text = document.getElementById("text").value;
  const {ok, status, data} = await api("/api/save", {path: editor.path, text, base_sha256: editor.sha256});
  if (!ok) {
    if (status === 422) {
      editor.problems = data.problems;
      renderFindings();
      renderGutter();
    }
    setStatus(data.error, "error");
    return;
  }
  editor.saved = text;
  editor.sha256 = data.sha256;
  document.getElementById("confirm-save")?.remove();
  document.getElementById("diff-summary")?.before(el("p", {class: "banner ok", id: "saved-note",
    text: `Saved ${data.saved} (${data.bytes} bytes). The diff below is what this save changed.`}));
  setStatus(`saved ${data.saved}`, "ok");
  updateButtons();
  onEdit(true);  // the saved text's findings become the new baseline
  loadRulebase();
}

async function initRules() {
  const text = document.getElementById("text");
  text.addEventListener("input", () => onEdit(false));
  text.addEventListener("scroll", syncScroll);
  text.addEventListener("keydown", (event) => {
    if (event.key === "Tab" && !event.shiftKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();  // YAML wants spaces; keep focus in the editor
      document.execCommand("insertText", false, "  ");
    }
  });
  document.getElementById("diff-btn").addEventListener("click", () => showDiff(false));
  document.getElementById("save-btn").addEventListener("click", () => showDiff(true));
  document.getElementById("revert-btn").addEventListener("click", () => {
    text.value = editor.saved;
    document.getElementById("diff").hidden = true;
    onEdit(true);
  });
  window.addEventListener("beforeunload", (event) => {
    if (editor.path && text.value !== editor.saved) event.preventDefault();
  });
  await loadRulebase();
  const match = /^#(.+?)(?::(\d+))?$/.exec(decodeURIComponent(location.hash));
  if (match) openFile(match[1], Number(match[2] || 1));
}

document.addEventListener("DOMContentLoaded", () => {
  takeToken();
  if (document.body.dataset.page === "recommend") initRecommend();
  else if (document.body.dataset.page === "rules") initRules();
});

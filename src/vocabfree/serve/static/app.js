// vocabfree web page: choose/drop/paste an image, POST it to /v1/classify and /v1/caption, draw the answers.
// Plain browser JavaScript, no build step. Server text is always inserted with textContent (never as HTML).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("form"), drop = $("drop"), fileInput = $("file"), preview = $("preview");
  const submit = $("submit"), statusLine = $("status"), errorBox = $("error");
  const modelSelect = $("model"), labelsInput = $("labels"), topK = $("top_k");
  let chosen = null; // the File to send
  let models = [];

  // URLs are relative so the page also works behind a reverse proxy under a sub-path (/vocabfree/).
  const api = (path) => new URL(path, document.baseURI).toString();

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function setImage(file) {
    if (!file) return;
    if (file.type && !file.type.startsWith("image/")) {
      showError(`"${file.name}" is not an image (${file.type}).`);
      return;
    }
    chosen = file;
    showError("");
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    drop.classList.add("has-image");
    submit.disabled = false;
    statusLine.textContent = `${file.name || "pasted image"} · ${(file.size / 1024).toFixed(0)} KB`;
  }

  fileInput.addEventListener("change", () => setImage(fileInput.files[0]));
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); fileInput.click(); }
  });
  ["dragenter", "dragover"].forEach((type) => drop.addEventListener(type, (e) => {
    e.preventDefault();
    drop.classList.add("dragging");
  }));
  ["dragleave", "dragend", "drop"].forEach((type) => drop.addEventListener(type, () => {
    drop.classList.remove("dragging");
  }));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    setImage(e.dataTransfer && e.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (e) => {
    const item = [...(e.clipboardData ? e.clipboardData.items : [])].find((i) => i.type.startsWith("image/"));
    if (item) setImage(item.getAsFile());
  });

  async function post(path, data) {
    const response = await fetch(api(path), { method: "POST", body: data });
    let body = null;
    try { body = await response.json(); } catch (_) { /* not JSON: a proxy error page */ }
    if (!response.ok) {
      const detail = body && body.detail ? body.detail : `HTTP ${response.status}`;
      const err = new Error(detail);
      err.code = body && body.error;
      err.status = response.status;
      throw err;
    }
    return body;
  }

  function formData(withLabels) {
    const data = new FormData();
    data.append("file", chosen, chosen.name || "image.png");
    if (modelSelect.value) data.append("model", modelSelect.value);
    if (withLabels) {
      data.append("labels", labelsInput.value);
      data.append("top_k", topK.value || "5");
    }
    return data;
  }

  function renderPredictions(result) {
    const list = $("predictions");
    list.replaceChildren();
    $("mode").textContent = result.mode;
    const best = Math.max(...result.predictions.map((p) => p.score), 1e-9);
    for (const p of result.predictions) {
      const li = document.createElement("li");
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = p.label;
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = `${(100 * p.score).toFixed(1)}%`;
      const track = document.createElement("div");
      track.className = "track";
      const fill = document.createElement("div");
      fill.className = "fill";
      // Bars are scaled to the best score so small probabilities stay comparable; the text is exact.
      fill.style.width = `${(100 * p.score) / best}%`;
      track.append(fill);
      li.append(label, score, track);
      list.append(li);
    }
    const evidence = $("evidence");
    evidence.replaceChildren();
    for (const c of result.captions || []) {
      const li = document.createElement("li");
      const sim = document.createElement("span");
      sim.className = "sim";
      sim.textContent = ` (${c.similarity.toFixed(3)})`;
      li.append(document.createTextNode(c.text), sim);
      evidence.append(li);
    }
    $("evidence-block").hidden = !(result.captions && result.captions.length);
  }

  function renderCaption(outcome) {
    const el = $("caption");
    if (outcome.status === "fulfilled") {
      el.textContent = outcome.value.caption;
      el.title = outcome.value.method === "retrieved" ? "nearest caption in the database" : "generated";
      el.classList.remove("unavailable");
    } else {
      el.textContent = outcome.reason.code === "not_configured"
        ? "Captioning is not configured on this server."
        : `No caption: ${outcome.reason.message}`;
      el.classList.add("unavailable");
    }
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!chosen) { showError("Choose an image first."); return; }
    showError("");
    submit.disabled = true;
    statusLine.textContent = "Thinking…";
    const started = performance.now();
    const [classified, captioned] = await Promise.allSettled([
      post("v1/classify", formData(true)),
      post("v1/caption", formData(false)),
    ]);
    submit.disabled = false;
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    if (classified.status === "rejected") {
      $("results").hidden = true;
      statusLine.textContent = "";
      showError(classified.reason.message);
      return;
    }
    renderPredictions(classified.value);
    renderCaption(captioned);
    $("results").hidden = false;
    statusLine.textContent = `Answered in ${seconds} s by ${classified.value.model}.`;
  });

  async function loadModels() {
    try {
      const response = await fetch(api("v1/models"));
      models = (await response.json()).models || [];
    } catch (_) {
      showError("Cannot reach the server.");
      return;
    }
    modelSelect.replaceChildren(...models.map((m) => {
      const option = document.createElement("option");
      option.value = m.name;
      option.textContent = m.name + (m.default ? " (default)" : "");
      return option;
    }));
    const updateHint = () => {
      const m = models.find((x) => x.name === modelSelect.value);
      $("labels-hint").textContent = m && !m.vocabulary_free
        ? "(comma-separated; required: this server has no caption database)"
        : "(comma-separated; leave empty for vocabulary-free)";
    };
    modelSelect.addEventListener("change", updateHint);
    updateHint();
    $("server-info").textContent = `${models.length} model${models.length === 1 ? "" : "s"} loaded`;
  }

  loadModels();
})();

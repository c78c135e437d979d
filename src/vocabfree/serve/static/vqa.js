// vocabfree web page, question box: POST the chosen image (the preview's blob) and the question to /v1/vqa.
// Separate from app.js so the VQA part stays self-contained. Server text is inserted with textContent only.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const api = (path) => new URL(path, document.baseURI).toString();
  const answer = $("vqa-answer"), error = $("vqa-error"), button = $("vqa-submit");

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  $("vqa-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const question = $("vqa-question").value.trim();
    const preview = $("preview");
    if (!preview || preview.hidden || !preview.src) { showError("Choose an image first."); return; }
    if (!question) { showError("Type a question."); return; }
    showError("");
    answer.textContent = "Thinking…";
    button.disabled = true;
    try {
      const blob = await (await fetch(preview.src)).blob();
      const data = new FormData();
      data.append("file", blob, "image");
      data.append("question", question);
      const response = await fetch(api("v1/vqa"), { method: "POST", body: data });
      let body = null;
      try { body = await response.json(); } catch (_) { /* not JSON */ }
      if (!response.ok) {
        throw new Error(body && body.detail ? body.detail : `HTTP ${response.status}`);
      }
      answer.textContent = `${body.question} → ${body.answer}`;
      answer.title = `answered by ${body.model}`;
    } catch (err) {
      answer.textContent = "";
      showError(`No answer: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  });
})();

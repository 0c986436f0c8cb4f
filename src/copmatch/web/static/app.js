// copmatch pages: a little plain JavaScript, only where live updates help. Every page works
// without it (the forms post normally); with it, Ask and feedback update in place and a
// rebuild's progress is shown live.
"use strict";

function formBody(form, submitter) {
  const data = new FormData(form, submitter || undefined);
  data.set("fragment", "true");
  return new URLSearchParams(data);
}

async function postFragment(form, submitter) {
  const response = await fetch(form.action, {
    method: "POST",
    body: formBody(form, submitter),
    credentials: "same-origin",
    headers: { Accept: "text/html" },
  });
  return { ok: response.ok, status: response.status, html: await response.text() };
}

function setupAsk() {
  const form = document.getElementById("ask-form");
  const answer = document.getElementById("answer");
  if (!form || !answer) return;
  const button = document.getElementById("ask-button");
  const busy = document.getElementById("ask-busy");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const started = performance.now();
    button.disabled = true;
    busy.hidden = false;
    try {
      const result = await postFragment(form, null);
      if (result.status === 401 || result.status === 403) {
        form.submit(); // the server's page says what is wrong (sign in again, ...)
        return;
      }
      answer.innerHTML = result.html;
      answer.getBoundingClientRect(); // layout done: the answer is on screen from here
      // The time from pressing Ask to the rendered answer, read by the benchmark.
      document.body.dataset.askMs = (performance.now() - started).toFixed(2);
      document.body.dataset.asked = String(Number(document.body.dataset.asked || 0) + 1);
    } catch (error) {
      form.submit();
    } finally {
      button.disabled = false;
      busy.hidden = true;
    }
  });
  const question = document.getElementById("question");
  question.addEventListener("keydown", (event) => {
    // Ctrl/Cmd+Enter asks, as in chat tools; Enter alone keeps a pasted question's lines.
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
}

function setupFeedback() {
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("feedback")) return;
    event.preventDefault();
    const result = await postFragment(form, event.submitter);
    if (!result.ok) {
      form.submit();
      return;
    }
    const done = document.createElement("div");
    done.innerHTML = result.html;
    form.replaceWith(done);
  });
}

function setupJob() {
  const job = document.getElementById("job");
  if (!job || job.dataset.status !== "running") return;
  const status = document.getElementById("job-status");
  const step = document.getElementById("job-step");
  const bar = document.getElementById("job-progress");
  const result = document.getElementById("job-result");
  const button = document.getElementById("rebuild-button");
  const poll = async () => {
    let data;
    try {
      const response = await fetch(`/admin/jobs/${encodeURIComponent(job.dataset.jobId)}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error(String(response.status));
      data = await response.json();
    } catch (error) {
      result.textContent = `Lost contact with the server (${error.message}); reload to retry.`;
      return;
    }
    job.dataset.status = data.status;
    status.textContent = data.status;
    step.textContent = data.progress.step || "";
    const task = data.progress.step ? data.progress.tasks[data.progress.step] : null;
    if (task && task.total) {
      bar.max = task.total;
      bar.value = task.done;
    } else {
      bar.removeAttribute("value"); // indeterminate while a step has no known size
    }
    if (data.status === "running") {
      setTimeout(poll, 400);
      return;
    }
    button.disabled = false;
    if (data.status === "succeeded") {
      bar.max = 1;
      bar.value = 1;
      result.textContent = `Now serving ${data.result.version}.`;
      const served = document.getElementById("served-version");
      if (served) served.textContent = data.current;
    } else {
      result.textContent = data.error || "The rebuild failed.";
    }
  };
  poll();
}

document.addEventListener("DOMContentLoaded", () => {
  setupAsk();
  setupFeedback();
  setupJob();
});

// upload.js — owns the upload page's progress: sends the form as a job, shows its state, opens the result.
// Progressive enhancement: without this module the form posts and waits, as before.
import { escapeHtml } from "./escape.js";
import { errorMessage, followJob } from "./jobs.js";

const POLL_MS = 700;
const STAGES = {  // job stage -> [label, progress-bar value]
  uploading: ["上传中", 0],
  queued: ["排队中", 32],
  loading: ["准备中（载入规划图层）", 40],
  reading: ["读取文件中", 50],
  analysing: ["分析中（叠加规划图层）", 68],
  saving: ["保存中", 92],
  done: ["完成，正在打开结果", 100],
};

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

/** The bilingual message of an error answer, else one that names the HTTP status. */
function messageOf(body, status) {
  return errorMessage(body, "上传失败（HTTP " + status + "），请稍后重试 / the upload failed (HTTP " + status + "); try again");
}

function parseJson(text) {
  try { return JSON.parse(text); } catch (e) { return null; }
}

function setup(form) {
  const panel = document.getElementById("ov-progress");
  const errorBox = document.getElementById("ov-error");
  const button = form.querySelector("button[type=submit]");
  if (!panel || !errorBox || !button || !window.fetch || !window.FormData) return;
  const title = panel.querySelector(".ov-progress-title");
  const state = document.getElementById("ov-progress-state");
  const clock = document.getElementById("ov-progress-time");
  const bar = document.getElementById("ov-progress-bar");
  const cancel = document.getElementById("ov-cancel");
  let run = null;  // the upload in flight: {xhr, url, timer, started, stopped}

  function show(stage, extra) {
    const [label, value] = STAGES[stage] || [stage, bar.value];
    state.textContent = extra ? label + "（" + extra + "）" : label;
    panel.setAttribute("data-stage", stage);
    if (value > bar.value) bar.value = value;
  }

  function tick() {
    if (!run) return;
    clock.textContent = "已用时 " + Math.floor((Date.now() - run.started) / 1000) + " 秒";
  }

  function stop(message) {
    if (run) { window.clearInterval(run.timer); run.stopped = true; }
    run = null;
    panel.hidden = true;
    button.disabled = false;
    if (message) {
      errorBox.textContent = message;
      errorBox.hidden = false;
      errorBox.focus();
    }
  }

  function poll(current) {
    const alive = () => run === current && !current.stopped;
    followJob(current.url, {
      pollMs: POLL_MS, alive, fallback: (status) => messageOf(null, status),
      onUpdate: (job) => {
        if (job.state === "queued") show("queued", job.position ? "第 " + job.position + " 位" : "");
        else show(job.stage || "reading");
      },
    }).then((job) => {
      if (!job || !alive()) return;
      if (!job.page) { stop(messageOf(job, 200)); return; }
      show("done");
      window.location.assign(job.page);
    }, (err) => { if (alive()) stop(err.message); });
  }

  function accepted(current, xhr) {
    const body = parseJson(xhr.responseText);
    if (xhr.status !== 202 || !body || !body.url) { stop(messageOf(body, xhr.status)); return; }
    current.url = body.url;
    show(body.state === "queued" ? "queued" : body.stage || "reading",
      body.position ? "第 " + body.position + " 位" : "");
    poll(current);
  }

  form.addEventListener("submit", (event) => {
    if (run || !form.checkValidity()) return;
    event.preventDefault();
    const data = new FormData(form);
    const file = data.get("file");
    const xhr = new XMLHttpRequest();
    const current = { xhr, url: null, started: Date.now(), stopped: false, timer: 0 };
    run = current;
    errorBox.hidden = true;
    button.disabled = true;
    bar.value = 0;
    title.innerHTML = "正在处理 <b>" + escapeHtml(file && file.name ? file.name : "") + "</b>";
    panel.hidden = false;
    show("uploading");
    tick();
    current.timer = window.setInterval(tick, 250);
    xhr.open("POST", "/api/overlay?async=1");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => {
      if (run === current && e.lengthComputable) {
        const pct = Math.round((100 * e.loaded) / e.total);
        show("uploading", pct + "%");
        bar.value = Math.min(30, Math.round(pct * 0.3));
      }
    });
    xhr.addEventListener("load", () => { if (run === current) accepted(current, xhr); });
    xhr.addEventListener("error", () => {
      if (run === current) stop("网络连接中断，上传未完成，请重试 / the connection dropped; the upload did not finish");
    });
    xhr.send(data);
  });

  cancel.addEventListener("click", async () => {
    const current = run;
    if (!current) return;
    current.stopped = true;
    if (!current.url) { current.xhr.abort(); stop("已取消上传 / the upload was cancelled"); return; }
    state.textContent = "正在取消…";
    try {
      const response = await fetch(current.url, {
        method: "DELETE", credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRF-Token": csrfToken() },
      });
      const body = parseJson(await response.text());
      if (response.ok && body && body.state === "done" && body.page) { window.location.assign(body.page); return; }
    } catch (e) {
      // the job may still end by itself; the form is usable again either way
    }
    stop("已取消，未保存任何结果 / cancelled; nothing was saved");
  });
}

const form = document.querySelector("form.ov-form");
if (form) setup(form);

// admin-layers.js — the /admin/layers import form: upload through the job pool, poll the job, show the result.
// Every text from the server (file names, messages, warnings) goes through escapeHtml.
import { escapeHtml } from "./planview/escape.js";
import { errorMessage, followJob } from "./planview/jobs.js";

const form = document.getElementById("layer-import");
const box = document.getElementById("li-status");
const button = document.getElementById("li-submit");
const POLL_MS = 1000;
const STATES = { queued: "排队中", running: "导入中", done: "已完成", failed: "失败", cancelled: "已取消" };

function show(kind, html) {
  box.className = kind === "error" ? "au-error" : "au-ok";
  box.innerHTML = html;
}

function summaryHtml(s) {
  const warnings = (s.warnings || []).map((w) => `<li>${escapeHtml(w)}</li>`).join("");
  return `<p id="li-done">已导入 <a href="/api/layers/${encodeURIComponent(s.id)}">${escapeHtml(s.id)}</a>
    v${escapeHtml(s.version)}：${escapeHtml(Number(s.features).toLocaleString("zh-CN"))} 个要素，
    来自 ${escapeHtml(s.file)}（SHA-256 <code>${escapeHtml(String(s.sha256).slice(0, 12))}…</code>，
    坐标系 ${escapeHtml((s.crs && s.crs.label) || "")}）。</p>
    ${warnings ? `<p>提示：</p><ul>${warnings}</ul>` : ""}
    <p><a href="/admin/layers">刷新图层列表</a></p>`;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const token = data.get("csrf_token");
  data.delete("csrf_token");
  button.disabled = true;
  show("ok", "上传中…");
  try {
    const r = await fetch("/api/admin/layers", {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "X-CSRF-Token": token, Prefer: "respond-async", Accept: "application/json" },
    });
    const body = await r.json().catch(() => ({}));
    if (r.status !== 202) throw new Error(errorMessage(body, `导入失败（HTTP ${r.status}）`));
    const job = await followJob(body.url, {
      pollMs: POLL_MS, fallback: (status, j) => (j && STATES[j.state]) || `查询任务失败（HTTP ${status}）`,
      onUpdate: (j) => show("ok", `${escapeHtml(STATES[j.state] || j.state)}…（已用 ${escapeHtml(j.elapsed_s)} 秒）`),
    });
    show("ok", summaryHtml(job.summary || {}));
  } catch (err) {
    show("error", escapeHtml(err.message));
  } finally {
    button.disabled = false;
  }
});

// jobs.js — owns following a job of the server's pool (GET /api/jobs/{id}) until it ends, and reading the
// bilingual message of an error answer. The upload page and the admin's layer import both use it.

/** The message of an error answer ({"message": …} or {"error": {"message": …}}), else `fallback`. */
export function errorMessage(body, fallback) {
  if (body && typeof body.message === "string") return body.message;
  if (body && body.error && typeof body.error.message === "string") return body.error.message;
  return fallback;
}

/** A job that failed, was cancelled, or whose status could not be read; `message` says why (plain text). */
export class JobFailed extends Error {
  constructor(message, job) {
    super(message);
    this.job = job;
  }
}

/**
 * Poll the job at `url` every `pollMs` until it ends. Resolves with the finished job (state "done"), or with
 * null as soon as `alive()` is false (the page gave up on it); rejects with JobFailed when the job failed or
 * was cancelled, or its status answer is an error (`fallback(status, job)` when it carries no message).
 * `onUpdate(job)` sees each queued/running state on the way; a dropped connection is simply tried again.
 */
export async function followJob(url, { pollMs, fallback, onUpdate = () => {}, alive = () => true }) {
  for (;;) {
    await new Promise((resolve) => window.setTimeout(resolve, pollMs));
    if (!alive()) return null;
    let response;
    try {
      response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    } catch (e) {
      continue;
    }
    const job = await response.json().catch(() => null);
    if (!alive()) return null;
    if (!response.ok || !job || job.state === "failed" || job.state === "cancelled") {
      throw new JobFailed(errorMessage(job, fallback(response.status, job)), job);
    }
    if (job.state === "done") return job;
    onUpdate(job);
  }
}

// notices.js — owns the notice box over the map: layers that failed to load, basemap warnings.
import { cssEscape } from "./escape.js";

function parts() {
  const el = document.getElementById("pv-notice");
  return { el, list: el ? el.querySelector("ul") : null };
}

/** Show (or update) the notice line `key` with plain text. */
export function addNotice(key, text) {
  const { el, list } = parts();
  if (!el || !list) return;
  const failed = window.planview.failed;
  if (failed.indexOf(key) < 0) failed.push(key);
  const existing = list.querySelector('[data-key="' + cssEscape(key) + '"]');
  if (existing) { existing.textContent = text; return; }
  const li = document.createElement("li");
  li.setAttribute("data-key", key);
  li.textContent = text;
  list.appendChild(li);
  el.hidden = false;
}

export function removeNotice(key) {
  const { el, list } = parts();
  if (!list) return;
  const li = list.querySelector('[data-key="' + cssEscape(key) + '"]');
  if (li) li.parentNode.removeChild(li);
  if (!list.children.length) el.hidden = true;
}

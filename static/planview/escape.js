// escape.js — owns all text escaping: data strings to HTML text, CSS colours, CSS selectors.
// Every other module that puts data into HTML (popups, tooltips, legend, panel) uses these.

const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;", "=": "&#61;" };

/** Text -> HTML-safe text (also safe inside quoted attributes). */
export function escapeHtml(value) {
  if (value === null || value === undefined) return "";
  return String(value).replace(/[&<>"'`=]/g, (c) => ENTITIES[c]);
}

const SAFE_COLOR = /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}|rgba?\(\s*[0-9.,%\s]+\))$/;

/** A CSS colour that cannot carry markup (manifests are data, maybe hostile). */
export function safeColor(value, fallback) {
  return typeof value === "string" && SAFE_COLOR.test(value) ? value : fallback || "#3366cc";
}

/** A string as a CSS attribute-selector value. */
export function cssEscape(s) {
  return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, "\\$&");
}

/** Lines of text as a <div> of text nodes (never parsed as HTML). */
export function textNode(lines) {
  const div = document.createElement("div");
  lines.forEach((line, i) => {
    if (i) div.appendChild(document.createElement("br"));
    div.appendChild(document.createTextNode(String(line)));
  });
  return div;
}

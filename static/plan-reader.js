// plan-reader.js — the plan reader (/plans/{plan}): on a phone the table of contents starts
// folded, and following one of its entries folds it again so the text is in view; a link to a
// clause inside a folded block (专栏1's verbatim rows) unfolds it.
const details = document.getElementById("pv-toc-details");
const narrow = window.matchMedia("(max-width: 800px)");
if (details) {
  if (narrow.matches) details.open = false;
  details.addEventListener("click", (e) => {
    if (e.target && e.target.tagName === "A" && narrow.matches) details.open = false;
  });
}

function revealTarget() {
  const id = decodeURIComponent(window.location.hash.slice(1));
  const el = id ? document.getElementById(id) : null;
  const fold = el ? el.closest("details.pv-verbatim") : null;
  if (fold && !fold.open) {
    fold.open = true;
    el.scrollIntoView();
  }
}
revealTarget();
window.addEventListener("hashchange", revealTarget);

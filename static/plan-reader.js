// plan-reader.js — the plan reader (/plans/{plan}): on a phone the table of contents starts
// folded, and following one of its entries folds it again so the text is in view.
const details = document.getElementById("pv-toc-details");
if (details) {
  const narrow = window.matchMedia("(max-width: 800px)");
  if (narrow.matches) details.open = false;
  details.addEventListener("click", (e) => {
    if (e.target && e.target.tagName === "A" && narrow.matches) details.open = false;
  });
}

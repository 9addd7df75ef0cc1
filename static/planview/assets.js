// assets.js — owns loading what the first view does without: vendored classic scripts and stylesheets,
// added to the page once each when a module loaded after the map is drawn needs them.

const loading = {}; // url -> promise

function add(url, make) {
  if (!loading[url]) {
    loading[url] = new Promise((resolve, reject) => {
      const el = make();
      el.onload = () => resolve();
      el.onerror = () => { delete loading[url]; reject(new Error("未能加载 " + url)); };
      document.head.appendChild(el);
    });
  }
  return loading[url];
}

/** A classic script (a Leaflet plugin that sets up L.*), loaded once. */
export function loadScript(src) {
  return add(src, () => Object.assign(document.createElement("script"), { src }));
}

/** A stylesheet, loaded once. */
export function loadStyle(href) {
  return add(href, () => Object.assign(document.createElement("link"), { rel: "stylesheet", href }));
}

// format.js — owns how a feature reads as text: names, attribute values, targets, and the
// popup / side-panel card (attributes, plan quote, citation, provenance). Escapes via escape.js.
import { escapeHtml } from "./escape.js";

export const SCHEMATIC_LABEL = "示意范围";
const STANDARD_FIELDS = { quote: true, source: true };

export function isBlank(v) {
  return v === null || v === undefined || v === "" || (Array.isArray(v) && v.length === 0);
}

export function formatTarget(t) {
  // {indicator, value, unit, year} as the layer format describes targets
  const parts = [];
  if (t.indicator) parts.push(String(t.indicator));
  parts.push(isBlank(t.value) ? "未给出" : String(t.value) + (t.unit ? " " + t.unit : ""));
  let text = parts.join("：");
  if (t.year) text += "（" + t.year + "年）";
  return text;
}

function objectText(o) {
  return Object.keys(o).map((k) => {
    const x = o[k];
    return k + "：" + (isBlank(x) ? "—" : typeof x === "object" ? JSON.stringify(x) : String(x));
  }).join("；");
}

/** A cell value as escaped HTML: lists become lists, objects key: value. */
export function formatValueHtml(v) {
  if (isBlank(v)) return '<span class="pv-null">—</span>';
  if (typeof v === "boolean") return v ? "是" : "否";
  if (Array.isArray(v)) {
    const objects = v.every((x) => x && typeof x === "object" && !Array.isArray(x));
    if (objects) {
      return "<ul>" + v.map((x) => {
        const text = x.indicator !== undefined ? formatTarget(x) : objectText(x);
        return "<li>" + escapeHtml(text) + "</li>";
      }).join("") + "</ul>";
    }
    return escapeHtml(v.map((x) => (isBlank(x) ? "—" : String(x))).join("、"));
  }
  if (typeof v === "object") return escapeHtml(objectText(v));
  return escapeHtml(v);
}

/** The display name of a feature (plain text; escape before it reaches HTML). */
export function featureName(lc, props) {
  let name = props[lc.label_field];
  if (isBlank(name)) name = props.name;
  return isBlank(name) ? "（未命名）" : String(name);
}

export function isSchematic(props) {
  return !!props && props.precision === "schematic";
}

// located: a point from a cited source; host: the plan names only the unit it is in
const PLACED_LABEL = { located: "引据点位", host: "仅知所在区域" };
const PLACED_TITLE = { located: "位置取自所引地名点，见定位依据", host: "规划只写所在区域，标记在该区域驻地，圈为不确定范围" };

/** "located" or "host" for a feature placed only that precisely, else null. */
export function placedKind(props) {
  return props && Object.prototype.hasOwnProperty.call(PLACED_LABEL, props.precision) ? props.precision : null;
}

const featureExtras = [];

/** Let another module add a section to every feature card: fn(lc, props, full) -> escaped HTML or "". */
export function addFeatureExtra(fn) {
  featureExtras.push(fn);
}

/** The popup / side-panel body for one feature: attributes, quote, citation, provenance. */
export function featureHtml(lc, props, full) {
  let html = '<div class="pv-feature-card">';
  html += '<div class="pv-card-layer">' + escapeHtml(lc.title) + "</div>";
  html += '<h3 class="pv-card-title">' + escapeHtml(featureName(lc, props)) + "</h3>";
  const placed = placedKind(props);
  if (isSchematic(props)) {
    html += '<span class="pv-badge pv-badge-schematic" title="规划未给出边界，位置与范围为示意">' +
      SCHEMATIC_LABEL + "</span>";
  } else if (placed) {
    html += '<span class="pv-badge pv-badge-schematic pv-badge-' + placed + '" title="' + PLACED_TITLE[placed] + '">' +
      PLACED_LABEL[placed] + "</span>";
  }
  let rows = "";
  const fields = lc.popup_fields || {};
  Object.keys(fields).forEach((key) => {
    if (STANDARD_FIELDS[key] || key === lc.label_field) return;
    if (!full && isBlank(props[key])) return;
    rows += "<tr><th>" + escapeHtml(fields[key]) + "</th><td>" + formatValueHtml(props[key]) + "</td></tr>";
  });
  if (rows) html += '<table class="pv-attrs">' + rows + "</table>";
  if (!isBlank(props.quote)) {
    html += '<blockquote class="pv-quote"><span class="pv-quote-label">' +
      escapeHtml(fields.quote || "规划原文") + "</span>“" + escapeHtml(props.quote) + "”</blockquote>";
  }
  if (!isBlank(props.source)) {
    html += '<p class="pv-cite">' + escapeHtml(fields.source || "出处") + "：" + escapeHtml(props.source) + "</p>";
  }
  if (isSchematic(props) || placed) {
    const basis = isBlank(props.placement_basis) ? "" : escapeHtml(props.placement_basis);
    const unc = isBlank(props.uncertainty_m) ? "" : "（位置不确定度约 ±" + escapeHtml(props.uncertainty_m) + " 米）";
    html += '<p class="pv-placement">' + (placed ? "定位依据：" : "示意依据：") + basis + unc + "</p>";
  } else if (full && !isBlank(props.geometry_source || lc.geometry_source)) {
    html += '<p class="pv-placement">边界来源：' + escapeHtml(props.geometry_source || lc.geometry_source) + "</p>";
  }
  featureExtras.forEach((fn) => { html += fn(lc, props, full) || ""; });
  return html + "</div>";
}

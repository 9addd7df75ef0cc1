// firstview.js — owns the modules' access to boot.js (the page head's classic script): zoom buckets, layer
// URLs, permalink parsing and the prefetched first-view responses (fetch-once), from window.planviewBoot.

const boot = window.planviewBoot;

export const { MAX_DATA_ZOOM, BBOX_FROM_ZOOM, mark, bucketFor, layerUrl, parseHash, fitZoom, fetchOnce, pageData } = boot;

// The site's offline copy: a service worker that keeps every file of one
// build in a cache named for that build and answers from it, so a reader who
// opened the page once can open it again with no network. page/offline.js
// registers it once the page is live and the reader idle.
//
// The build fills in BUILD (a digest of every file) and FILES (path and
// digest of each). A new build is a new sw.js: the browser installs it beside
// the old one, which keeps serving open pages until they close, so a page
// never mixes files of two builds. A file whose digest differs (a host caught
// halfway through an update) fails the install; the next visit tries again.
"use strict";
const BUILD = "__WFL_BUILD__";
const FILES = __WFL_FILES__;
const CACHE = "wfl-site-" + BUILD;
const SCOPE = self.registration.scope;

async function hex(buffer) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", buffer));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function keep(cache, [path, digest]) {
  const url = new URL(path, SCOPE).href;
  // Revalidated, so the browser's HTTP cache cannot hand back an older build's file.
  const response = await fetch(url, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  const got = await hex(await response.clone().arrayBuffer());
  if (got.slice(0, digest.length) !== digest) throw new Error(`${path} is not this build's`);
  // The page is kept under the site's address too, the one most links use.
  if (path === "index.html") await cache.put(SCOPE, response.clone());
  await cache.put(url, response);
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    try {
      for (const file of FILES) await keep(cache, file);
    } catch (e) {
      await caches.delete(CACHE);
      throw e;
    }
  })());
});

// Only once no page uses the previous build: then its cache goes.
self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("wfl-site-") && name !== CACHE) await caches.delete(name);
    }
  })());
});

// Every file is static, so a query never selects content (Panel adds ?v= to
// its stylesheets; a link's ?show=... is read by the page). What the cache
// lacks goes to the network.
async function answer(request) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(request, { ignoreSearch: true });
  return hit || fetch(request);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || !request.url.startsWith(SCOPE)) return;
  event.respondWith(answer(request));
});

// Service worker of the field app: precaches every file of the build so that the app opens with
// no connection after the first visit. Generated at build time (vite.config.js); the list and
// the version come from the build.
const VERSION = "989a8fd20562e271"
const FILES = [
  "./",
  "assets/automerge-LjMxZKTS.wasm",
  "assets/index-5iEQFbT-.js",
  "assets/index-BoQn7shE.css",
  "icon.svg",
  "index.html",
  "manifest.webmanifest"
]
const CACHE = "sansang-field-" + VERSION

self.addEventListener("install", event => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then(cache => cache.addAll(FILES.map(f => new Request(f, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  )
})

self.addEventListener("activate", event => {
  event.waitUntil(
    caches
      .keys()
      .then(keys =>
        Promise.all(keys.filter(k => k.startsWith("sansang-field-") && k !== CACHE).map(k => caches.delete(k))),
      )
      .then(() => self.clients.claim()),
  )
})

const scope = new URL(self.registration.scope)
const known = new Set(FILES.map(f => new URL(f, scope).pathname))

self.addEventListener("fetch", event => {
  const request = event.request
  if (request.method !== "GET") return
  const url = new URL(request.url)
  if (url.origin !== scope.origin) return
  let path = url.pathname
  // The app's page under any name inside the scope (/field/, /field/index.html).
  if (request.mode === "navigate" && path.startsWith(scope.pathname)) path = scope.pathname
  if (path === scope.pathname + "index.html") path = scope.pathname
  if (!known.has(path)) return // the API and anything else: the network, untouched
  event.respondWith(
    caches
      .open(CACHE)
      .then(cache => cache.match(path))
      .then(hit => hit || fetch(request)),
  )
})

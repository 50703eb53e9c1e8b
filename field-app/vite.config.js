// The volunteers' field app: built into dist/ (checked in, served by the server at /field/).
// The build is deterministic: same sources and lockfile, byte-identical dist/ (check-dist.sh).
import { defineConfig } from "vite"
import { createHash } from "node:crypto"
import { readFileSync, readdirSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"

const publicDir = fileURLToPath(new URL("./public/", import.meta.url))

/** Writes sw.js: the service worker template with the list of every built file and a cache
 * name derived from their contents, so a new build replaces the old cache. */
function serviceWorker() {
  return {
    name: "sansang-service-worker",
    apply: "build",
    enforce: "post",
    generateBundle(_options, bundle) {
      const files = new Map()
      for (const [name, item] of Object.entries(bundle)) {
        files.set(name, item.type === "chunk" ? item.code : item.source)
      }
      for (const name of readdirSync(publicDir)) {
        files.set(name, readFileSync(publicDir + name))
      }
      const names = [...files.keys()].filter(n => n !== "sw.js").sort()
      const hash = createHash("sha256")
      for (const name of names) {
        hash.update(name + "\0")
        hash.update(files.get(name))
        hash.update("\0")
      }
      const version = hash.digest("hex").slice(0, 16)
      const template = readFileSync(new URL("./src/sw-template.js", import.meta.url), "utf8")
      const source = template
        .replace("__VERSION__", JSON.stringify(version))
        .replace("__FILES__", JSON.stringify(["./", ...names], null, 2))
      this.emitFile({ type: "asset", fileName: "sw.js", source })
    },
  }
}

/** Writes a gzip copy beside each large script, style sheet and wasm file (`X.gz`), which the
 * server sends to browsers that accept gzip: 3.9 MB become 1.2 MB on a phone's first visit.
 * Runs after the service worker's list is made, so the list names only the files themselves. */
function gzipCopies() {
  return {
    name: "sansang-gzip-copies",
    apply: "build",
    enforce: "post",
    generateBundle(_options, bundle) {
      for (const [name, item] of Object.entries(bundle)) {
        if (!name.startsWith("assets/") || !/\.(js|css|wasm)$/.test(name)) continue
        const source = item.type === "chunk" ? Buffer.from(item.code) : Buffer.from(item.source)
        if (source.length < 1024) continue
        this.emitFile({ type: "asset", fileName: `${name}.gz`, source: gzipSync(source, { level: 9 }) })
      }
    },
  }
}

export default defineConfig(({ command }) => {
  const server = process.env.SANSANG_URL || "http://127.0.0.1:8080"
  return {
    base: "/field/",
    build: {
      outDir: "dist",
      emptyOutDir: true,
      target: ["es2019", "chrome79"],
      assetsInlineLimit: 0,
      modulePreload: false,
      reportCompressedSize: false,
      sourcemap: false,
    },
    plugins: [serviceWorker(), gzipCopies()],
    // `npm run dev` / `vite preview` against a running `sansang demo` (SANSANG_URL).
    server: {
      proxy: { "/api": { target: server, ws: true } },
      // The questionnaire comes from ../mobile-schema.
      fs: { allow: [fileURLToPath(new URL("..", import.meta.url))] },
    },
    preview: {
      proxy: { "/api": { target: server, ws: true } },
      headers: {
        "content-security-policy":
          "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; img-src 'self' blob: data:; style-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
      },
    },
    define: { __DEV__: JSON.stringify(command === "serve") },
  }
})

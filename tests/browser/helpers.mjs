// What the browser tests share: the demo server run.sh started, its credentials, where
// screenshots go, the JSON API and the axe-core check.
import assert from "node:assert/strict"
import { readFileSync, mkdirSync } from "node:fs"
import { createRequire } from "node:module"

export const url = process.env.SANSANG_URL
export const credentials = JSON.parse(readFileSync(process.env.SANSANG_CREDENTIALS, "utf8"))
export const executablePath = process.env.SANSANG_CHROMIUM || "/usr/bin/chromium"
export const shots = process.env.SANSANG_SCREENSHOTS || new URL("./screenshots/", import.meta.url).pathname
mkdirSync(shots, { recursive: true })
// The pages forbid inline scripts (CSP); a context that checks accessibility bypasses it.
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8")

/** A JSON API call as `token`; fails the test on any status but 2xx. An empty body is undefined. */
export async function api(path, token, init = {}) {
  const response = await fetch(url + path, {
    ...init,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(init.headers || {}),
    },
  })
  const text = await response.text()
  const body = text ? JSON.parse(text) : undefined
  assert.ok(response.ok, `${path}: ${response.status} ${text}`)
  return body
}

/** axe-core on the page: no serious or critical violation. */
export async function accessible(page, name) {
  await page.addScriptTag({ content: axeSource })
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }),
  )
  const bad = result.violations.filter(v => v.impact === "serious" || v.impact === "critical")
  assert.deepEqual(
    bad.map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(" ")).join("; ")})`),
    [],
    `${name}: accessibility violations`,
  )
}

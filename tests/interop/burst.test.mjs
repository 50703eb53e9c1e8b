// The burst of issue 16: stock automerge-repo phones (phones.mjs) sharing one hamlet's device
// token, each creating households and editing them as fast as the client takes the edits. Every
// household must end with the same heads on the phone and on the server — in what the server
// announces over sync, and in the projection it stored — within a bound; none may stall.
//
// Started by run.sh once per database, which passes SANSANG_URL and SANSANG_CREDENTIALS (as for
// interop.test.mjs) and lifts the per-token sync limits (the phones share one token). The shape
// can be set with BURST_PHONES, BURST_HOUSEHOLDS and BURST_EDITS (default 10 × 50 × 20).

import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { burst } from "./phones.mjs"

const baseUrl = process.env.SANSANG_URL
const credentials = JSON.parse(readFileSync(process.env.SANSANG_CREDENTIALS, "utf8"))
const phones = Number(process.env.BURST_PHONES || 10)
const households = Number(process.env.BURST_HOUSEHOLDS || 50)
const edits = Number(process.env.BURST_EDITS || 20)
/** Seconds after the last edit by which the server must hold every household. */
const SETTLE = 60

async function adminToken() {
  const admin = credentials.users.find(u => u.role === "admin")
  const response = await fetch(new URL("/api/v1/auth/login", baseUrl), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: admin.username, password: admin.password }),
  })
  assert.equal(response.status, 200)
  return (await response.json()).token
}

const sorted = heads => [...heads].sort()

test(`${phones} phones × ${households} households × ${edits} edits on one token: nothing stalls`, { timeout: 600_000 }, async () => {
  const device = credentials.devices.find(d => d.hamletId === "T01")
  const result = await burst({ url: baseUrl, token: device.token, phones, households, edits, settle: SETTLE })
  console.log(
    `# ${result.changes} changes in ${result.seconds.toFixed(1)} s, ${result.changesPerS.toFixed(0)}/s, ` +
      `ack p50 ${result.p50.toFixed(0)} ms, p99 ${result.p99.toFixed(0)} ms`,
  )
  assert.deepEqual(
    result.stalled.map(s => `${s.id} phone at ${s.notes}`),
    [],
    `households the server did not take within ${SETTLE} s of the last edit`,
  )
  assert.equal(result.households.length, phones * households)
  assert.equal(result.acked, result.changes, "every change acknowledged")

  // What the server stored agrees: the projection of every household is at the phone's heads.
  const token = await adminToken()
  for (const h of result.households) {
    const response = await fetch(new URL(`/api/v1/households/${h.id}`, baseUrl), {
      headers: { authorization: `Bearer ${token}` },
    })
    assert.equal(response.status, 200, `reading ${h.id}`)
    const body = await response.json()
    assert.deepEqual(sorted(body.projection.heads), sorted(h.hexHeads), `projection heads of ${h.id}`)
    assert.equal(body.projection.household.notes, h.notes, `notes of ${h.id}`)
  }
})

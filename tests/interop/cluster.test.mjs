// Several servers behind a real load balancer: two `sansang` servers over one PostgreSQL
// database, HAProxy in front of them (round robin), and stock automerge-repo 2.5.6 phones that
// know only the proxy's address. Started by tests/cluster/run.sh, which passes
//   SANSANG_URL          http://127.0.0.1:<port> of HAProxy
//   SANSANG_CREDENTIALS  the demo's credentials (the demo is server A)
//   SANSANG_SERVERS      the two servers' own URLs, A first
//   SANSANG_KILL_PID     server A's process id, killed with SIGKILL half-way
//
// 1. Two phones of one hamlet land on different servers; each edit one makes reaches the other
//    phone through the other server (PostgreSQL's LISTEN/NOTIFY between the servers).
// 2. Server A is killed mid-session: its phones reconnect through the proxy to B and go on; every
//    edit of both phones ends up in the database, which B's projection shows.

import { after, before, describe, test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import * as A from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { household, waitFor } from "./phones.mjs"

const baseUrl = process.env.SANSANG_URL
const credentialsPath = process.env.SANSANG_CREDENTIALS
const servers = (process.env.SANSANG_SERVERS ?? "").split(",").filter(Boolean)
const killPid = Number(process.env.SANSANG_KILL_PID)
if (!baseUrl || !credentialsPath || servers.length !== 2 || !killPid) {
  throw new Error("set SANSANG_URL, SANSANG_CREDENTIALS, SANSANG_SERVERS and SANSANG_KILL_PID; tests/cluster/run.sh does")
}
const credentials = JSON.parse(readFileSync(credentialsPath, "utf8"))
const token = credentials.devices.find(d => d.hamletId === "T01").token

function syncUrl() {
  const url = new URL("/api/v1/sync", baseUrl)
  url.protocol = "ws:"
  url.searchParams.set("token", token)
  return url.toString()
}

/** A metric of one server (its own address, not the proxy's). */
async function metric(server, name) {
  const text = await (await fetch(new URL("/metrics", server))).text()
  const line = text.split("\n").find(l => l.startsWith(`${name} `))
  assert.ok(line, `${server} has no ${name}`)
  return Number(line.split(" ")[1])
}

async function health(server) {
  return (await fetch(new URL("/healthz", server))).json()
}

/** As waitFor, up to 20 s: a server killed and a socket moved take seconds. */
const waitFor20 = (what, check) => waitFor(what, check, 20_000)

const repos = []

/** A phone: network only, the WebSocket adapter on the proxy, retrying every second. */
async function phone() {
  const repo = new Repo({ network: [new WebSocketClientAdapter(syncUrl(), 1000)] })
  repos.push(repo)
  await waitFor20("the phone to reach a server", () => repo.peers.length > 0)
  return repo
}

let adminSession
before(async () => {
  const admin = credentials.users.find(u => u.role === "admin")
  const response = await fetch(new URL("/api/v1/auth/login", baseUrl), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: admin.username, password: admin.password }),
  })
  assert.equal(response.status, 200)
  adminSession = (await response.json()).token
})

after(async () => {
  for (const repo of repos) {
    try {
      await repo.shutdown()
    } catch {
      // already gone
    }
  }
})

const plainNotes = handle => handle.doc().notes
const sorted = heads => [...heads].sort()

describe("two servers behind HAProxy, stock automerge-repo phones", { timeout: 180_000 }, () => {
  test("edits cross between servers, and survive one being killed", async () => {
    const instances = await Promise.all(servers.map(async s => (await health(s)).instance))
    assert.notEqual(instances[0], instances[1], "two servers, two instance ids")
    for (const s of servers) assert.equal((await health(s)).listener, "listening")

    const one = await phone()
    let two = await phone()
    // Round robin spreads the two sockets; should both have landed on one server, the second
    // phone connects again until they are on different servers.
    for (let tries = 0; ; tries++) {
      const peers = await Promise.all(servers.map(s => metric(s, "sansang_sync_peers")))
      if (peers[0] >= 1 && peers[1] >= 1) break
      assert.ok(tries < 10, `both phones stay on one server: ${peers}`)
      await two.shutdown()
      two = await phone()
    }

    const { value } = household("cluster", 1971)
    const created = one.create(value)
    const url = created.url
    // Stored before the other phone asks for it (asked earlier, a server rightly says it has
    // no such document).
    await waitFor20("the household to be stored", async () => {
      const response = await fetch(new URL(`/api/v1/households/${created.documentId}`, baseUrl), {
        headers: { authorization: `Bearer ${adminSession}` },
      })
      await response.text()
      return response.status === 200
    })
    const other = await two.find(url)
    await waitFor20("the second phone to get the household", () => other.doc().address === value.address)

    // Presence crosses between the servers too: phone 1 broadcasts on its handle, phone 2 hears.
    const heard = []
    other.on("ephemeral-message", ({ message }) => heard.push(message))
    await waitFor20("phone 1's presence to reach phone 2 on the other server", () => {
      created.broadcast({ presence: "phone 1", at: Date.now() })
      return heard.some(m => m?.presence === "phone 1")
    })

    let edits = 0
    const handles = [created, other]
    /** Phone `from` edits; waits until the other phone, on the other server, shows it. */
    async function edit(from, label) {
      handles[from].change(d => {
        d.notes = label
        d[`edit-${label}`] = true
      })
      edits++
      const to = handles[1 - from]
      await waitFor20(`${label} to reach the other phone`, () => to.doc()[`edit-${label}`] === true)
    }
    for (let i = 0; i < 10; i++) {
      await edit(0, `a${i}`)
      await edit(1, `b${i}`)
    }
    const received = await Promise.all(servers.map(s => metric(s, "sansang_notices_received_total")))
    assert.ok(received.every(n => n > 0), `each server heard the other: ${received}`)

    // Server A dies without a word; HAProxy sends every socket to B.
    process.kill(killPid, "SIGKILL")
    await waitFor20("the health check to mark server A down", async () => {
      try {
        await fetch(new URL("/healthz", servers[0]))
        return false
      } catch {
        return true
      }
    })
    for (let i = 0; i < 5; i++) {
      await edit(0, `after-a${i}`)
      await edit(1, `after-b${i}`)
    }
    assert.equal(plainNotes(created), "after-b4")

    // Everything both phones hold is in the database: B's projection is at their heads.
    const heads = sorted(A.getHeads(created.doc()))
    assert.deepEqual(heads, sorted(A.getHeads(other.doc())))
    const projection = await waitFor20("B's projection at the phones' heads", async () => {
      const response = await fetch(new URL(`/api/v1/households/${created.documentId}`, servers[1]), {
        headers: { authorization: `Bearer ${adminSession}` },
      })
      const json = await response.json()
      assert.equal(response.status, 200, JSON.stringify(json))
      assert.deepEqual(sorted(json.projection.heads), heads)
      return json.projection
    })
    assert.equal(projection.household.notes, "after-b4")
    const doc = created.doc()
    const missing = Object.keys(doc).filter(k => k.startsWith("edit-")).length
    assert.equal(missing, edits, `all ${edits} edits in the document`)
  })
})

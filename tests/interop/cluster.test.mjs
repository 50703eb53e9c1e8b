// Several servers behind a real load balancer: three `sansang` servers over one PostgreSQL
// database, HAProxy in front of them (round robin), and stock automerge-repo 2.5.6 phones that
// know only the proxy's address. Started by tests/cluster/run.sh, which passes
//   SANSANG_URL          http://127.0.0.1:<port> of HAProxy
//   SANSANG_CREDENTIALS  the demo's credentials (the demo is server A)
//   SANSANG_SERVERS      the servers' own URLs, A first
//   SANSANG_KILL_PID     server A's process id, killed with SIGKILL in the middle of a burst
//   SANSANG_PHOTO        a JPEG file, uploaded as a household's photo evidence
//
// 1. A phone on each server, one household: each edit one phone makes reaches the phones on the
//    other two servers as a push (PostgreSQL's LISTEN/NOTIFY between the servers), and presence
//    crosses too. The push latencies are printed.
// 2. A burst: the three phones edit four households at once, a photo added through one server
//    while the others write; server A is killed with SIGKILL half-way. Its phone reconnects
//    through the proxy and goes on; afterwards every household's projection (read through the
//    servers left) is at the heads every phone holds, and its photo reference is complete.

import { after, before, describe, test } from "node:test"
import assert from "node:assert/strict"
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import * as A from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { household, waitFor } from "./phones.mjs"

const baseUrl = process.env.SANSANG_URL
const credentialsPath = process.env.SANSANG_CREDENTIALS
const servers = (process.env.SANSANG_SERVERS ?? "").split(",").filter(Boolean)
const killPid = Number(process.env.SANSANG_KILL_PID)
const photoPath = process.env.SANSANG_PHOTO
if (!baseUrl || !credentialsPath || servers.length < 3 || !killPid || !photoPath) {
  throw new Error("set SANSANG_URL, SANSANG_CREDENTIALS, SANSANG_SERVERS (three), SANSANG_KILL_PID and SANSANG_PHOTO; tests/cluster/run.sh does")
}
const credentials = JSON.parse(readFileSync(credentialsPath, "utf8"))
const token = credentials.devices.find(d => d.hamletId === "T01").token

function syncUrl() {
  const url = new URL("/api/v1/sync", baseUrl)
  url.protocol = "ws:"
  url.searchParams.set("token", token)
  return url.toString()
}

/** A metric of one server (its own address, not the proxy's); 0 for a server that is down. */
async function metric(server, name) {
  let text
  try {
    text = await (await fetch(new URL("/metrics", server))).text()
  } catch {
    return 0
  }
  const line = text.split("\n").find(l => l.startsWith(`${name} `))
  assert.ok(line, `${server} has no ${name}`)
  return Number(line.split(" ")[1])
}

async function health(server) {
  return (await fetch(new URL("/healthz", server))).json()
}

const peersPerServer = () => Promise.all(servers.map(s => metric(s, "sansang_sync_peers")))
const sum = xs => xs.reduce((a, b) => a + b, 0)

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

/**
 * A phone on server `want` (its index): connects through the proxy until round robin puts it
 * there, seen by which server's count of sockets grew.
 */
async function phoneOn(want) {
  for (let tries = 0; tries < 12; tries++) {
    const before = await peersPerServer()
    const repo = await phone()
    const now = await waitFor20("the server to count the socket", async () => {
      const p = await peersPerServer()
      return sum(p) === sum(before) + 1 && p
    })
    if (now[want] === before[want] + 1) return repo
    await repo.shutdown()
    repos.splice(repos.indexOf(repo), 1)
    await waitFor20("the socket to close", async () => sum(await peersPerServer()) === sum(before))
  }
  throw new Error(`round robin never put a phone on server ${want}`)
}

/** Resolves with the time `handle` first shows `check(doc)` true (20 s at most). */
function arrival(handle, what, check) {
  return new Promise((resolve, reject) => {
    const done = () => {
      const doc = handle.doc()
      if (doc && check(doc)) {
        clearTimeout(timer)
        handle.off("change", done)
        resolve(performance.now())
      }
    }
    const timer = setTimeout(() => {
      handle.off("change", done)
      reject(new Error(`${what} never arrived within 20 s`))
    }, 20_000)
    handle.on("change", done)
    done()
  })
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

/** Household `id` as server `server` reads it (the admin's view), or null while it has none. */
async function read(server, id) {
  const response = await fetch(new URL(`/api/v1/households/${id}`, server), {
    headers: { authorization: `Bearer ${adminSession}` },
  })
  const json = await response.json()
  if (response.status === 404) return null
  assert.equal(response.status, 200, JSON.stringify(json))
  return json
}

const sorted = heads => [...heads].sort()

/** Uploads the photo through the proxy, as the field app does; its sha256. */
async function uploadPhoto() {
  const bytes = readFileSync(photoPath)
  const sha = createHash("sha256").update(bytes).digest("hex")
  const response = await fetch(new URL(`/api/v1/photos/${sha}`, baseUrl), {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "image/jpeg" },
    body: bytes,
  })
  assert.ok(response.ok, `photo upload: ${response.status} ${await response.text()}`)
  return sha
}

describe("three servers behind HAProxy, stock automerge-repo phones", { timeout: 240_000 }, () => {
  const phones = []

  test("each edit reaches the phones on the other servers as a push", async () => {
    const instances = await Promise.all(servers.map(async s => (await health(s)).instance))
    assert.equal(new Set(instances).size, servers.length, `one instance id per server: ${instances}`)
    for (const s of servers) {
      // Each server counts the others every few seconds (`servers_count_seconds`).
      const h = await waitFor20(`${s} to count ${servers.length} servers, listening`, async () => {
        const h = await health(s)
        return h.listener === "listening" && h.servers === servers.length && h
      })
      assert.equal(h.status, "ok", JSON.stringify(h))
    }
    for (let s = 0; s < servers.length; s++) phones.push(await phoneOn(s))
    assert.deepEqual(await peersPerServer(), servers.map(() => 1), "a phone on each server")

    const { value } = household("cluster", 1971)
    const created = phones[0].create(value)
    await waitFor20("the household to be stored", async () => (await read(baseUrl, created.documentId)) !== null)
    const handles = [created]
    for (const p of phones.slice(1)) {
      const h = await p.find(created.url)
      await arrival(h, "the household on another server's phone", d => d.address === value.address)
      handles.push(h)
    }

    // Presence crosses between the servers too: phone 0 broadcasts on its handle, the others hear.
    for (const h of handles.slice(1)) {
      const heard = []
      h.on("ephemeral-message", ({ message }) => heard.push(message))
      await waitFor20("phone 0's presence to reach a phone on another server", () => {
        created.broadcast({ presence: "phone 0", at: Date.now() })
        return heard.some(m => m?.presence === "phone 0")
      })
    }

    const latencies = []
    for (let round = 0; round < 5; round++) {
      for (let from = 0; from < handles.length; from++) {
        const key = `edit-${from}-${round}`
        const others = handles.filter((_, i) => i !== from)
        const arrivals = others.map(h => arrival(h, `${key} on another server's phone`, d => d[key] === true))
        const at = performance.now()
        handles[from].change(d => {
          d.notes = key
          d[key] = true
        })
        for (const t of await Promise.all(arrivals)) latencies.push(t - at)
      }
    }
    latencies.sort((a, b) => a - b)
    const p95 = latencies[Math.floor(0.95 * (latencies.length - 1))]
    console.log(
      `# pushes between servers: ${latencies.length}, p50 ${latencies[latencies.length >> 1].toFixed(0)} ms, ` +
        `p95 ${p95.toFixed(0)} ms, max ${latencies[latencies.length - 1].toFixed(0)} ms`,
    )
    assert.ok(p95 < 1000, `pushes reach the other servers' phones within a second (p95 ${p95.toFixed(0)} ms)`)
    const received = await Promise.all(servers.map(s => metric(s, "sansang_notices_received_total")))
    assert.ok(received.every(n => n > 0), `each server heard the others: ${received}`)
  })

  test("a burst survives a server killed with SIGKILL, photo references included", async () => {
    assert.equal(phones.length, servers.length, "the phones of the first test")
    const sha = await uploadPhoto()
    const made = []
    for (let n = 0; n < 4; n++) {
      const { head, value } = household(`cụm ${n}`, 1960 + n)
      const h = phones[n % phones.length].create(value)
      made.push({ head, id: h.documentId, url: h.url })
    }
    for (const m of made) {
      await waitFor20("the burst's households to be stored", async () => (await read(baseUrl, m.id)) !== null)
    }
    // Every phone holds every household.
    const handles = await Promise.all(
      phones.map(p =>
        Promise.all(
          made.map(async m => {
            const h = await p.find(m.url)
            await arrival(h, "a burst household", d => d.members && d.members[m.head])
            return h
          }),
        ),
      ),
    )

    const tick = () => new Promise(resolve => setTimeout(resolve, 5))
    let killed = false
    const edits = 30
    await Promise.all(
      phones.map(async (_, p) => {
        for (let e = 0; e < edits; e++) {
          for (const [i, h] of handles[p].entries()) {
            h.change(d => {
              d.notes = `phone ${p} edit ${e}`
              d[`burst-${p}-${e}`] = true
              // The photo evidence, added through phone 1's server while the others write.
              if (p === 1 && e === 10) {
                if (!d.photos) d.photos = {}
                d.photos[sha] = { kind: "evidence", takenAt: "2026-12-03T09:00:00+07:00", memberId: made[i].head }
              }
            })
            await tick()
          }
          // Half-way, server A (phone 0's) dies without a word; HAProxy moves its sockets.
          if (p === 0 && e === edits / 2 && !killed) {
            killed = true
            process.kill(killPid, "SIGKILL")
          }
        }
      }),
    )
    assert.ok(killed, "server A was killed during the burst")
    await waitFor20("the health check to mark server A down", async () => {
      try {
        await fetch(new URL("/healthz", servers[0]))
        return false
      } catch {
        return true
      }
    })

    // Every phone ends with every edit of every phone, and the servers left hold exactly that.
    const left = servers.slice(1)
    for (const [i, m] of made.entries()) {
      const want = () => sorted(A.getHeads(handles[0][i].doc()))
      await waitFor(
        `household ${i} the same on every phone`,
        () => handles.every(hs => sorted(A.getHeads(hs[i].doc())).join() === want().join()),
        60_000,
      )
      const doc = handles[0][i].doc()
      const burstKeys = Object.keys(doc).filter(k => k.startsWith("burst-")).length
      assert.equal(burstKeys, phones.length * edits, `household ${i} holds every phone's edits`)
      for (const server of left) {
        const stored = await waitFor20(`${server}'s projection of household ${i} at the phones' heads`, async () => {
          const json = await read(server, m.id)
          return json && sorted(json.projection.heads).join() === want().join() && json
        })
        assert.equal(stored.projection.household.notes, doc.notes)
        assert.deepEqual(
          stored.photos.map(p => [p.sha256, p.status]),
          [[sha, "uploaded"]],
          `household ${i}'s photo reference is complete on ${server}`,
        )
      }
    }
  })
})

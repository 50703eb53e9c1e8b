// Interop: the real JavaScript automerge-repo client (2.5.6, as phones run it) against a running
// sansang server. Started by run.sh, which passes
//   SANSANG_URL          http://127.0.0.1:<port> of a `sansang demo` server
//   SANSANG_CREDENTIALS  path of its demo-credentials.json (users, and one phone per hamlet)
//
// 1. A T01 phone creates and edits households; a second client fetches them through the server
//    and sees the same documents; the server's projection is at the same heads.
// 2. Two clients edit one member's field while offline, reconnect, converge, keep both values as
//    an Automerge conflict, and the server's projection lists that conflict.
// 3. A phone of hamlet T02 cannot fetch a T01 household: `find` rejects as unavailable at once.

import { after, before, describe, test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { randomUUID } from "node:crypto"
import * as A from "@automerge/automerge"
import { Repo, generateAutomergeUrl } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { household, waitFor } from "./phones.mjs"

const baseUrl = process.env.SANSANG_URL
const credentialsPath = process.env.SANSANG_CREDENTIALS
if (!baseUrl || !credentialsPath) {
  throw new Error(
    "set SANSANG_URL (http://host:port of a running `sansang demo`) and SANSANG_CREDENTIALS " +
      "(path of its demo-credentials.json); tests/interop/run.sh does both",
  )
}
const credentials = JSON.parse(readFileSync(credentialsPath, "utf8"))
const COMMUNE = "10846"

/** The demo phone's device token for a hamlet. */
function deviceToken(hamlet) {
  const device = credentials.devices.find(d => d.hamletId === hamlet)
  assert.ok(device, `demo-credentials.json has no device for hamlet ${hamlet}`)
  assert.match(device.token, /^sd_/)
  return device.token
}

function syncUrl(token) {
  const url = new URL("/api/v1/sync", baseUrl)
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:"
  url.searchParams.set("token", token)
  return url.toString()
}

const repos = []

/** A client as a phone runs it: network only, the WebSocket adapter, the given token. */
async function connect(token) {
  const repo = new Repo({ network: [new WebSocketClientAdapter(syncUrl(token), 1000)] })
  repos.push(repo)
  const server = await waitFor("the server's peer message", () => repo.peers[0])
  return { repo, server }
}

/** The storage id the server announced in its `peer` message. */
function serverStorageId({ repo, server }) {
  const id = repo.getStorageIdOfPeer(server)
  assert.ok(id, "the server announces a storageId")
  return id
}

const sorted = heads => [...heads].sort()
const plain = doc => JSON.parse(JSON.stringify(doc))
const hexHeads = handle => sorted(A.getHeads(handle.doc()))

/** Waits until the server says (in its sync messages) that it holds this handle's heads. */
function serverHas(client, handle) {
  const storageId = serverStorageId(client)
  return waitFor(`the server to hold ${handle.url}`, () => {
    const info = handle.getSyncInfo(storageId)
    return info && assert.deepEqual(sorted(info.lastHeads), sorted(handle.heads())) === undefined
  })
}

async function http(method, path, { token, body } = {}) {
  const response = await fetch(new URL(path, baseUrl), {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { "content-type": "application/json" } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  })
  const text = await response.text()
  return { status: response.status, json: text ? JSON.parse(text) : undefined }
}

let adminSession

/** Signs in the first demo user `which` accepts; returns the session token. */
async function signIn(which) {
  const user = credentials.users.find(which)
  assert.ok(user, "demo-credentials.json has such a user")
  const { status, json } = await http("POST", "/api/v1/auth/login", {
    body: { username: user.username, password: user.password },
  })
  assert.equal(status, 200, JSON.stringify(json))
  assert.match(json.token, /^ss_/)
  return json.token
}

/** The server's projection of a household, once it is at `heads` (hex, any order). */
function projectionAt(documentId, heads) {
  return waitFor(`the server's projection of ${documentId} at ${heads}`, async () => {
    const { status, json } = await http("GET", `/api/v1/households/${documentId}`, {
      token: adminSession,
    })
    assert.equal(status, 200, JSON.stringify(json))
    assert.equal(json.id, documentId)
    assert.deepEqual(sorted(json.projection.heads), sorted(heads))
    return json.projection
  })
}


before(async () => {
  adminSession = await signIn(u => u.role === "admin")
})

after(async () => {
  for (const repo of repos) {
    try {
      await repo.shutdown()
    } catch {
      // already disconnected
    }
  }
})

describe("the JavaScript automerge-repo client and the sansang server", { timeout: 60_000 }, () => {
  test("households created and edited on one phone reach a second client through the server", async () => {
    const phone = await connect(deviceToken("T01"))
    const handles = []
    for (let n = 1; n <= 3; n++) {
      const { head, value } = household(n, 1970 + n)
      const handle = phone.repo.create(value)
      handle.change(d => {
        d.address = `${d.address}, xã Hà Tây`
        d.members[head].vneid = "level1"
        d.members[randomUUID()] = {
          fullName: `Trần Thị Thử ${n}`,
          birthYear: 1975 + n,
          sex: "female",
          relation: "spouse",
          smartphone: "shared",
          vneid: "none",
        }
        d.visits.push({ at: "2025-06-01T09:00:00+07:00", by: "interop" })
      })
      handle.change(d => {
        d.notes = `hộ số ${n}`
      })
      handles.push(handle)
    }
    for (const handle of handles) await serverHas(phone, handle)

    for (const handle of handles) {
      const projection = await projectionAt(handle.documentId, hexHeads(handle))
      const doc = handle.doc()
      assert.equal(projection.household.hamletId, "T01")
      assert.equal(projection.household.communeCode, COMMUNE)
      assert.equal(projection.household.address, doc.address)
      assert.deepEqual(sorted(Object.keys(projection.household.members)), sorted(Object.keys(doc.members)))
      assert.deepEqual(projection.conflicts, [])
    }

    // The second client is the hamlet head of T01, signed in: a session token on the socket.
    const other = await connect(await signIn(u => u.role === "hamlet-head" && u.hamlets.includes("T01")))
    for (const handle of handles) {
      const fetched = await other.repo.find(handle.url)
      assert.deepEqual(plain(fetched.doc()), plain(handle.doc()))
      assert.deepEqual(hexHeads(fetched), hexHeads(handle))
    }
  })

  test("concurrent offline edits of one member's field merge, and the server shows the conflict", async () => {
    const creator = await connect(deviceToken("T01"))
    const { head, value } = household(4, 1974)
    const created = creator.repo.create(value)
    await serverHas(creator, created)
    const url = created.url
    const before = hexHeads(created)

    const a = await connect(deviceToken("T01"))
    const b = await connect(deviceToken("T01"))
    const handleA = await a.repo.find(url)
    const handleB = await b.repo.find(url)
    assert.deepEqual(hexHeads(handleA), before)
    assert.deepEqual(hexHeads(handleB), before)

    for (const client of [a, b]) {
      client.repo.networkSubsystem.disconnect()
      await waitFor("the client to go offline", () => client.repo.peers.length === 0)
    }
    handleA.change(d => {
      d.members[head].vneid = "level2"
    })
    handleB.change(d => {
      d.members[head].vneid = "none"
    })
    assert.notDeepEqual(hexHeads(handleA), hexHeads(handleB))
    // Offline for real: the server is still at the heads from before the edits.
    await new Promise(resolve => setTimeout(resolve, 300))
    await projectionAt(created.documentId, before)

    for (const client of [a, b]) client.repo.networkSubsystem.reconnect()
    await waitFor(
      "both clients to converge",
      () =>
        handleA.heads().length === 2 &&
        assert.deepEqual(hexHeads(handleA), hexHeads(handleB)) === undefined,
    )
    const docA = handleA.doc()
    const docB = handleB.doc()
    assert.deepEqual(plain(docA), plain(docB))
    for (const doc of [docA, docB]) {
      const conflicts = A.getConflicts(doc.members[head], "vneid")
      assert.ok(conflicts, "vneid has concurrent values")
      assert.deepEqual(sorted(Object.values(conflicts).map(String)), ["level2", "none"])
    }
    const winner = String(docA.members[head].vneid)

    const projection = await projectionAt(created.documentId, hexHeads(handleA))
    const path = `/members/${head}/vneid`
    const conflict = projection.conflicts.find(c => c.path === path)
    assert.ok(conflict, `the projection lists a conflict at ${path}: ${JSON.stringify(projection.conflicts)}`)
    assert.deepEqual(sorted(conflict.values.map(v => String(v.value))), ["level2", "none"])
    const winners = conflict.values.filter(v => v.winner)
    assert.equal(winners.length, 1)
    assert.equal(String(winners[0].value), winner, "the server's winner is the value the clients show")
    assert.equal(projection.household.members[head].vneid, winner)
  })

  test("a phone of hamlet T02 cannot fetch a T01 household", async () => {
    const owner = await connect(deviceToken("T01"))
    const handle = owner.repo.create(household(5, 1975).value)
    await serverHas(owner, handle)

    const stranger = await connect(deviceToken("T02"))
    const started = Date.now()
    await assert.rejects(stranger.repo.find(handle.url), /unavailable/)
    const took = Date.now() - started
    assert.ok(took < 5_000, `doc-unavailable came after ${took} ms, not at once`)
    // Nor does any of its content arrive later.
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.notEqual(stranger.repo.handles[handle.documentId]?.state, "ready")

    // A document nobody has is unavailable as quickly.
    await assert.rejects(stranger.repo.find(generateAutomergeUrl()), /unavailable/)
  })
})

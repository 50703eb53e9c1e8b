// Phones as they are in the field: stock automerge-repo 2.5.6 clients (Repo +
// WebSocketClientAdapter, no storage), each creating households and editing them as fast as the
// client takes the edits, all at once. Used by the burst test (burst.test.mjs) and by the sync
// benchmark (scripts/bench-js-phones), against sansang and against the reference server; the
// interop test takes its households from `household`.
//
//   node phones.mjs --url http://127.0.0.1:PORT --token sd_… [--phones 10] [--households 50]
//                   [--edits 20] [--settle 60]
//
// Every phone creates its households (one change each), then makes `edits` rounds of one edit
// to each of them (a member's field and `notes`), yielding to the event loop after every edit so
// the client syncs as it goes. A change counts as acknowledged when the server's sync messages
// announce heads that hold it (the client's `remote-heads` for the server's storage id); its ack
// latency is from `change` to then. The run ends when the server holds every household's heads,
// or `settle` seconds after the last edit: the households it does not hold then are stalled.
//
// Prints one line of figures (`changes=… seconds=… changes_per_s=… p50_ms=… p99_ms=…
// stalled=…`), then one line per stalled household, and writes the households (id, the phone's
// heads and the server's) to --out as JSON when given. Exits 0 whether or not some stalled: the
// caller decides.

import { writeFileSync } from "node:fs"
import { randomUUID } from "node:crypto"
import { parseArgs } from "node:util"
import * as A from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const COMMUNE = "10846"
const VNEID = ["level1", "level2", "none"]

function syncUrl(baseUrl, token) {
  const url = new URL("/api/v1/sync", baseUrl)
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:"
  if (token) url.searchParams.set("token", token)
  return url.toString()
}

const sameHeads = (a, b) => a.length === b.length && [...a].sort().join() === [...b].sort().join()
const tick = () => new Promise(resolve => setImmediate(resolve))
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/** Polls `check` until it returns a truthy value; fails after `ms` naming `what`. */
export async function waitFor(what, check, ms = 10_000) {
  const deadline = Date.now() + ms
  let last
  for (;;) {
    try {
      const value = await check()
      if (value) return value
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ""}`)
    }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/** A household as the contract has it, named by `label`, and the id of its head. */
export function household(label, birthYear, hamlet = "T01") {
  const head = randomUUID()
  return {
    head,
    value: {
      schema: "sansang.household/1",
      communeCode: COMMUNE,
      hamletId: hamlet,
      address: `Số ${label}, thôn ${hamlet}`,
      consent: { given: true, by: `Chủ hộ ${label}`, at: "2025-06-01T08:30:00+07:00" },
      members: {
        [head]: {
          fullName: `Nguyễn Văn Thử ${label}`,
          birthYear,
          sex: "male",
          relation: "head",
          smartphone: "own",
          vneid: "registered",
          paymentAccount: "bank",
          paymentOnPhone: true,
        },
      },
      visits: [],
    },
  }
}

/**
 * One household on a phone: its handle, and the changes waiting for the server's word, by the
 * heads they made (the phone alone edits it, so its history is a line and a head names every
 * change before it).
 */
class Tracked {
  constructor(handle, head) {
    this.handle = handle
    this.head = head
    this.waiting = [] // [{ hash, at }] in order
    this.serverHeads = []
  }
  changed() {
    const heads = this.handle.heads()
    this.waiting.push({ hash: heads[heads.length - 1], at: performance.now() })
  }
  /** The server announced `heads`: every waiting change up to the one that made them is acked. */
  announced(heads, latencies) {
    this.serverHeads = heads
    const i = this.waiting.findIndex(w => heads.includes(w.hash))
    if (i < 0) return
    const now = performance.now()
    for (const w of this.waiting.splice(0, i + 1)) latencies.push(now - w.at)
  }
  done() {
    return sameHeads(this.serverHeads, this.handle.heads())
  }
}

async function connectPhone(url, token) {
  const repo = new Repo({ network: [new WebSocketClientAdapter(syncUrl(url, token), 1000)] })
  const deadline = Date.now() + 30_000
  while (!repo.peers[0]) {
    if (Date.now() > deadline) throw new Error(`no peer message from ${url} within 30 s`)
    await sleep(20)
  }
  const server = repo.peers[0]
  const storageId = repo.getStorageIdOfPeer(server)
  if (!storageId) throw new Error("the server announces no storageId; acks cannot be seen")
  return { repo, storageId }
}

/** Runs the burst; resolves with its figures and every household's final state. */
export async function burst({ url, token, phones = 10, households = 50, edits = 20, settle = 60, hamlet = "T01" }) {
  const clients = await Promise.all(Array.from({ length: phones }, () => connectPhone(url, token)))
  const latencies = []
  const all = []
  const started = performance.now()
  await Promise.all(
    clients.map(async ({ repo, storageId }, p) => {
      const mine = []
      for (let n = 0; n < households; n++) {
        const { head, value } = household(`${n}, máy ${p}`, 1950 + (n % 50), hamlet)
        const handle = repo.create(value)
        const tracked = new Tracked(handle, head)
        handle.on("remote-heads", ({ storageId: from, heads }) => {
          if (from === storageId) tracked.announced(heads, latencies)
        })
        tracked.changed()
        mine.push(tracked)
        await tick()
      }
      for (let e = 0; e < edits; e++) {
        for (const t of mine) {
          t.handle.change(d => {
            d.members[t.head].vneid = VNEID[e % VNEID.length]
            d.notes = `edit ${e}`
          })
          t.changed()
          await tick()
        }
      }
      all.push(...mine)
    }),
  )
  const edited = performance.now()
  const deadline = edited + settle * 1000
  while (all.some(t => !t.done()) && performance.now() < deadline) await sleep(20)
  const finished = performance.now()
  const stalled = all.filter(t => !t.done())
  const changes = all.length * (1 + edits)
  // Until the last household the server holds; a stalled run counts up to the deadline.
  const seconds = (finished - started) / 1000
  latencies.sort((a, b) => a - b)
  const pct = q => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : NaN)
  const result = {
    changes,
    acked: latencies.length,
    seconds,
    changesPerS: changes / seconds,
    p50: pct(0.5),
    p99: pct(0.99),
    stalled: stalled.map(t => ({
      id: t.handle.documentId,
      notes: t.handle.doc()?.notes,
      phoneHeads: t.handle.heads(),
      serverHeads: t.serverHeads,
    })),
    households: all.map(t => ({
      id: t.handle.documentId,
      heads: t.handle.heads(),
      hexHeads: A.getHeads(t.handle.doc()),
      notes: t.handle.doc()?.notes,
    })),
  }
  await Promise.all(clients.map(({ repo }) => repo.shutdown().catch(() => {})))
  return result
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      url: { type: "string" },
      token: { type: "string", default: "" },
      phones: { type: "string", default: "10" },
      households: { type: "string", default: "50" },
      edits: { type: "string", default: "20" },
      settle: { type: "string", default: "60" },
      hamlet: { type: "string", default: "T01" },
      out: { type: "string" },
    },
  })
  if (!values.url) {
    console.error("phones.mjs: --url http://host:port is needed")
    process.exit(2)
  }
  const r = await burst({
    url: values.url,
    token: values.token,
    phones: Number(values.phones),
    households: Number(values.households),
    edits: Number(values.edits),
    settle: Number(values.settle),
    hamlet: values.hamlet,
  })
  console.log(
    `changes=${r.changes} acked=${r.acked} seconds=${r.seconds.toFixed(2)} ` +
      `changes_per_s=${r.changesPerS.toFixed(1)} p50_ms=${r.p50.toFixed(1)} p99_ms=${r.p99.toFixed(1)} ` +
      `stalled=${r.stalled.length}`,
  )
  for (const s of r.stalled) {
    console.log(`stalled ${s.id}: phone at ${JSON.stringify(s.notes)} ${s.phoneHeads}, server at ${s.serverHeads}`)
  }
  if (values.out) writeFileSync(values.out, JSON.stringify(r, null, 1))
  process.exit(0)
}

// The volunteers' field app: enrollment, the households on the phone, the survey form rendered
// from the questionnaire, photos, and sync with the sansang server through automerge-repo.
// Every edit is an Automerge change saved on the phone at once (IndexedDB) and synced when the
// server is reachable.
import "./polyfills.js"
import "./style.css"
import { Repo, initializeWasm, Automerge, isValidAutomergeUrl, isValidDocumentId } from "@automerge/automerge-repo/slim"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { IndexedDBStorageAdapter } from "@automerge/automerge-repo-storage-indexeddb"
import wasmUrl from "@automerge/automerge/automerge.wasm?url"
import questionnaire from "../../mobile-schema/questionnaire.json"
import * as store from "./store.js"

const SCHEMA = "sansang.household/1"
const MAX_PHOTO_BYTES = 30 * 1024 * 1024
const LONG_EDGE = 2048
const THUMB_EDGE = 128

const $ = id => document.getElementById(id)
const householdSection = questionnaire.sections.find(s => s.scope === "household")
const memberSection = questionnaire.sections.find(s => s.scope === "member")
/** Fields that hold personal data: only after consent. */
const PERSONAL = new Set(["notes"])

const state = {
  enrollment: null,
  repo: null,
  adapter: null,
  revoked: false,
  handles: new Map(), // url -> DocHandle
  current: null, // the open household's handle
  memberOrder: [],
  armedRemove: null,
  uploading: false,
  uploadAgain: false,
  uploadBackoff: 0, // ms; grows while the server answers 429 or 5xx
  uploadPauseUntil: 0,
  photoDocs: new Map(), // url -> "pending" | "error": households with photos not on the server
  photosWaiting: 0,
  photosFailed: 0,
}

// ---------------------------------------------------------------- messages

function showBanner(text, kind = "error") {
  const banner = $("banner")
  banner.textContent = text
  banner.dataset.kind = kind
  banner.hidden = false
}

function hideBanner() {
  $("banner").hidden = true
}

function isQuotaError(e) {
  return !!e && (e.name === "QuotaExceededError" || e.code === 22 || /quota/i.test(String(e.message || e)))
}

const STORAGE_FULL = "Bộ nhớ máy đã đầy: không lưu thêm được. Hãy xoá bớt ảnh/video khác trên máy rồi thử lại."

/** The IndexedDB adapter of automerge-repo 2.5.6 settles a write on `complete` or `error`
 * only; a full storage aborts the transaction (QuotaExceededError on `abort`), and the save
 * would wait for ever. Here writes also fail on `abort`. */
class SettlingIndexedDBStorageAdapter extends IndexedDBStorageAdapter {
  save(keyArray, binary) {
    return this.write(store => store.put({ key: keyArray, binary }, keyArray))
  }

  remove(keyArray) {
    return this.write(store => store.delete(keyArray))
  }

  async write(operation) {
    const db = await this.dbPromise
    const transaction = db.transaction(this.store, "readwrite")
    operation(transaction.objectStore(this.store))
    return new Promise((resolve, reject) => {
      transaction.oncomplete = () => resolve()
      transaction.onerror = () => reject(transaction.error)
      transaction.onabort = () => reject(transaction.error || new DOMException("write aborted", "AbortError"))
    })
  }
}

/** automerge-repo saves documents without waiting for the result, and drops a failed save's
 * error: this storage passes every call on and tells the volunteer when a write fails. */
function reportingStorage(inner) {
  const report = e => {
    showBanner(isQuotaError(e) ? STORAGE_FULL : "Không lưu được trên máy. Đừng đóng ứng dụng; hãy thử lại sau.")
    throw e
  }
  return {
    load: key => inner.load(key),
    save: (key, data) => inner.save(key, data).catch(report),
    remove: key => inner.remove(key).catch(report),
    loadRange: prefix => inner.loadRange(prefix),
    removeRange: prefix => inner.removeRange(prefix).catch(report),
  }
}

window.addEventListener("unhandledrejection", event => {
  if (isQuotaError(event.reason)) showBanner(STORAGE_FULL)
})
window.addEventListener("error", event => {
  if (isQuotaError(event.error)) showBanner(STORAGE_FULL)
})

function errorCode(body) {
  if (!body || typeof body !== "object") return null
  if (typeof body.code === "string") return body.code
  if (body.error && typeof body.error.code === "string") return body.error.code
  return null
}

const ENROLL_ERRORS = {
  "enrollment-code-unknown": "Mã đăng ký không đúng. Kiểm tra lại từng ký tự.",
  "enrollment-code-used": "Mã này đã được dùng cho một máy khác. Xin trưởng thôn cấp mã mới.",
  "enrollment-code-expired": "Mã đăng ký đã hết hạn. Xin trưởng thôn cấp mã mới.",
  "too-many-attempts": "Nhập sai quá nhiều lần. Chờ vài phút rồi thử lại.",
  "invalid-field": "Mã đăng ký không hợp lệ.",
}

const CHOOSE_HAMLET = "Chọn thôn của hộ trước khi ghi thông tin thành viên, ghi chú hoặc ảnh."
const REVOKED = "Máy đã bị thu hồi, liên hệ trưởng thôn. Dữ liệu đã nhập vẫn còn trên máy."

// ---------------------------------------------------------------- enrollment

function enrollCodeFromHash() {
  const match = /(?:^#|&)enroll=([^&]+)/.exec(location.hash)
  if (!match) return null
  try {
    return decodeURIComponent(match[1])
  } catch {
    return match[1] // a malformed %-sequence: the code as written, which the server will refuse
  }
}

/** The code leaves the address bar, whether it worked or not. */
function clearHash() {
  if (location.hash) history.replaceState(null, "", location.pathname + location.search)
}

async function enroll(code) {
  const error = $("enroll-error")
  error.hidden = true
  code = code.trim()
  if (!code) {
    error.textContent = "Hãy nhập mã đăng ký."
    error.hidden = false
    return
  }
  let response
  try {
    response = await fetch("/api/v1/devices/enroll", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code }),
    })
  } catch {
    error.textContent = "Không có kết nối mạng. Cần mạng để đăng ký máy lần đầu; hãy thử lại khi có sóng."
    error.hidden = false
    clearHash()
    return
  }
  let body = null
  try {
    body = await response.json()
  } catch {
    body = null
  }
  if (!response.ok || !body || !body.token) {
    const code = errorCode(body)
    error.textContent =
      ENROLL_ERRORS[code] || `Không đăng ký được (lỗi ${response.status}${code ? `, ${code}` : ""}). Thử lại sau.`
    error.hidden = false
    clearHash()
    return
  }
  const device = body.device || {}
  state.enrollment = {
    token: body.token,
    device: {
      id: device.id,
      volunteer: device.volunteer,
      communeCode: device.communeCode,
      hamlets: device.hamlets || [],
    },
  }
  try {
    store.saveEnrollment(state.enrollment)
  } catch (e) {
    if (isQuotaError(e)) showBanner(STORAGE_FULL)
  }
  history.replaceState(null, "", location.pathname + location.search)
  await startEnrolled()
}

// ---------------------------------------------------------------- repo and sync

function syncUrl(token) {
  const protocol = location.protocol === "https:" ? "wss:" : "ws:"
  return `${protocol}//${location.host}/api/v1/sync?token=${encodeURIComponent(token)}`
}

function startRepo() {
  // A phone that was revoked keeps its data readable but no longer knocks on the server's door.
  state.revoked = !!state.enrollment.revoked
  state.adapter = state.revoked ? null : new WebSocketClientAdapter(syncUrl(state.enrollment.token), 3000)
  state.repo = new Repo({
    storage: reportingStorage(new SettlingIndexedDBStorageAdapter("sansang-field")),
    network: state.adapter ? [state.adapter] : [],
    sharePolicy: async () => true,
  })
  if (state.revoked) {
    showBanner(REVOKED)
    updateConnection()
    return
  }
  // sansang's own message (docs/sync-protocol.md §5), which automerge-repo ignores.
  state.adapter.on("message", message => {
    if (message && message.type === "doc-replaced") docReplaced(message).catch(() => {})
  })
  state.repo.networkSubsystem.on("peer", () => {
    updateConnection()
    uploadPending(true)
  })
  state.repo.networkSubsystem.on("peer-disconnected", () => {
    updateConnection()
    checkRevoked()
  })
}

function serverStorageId() {
  const peer = state.repo && state.repo.peers[0]
  return peer ? state.repo.getStorageIdOfPeer(peer) : undefined
}

function sameHeads(a, b) {
  return a.length === b.length && [...a].sort().join(",") === [...b].sort().join(",")
}

/** Whether the server acknowledged exactly the phone's heads of this household. */
function onServer(url, handle) {
  const heads = handle.heads() || []
  const storageId = serverStorageId()
  const info = storageId ? handle.getSyncInfo(storageId) : undefined
  if (info && info.lastHeads && sameHeads(info.lastHeads, heads)) {
    try {
      store.setConfirmedHeads(url, [...heads].sort())
    } catch {
      // only a cache
    }
    return true
  }
  const confirmed = store.confirmedHeads(url)
  return !!confirmed && confirmed === [...heads].sort().join(",")
}

async function checkRevoked() {
  if (state.revoked || !state.enrollment || !navigator.onLine) return
  try {
    const response = await fetch("/api/v1/me", { headers: { authorization: `Bearer ${state.enrollment.token}` } })
    if (response.status === 401) markRevoked()
  } catch {
    // offline: nothing to learn
  }
}

function markRevoked() {
  if (state.revoked) return
  state.revoked = true
  try {
    state.enrollment.revoked = true
    store.saveEnrollment(state.enrollment)
  } catch {
    // still revoked for this session
  }
  if (state.adapter) {
    // No reconnection: neither the retry timer nor a close already under way may open a socket.
    state.adapter.connect = () => {}
    try {
      state.adapter.disconnect()
    } catch {
      // already closed
    }
  }
  showBanner(REVOKED)
  updateConnection()
}

function updateConnection() {
  const conn = $("conn")
  let mode = "offline"
  let text = "Ngoại tuyến – dữ liệu lưu trên máy"
  if (state.revoked) {
    mode = "revoked"
    text = "Máy đã bị thu hồi"
  } else if (state.repo && state.repo.peers.length > 0) {
    const pending = [...state.handles.entries()].some(([url, h]) => h.isReady() && !onServer(url, h))
    const busy = pending || state.uploading || state.photosWaiting > 0
    mode = busy ? "syncing" : "online"
    text = busy ? "Đang đồng bộ…" : "Trực tuyến – đã đồng bộ"
  }
  if (!state.revoked && state.photosWaiting > 0) text += ` · ${state.photosWaiting} ảnh chờ tải lên`
  if (!state.revoked && state.photosFailed > 0) text += ` · ${state.photosFailed} ảnh lỗi`
  conn.dataset.state = mode
  if (conn.textContent !== text) conn.textContent = text
}

async function handleFor(url) {
  let handle = state.handles.get(url)
  if (!handle) {
    handle = await state.repo.find(url)
    state.handles.set(url, handle)
    handle.on("change", () => {
      if (state.current === handle) refreshHousehold()
      renderList()
    })
  }
  return handle
}

const REPLACED = "Hộ này đã được thay bằng bản mới theo yêu cầu xoá dữ liệu"

/** The server erased a household at a person's request: the phone drops its copy (and the
 * photos it kept for it) and, when the server names one, takes the new document instead. */
async function docReplaced(message) {
  const documentId = typeof message.documentId === "string" ? message.documentId : ""
  if (!isValidDocumentId(documentId)) return
  const oldUrl = `automerge:${documentId}`
  // An `automerge:` URL (docs/sync-protocol.md §5); a bare document id is taken too.
  let replacement = typeof message.replacedBy === "string" ? message.replacedBy : null
  if (replacement && !replacement.startsWith("automerge:")) replacement = `automerge:${replacement}`
  if (replacement && (!isValidAutomergeUrl(replacement) || replacement === oldUrl)) replacement = null
  if (!store.loadHouseholdUrls().includes(oldUrl) && !state.handles.has(oldUrl)) return
  try {
    store.removeHouseholdUrl(oldUrl, replacement)
  } catch (e) {
    if (isQuotaError(e)) showBanner(STORAGE_FULL)
  }
  const wasOpen = state.current && state.current.url === oldUrl
  state.handles.delete(oldUrl)
  if (wasOpen) showList()
  try {
    state.repo.delete(oldUrl)
  } catch {
    // not in the repo
  }
  try {
    for (const record of await store.allPhotos()) if (record.docUrl === oldUrl) await store.deletePhoto(record.sha)
  } catch {
    // the photos' database is unavailable: nothing more to drop
  }
  showBanner(REPLACED, "info")
  if (replacement) {
    try {
      await handleFor(replacement)
    } catch {
      // fetched when the server is reachable again
    }
  }
  await refreshPhotoDocs()
  renderList()
}

// ---------------------------------------------------------------- list

/** A string as read from the document: collaborative text or a plain (immutable) string, which
 * the server writes (review notes, a value a reviewer kept). */
function text(value) {
  if (value === null || value === undefined) return value
  return typeof value === "object" ? String(value) : value
}

function headName(doc) {
  const members = (doc && doc.members) || {}
  for (const id of Object.keys(members)) {
    if (members[id] && text(members[id].relation) === "head" && members[id].fullName) return String(members[id].fullName)
  }
  return ""
}

function reviewText(doc) {
  const review = doc && doc.review
  if (!review || !review.decision) return ""
  const comment = review.comment ? String(review.comment) : ""
  const decision = text(review.decision)
  switch (decision) {
    case "approved":
      return "Đã duyệt"
    case "rejected":
      return `Bị trả lại${comment ? `: ${comment}` : ""}`
    case "correction-requested":
      return `Cần sửa${comment ? `: ${comment}` : ""}`
    default:
      return decision
  }
}

/** "server" only when the server has the household's changes and every photo of it;
 * "local" otherwise (with a word about photos still on the phone). */
function syncState(url, handle) {
  const photos = state.photoDocs.get(url)
  return { server: onServer(url, handle) && !photos, photos }
}

function syncLabel(element, { server, photos }) {
  element.dataset.sync = server ? "server" : "local"
  if (photos) element.dataset.photos = photos
  else delete element.dataset.photos
  const text = server
    ? "Đã lên máy chủ"
    : photos === "pending"
      ? "Đã lưu trên máy – còn ảnh chờ tải lên"
      : photos === "error"
        ? "Đã lưu trên máy – có ảnh không tải lên được"
        : "Đã lưu trên máy"
  if (element.textContent !== text) element.textContent = text
}

function setText(element, value) {
  if (element.textContent !== value) element.textContent = value
}

let listRenderQueued = false
function renderList() {
  if (listRenderQueued) return
  listRenderQueued = true
  requestAnimationFrame(() => {
    listRenderQueued = false
    drawList()
  })
}

function drawList() {
  const ul = $("households")
  const urls = store.loadHouseholdUrls()
  $("no-households").hidden = urls.length > 0
  const existing = new Map([...ul.children].map(li => [li.dataset.url, li]))
  urls
    .slice()
    .reverse()
    .forEach((url, index) => {
      let li = existing.get(url)
      if (!li) {
        li = document.createElement("li")
        li.dataset.url = url
        li.dataset.docId = url.replace(/^automerge:/, "")
        const button = document.createElement("button")
        button.type = "button"
        button.className = "household"
        button.innerHTML = '<span class="title"></span><span class="sub"></span><span class="review"></span><span class="sync"></span>'
        button.addEventListener("click", () => openHousehold(url))
        li.append(button)
      }
      // Move only what is out of place: a focused entry keeps its focus.
      if (ul.children[index] !== li) ul.insertBefore(li, ul.children[index] || null)
      const handle = state.handles.get(url)
      const doc = handle && handle.isReady() ? handle.doc() : null
      const title = (doc && doc.address && String(doc.address)) || "(chưa có địa chỉ)"
      const head = doc ? headName(doc) : ""
      const count = doc && doc.members ? Object.keys(doc.members).length : 0
      setText(li.querySelector(".title"), title)
      setText(
        li.querySelector(".sub"),
        doc ? `${head ? `Chủ hộ: ${head} · ` : ""}${count} thành viên · Thôn ${doc.hamletId || "?"}` : "Đang mở…",
      )
      const review = li.querySelector(".review")
      setText(review, reviewText(doc))
      review.hidden = !review.textContent
      if (doc && doc.review) review.dataset.decision = text(doc.review.decision) || ""
      if (handle && handle.isReady()) syncLabel(li.querySelector(".sync"), syncState(url, handle))
    })
  for (const [url, li] of existing) if (!urls.includes(url)) li.remove()
  updateConnection()
}

async function loadAllHouseholds() {
  for (const url of store.loadHouseholdUrls()) {
    handleFor(url)
      .then(renderList)
      .catch(() => renderList())
  }
  renderList()
}

// ---------------------------------------------------------------- views

function show(view) {
  for (const id of ["view-enroll", "view-list", "view-household"]) $(id).hidden = id !== view
  $("loading").hidden = true
  window.scrollTo(0, 0)
}

function showList() {
  state.current = null
  history.replaceState(null, "", location.pathname + location.search)
  show("view-list")
  drawList()
}

// ---------------------------------------------------------------- the household form

function getPath(obj, key) {
  let value = obj
  for (const part of key.split("/")) {
    if (value === null || value === undefined || typeof value !== "object") return undefined
    value = value[part]
  }
  return value
}

/** Sets (or, for `undefined`, deletes) a value inside `target` at `key` ("a/b"). Free text is
 * edited in place (concurrent typing merges); every other value is replaced whole, so that two
 * phones choosing differently leave a conflict for the hamlet head, never a blend. */
function setPath(target, key, value, freeText) {
  const parts = key.split("/")
  let obj = target
  for (const part of parts.slice(0, -1)) {
    // Maps are made with what holds them (a member's skills, a household's consent), never here:
    // two phones making the same map offline make two, and one phone's answers would be lost.
    if (obj[part] === null || typeof obj[part] !== "object") return value === undefined
    obj = obj[part]
  }
  const last = parts[parts.length - 1]
  if (value === undefined) {
    if (last in obj) delete obj[last]
  } else if (freeText && typeof value === "string" && typeof obj[last] === "string" && value !== "") {
    try {
      Automerge.updateText(obj, [last], value)
    } catch {
      obj[last] = value
    }
  } else if (obj[last] !== value) {
    obj[last] = value
  }
  return true
}

/** The maps the form writes into, made once when a household is opened if an older app version
 * (or another writer) left them out: one change, not one per answer. */
function ensureMaps(handle) {
  const doc = handle.doc()
  if (!doc) return
  const members = doc.members && typeof doc.members === "object" ? doc.members : {}
  const missing = Object.keys(members).filter(id => members[id] && typeof members[id] === "object" && !isMap(members[id].skills))
  if (missing.length === 0 && isMap(doc.consent)) return
  try {
    handle.change(d => {
      if (!isMap(d.consent)) d.consent = { given: false }
      for (const id of missing) if (d.members && d.members[id] && !isMap(d.members[id].skills)) d.members[id].skills = {}
    })
  } catch (e) {
    if (isQuotaError(e)) showBanner(STORAGE_FULL)
  }
}

function isMap(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value)
}

/** This phone's visit of today, recorded with the first personal data it writes. */
function recordVisit(d, deviceId) {
  if (!Array.isArray(d.visits)) d.visits = []
  const today = new Date().toISOString().slice(0, 10)
  const visited = d.visits.some(v => v && text(v.by) === deviceId && String(v.at || "").slice(0, 10) === today)
  if (!visited) d.visits.push({ at: new Date().toISOString(), by: deviceId })
}

function hamletChosen(doc) {
  return !!(doc && doc.hamletId && String(doc.hamletId) !== "")
}

function change(fn) {
  const handle = state.current
  if (!handle) return
  try {
    handle.change(fn)
  } catch (e) {
    if (isQuotaError(e)) showBanner(STORAGE_FULL)
    else throw e
  }
}

function consentGiven(doc) {
  return !!(doc && doc.consent && doc.consent.given === true)
}

function age(member) {
  const year = member && typeof member.birthYear === "number" ? member.birthYear : null
  return year === null ? null : new Date().getFullYear() - year
}

function applies(question, member) {
  if (question.minAge === undefined && question.maxAge === undefined) return "yes"
  const a = age(member)
  if (a === null) return "unknown"
  if (question.minAge !== undefined && a < question.minAge) return "no"
  if (question.maxAge !== undefined && a > question.maxAge) return "no"
  return "yes"
}

function fieldId(memberId, key) {
  return (memberId ? `m-${memberId}-` : "f-") + key.replace(/\//g, "-")
}

/** One question as a labelled control; saves on every edit. */
function renderQuestion(question, memberId) {
  const wrap = document.createElement("div")
  wrap.className = "question"
  wrap.dataset.question = question.key
  const id = fieldId(memberId, question.key)
  const label = document.createElement("label")
  label.htmlFor = id
  label.textContent = question.labelVi + (question.required ? " *" : "")
  let control
  const isConsent = !memberId && question.key === "consent/given"
  if (isConsent) {
    wrap.classList.add("check")
    control = document.createElement("input")
    control.type = "checkbox"
    control.addEventListener("change", () => setConsent(control.checked))
    wrap.append(control, label)
  } else {
    if (question.kind === "choice" || question.kind === "boolean") {
      control = document.createElement("select")
      const choices =
        question.kind === "boolean"
          ? [
              { value: "true", labelVi: "Có" },
              { value: "false", labelVi: "Không" },
            ]
          : question.key === "hamletId" && !memberId
            ? state.enrollment.device.hamlets.map(h => ({ value: h, labelVi: `Thôn ${h}` }))
            : question.choices || []
      if (question.key === "hamletId" && !memberId) control.required = true
      const empty = document.createElement("option")
      empty.value = ""
      empty.textContent = question.key === "hamletId" && !memberId ? "— chọn thôn —" : "— chưa ghi —"
      control.append(empty)
      for (const choice of choices) {
        const option = document.createElement("option")
        option.value = choice.value
        option.textContent = choice.labelVi
        control.append(option)
      }
      control.addEventListener("change", () => {
        const raw = control.value
        if (question.required && raw === "") {
          showFieldError(wrap, control, "Bắt buộc chọn. Chưa lưu.")
          return
        }
        showFieldError(wrap, control, null)
        const value = raw === "" ? undefined : question.kind === "boolean" ? raw === "true" : raw
        saveField(question, memberId, value)
      })
    } else if (question.kind === "integer") {
      control = document.createElement("input")
      control.type = "number"
      control.inputMode = "numeric"
      control.step = "1"
      const onEdit = final => {
        // "1985." or "19e": the browser gives "" for a value it cannot read; nothing is saved.
        if (control.validity && control.validity.badInput) {
          showFieldError(wrap, control, "Chỉ nhập số.")
          return
        }
        const raw = control.value.trim()
        const error = validateInteger(question, raw, final)
        showFieldError(wrap, control, error)
        if (error === null && (raw === "" || raw.length >= 4 || final)) {
          saveField(question, memberId, raw === "" ? undefined : Number(raw))
        }
      }
      control.addEventListener("input", () => onEdit(false))
      control.addEventListener("change", () => onEdit(true))
    } else {
      control = document.createElement(question.key === "notes" ? "textarea" : "input")
      if (control.tagName === "INPUT") control.type = "text"
      control.addEventListener("compositionstart", () => (control.dataset.composing = "true"))
      control.addEventListener("compositionend", () => delete control.dataset.composing)
      control.addEventListener("input", () => {
        const value = control.value
        if (question.required) showFieldError(wrap, control, value.trim() ? null : "Bắt buộc nhập.")
        saveField(question, memberId, value === "" && !question.required ? undefined : value)
      })
    }
    wrap.append(label, control)
  }
  control.id = id
  control.dataset.key = question.key
  if (memberId) control.dataset.member = memberId
  const error = document.createElement("p")
  error.className = "error field-error"
  error.id = `${id}-error`
  error.hidden = true
  error.setAttribute("role", "alert")
  const note = document.createElement("p")
  note.className = "conflict-note"
  note.hidden = true
  wrap.append(error, note)
  return wrap
}

function validateInteger(question, raw, final) {
  if (raw === "") return question.required ? "Bắt buộc nhập." : null
  if (!/^\d+$/.test(raw)) return "Chỉ nhập số."
  const n = Number(raw)
  if (question.key === "birthYear") {
    const year = new Date().getFullYear()
    if (raw.length < 4 && !final) return null
    if (n < 1900 || n > year) return `Năm sinh phải từ 1900 đến ${year}. Chưa lưu giá trị này.`
  }
  return null
}

function showFieldError(wrap, control, message) {
  const error = wrap.querySelector(".field-error")
  if (message) {
    error.textContent = message
    error.hidden = false
    control.setAttribute("aria-invalid", "true")
    control.setAttribute("aria-describedby", error.id)
  } else {
    error.hidden = true
    control.removeAttribute("aria-invalid")
    control.removeAttribute("aria-describedby")
  }
}

function saveField(question, memberId, value) {
  const doc = state.current && state.current.doc()
  if (!doc) return
  const personal = memberId || PERSONAL.has(question.key)
  if (personal && !consentGiven(doc)) {
    showBanner("Chưa có sự đồng ý của hộ: không ghi thông tin cá nhân.", "info")
    refreshHousehold()
    return
  }
  if (personal && !hamletChosen(doc)) {
    showBanner(CHOOSE_HAMLET, "info")
    refreshHousehold()
    return
  }
  const freeText = question.kind === "text"
  const deviceId = state.enrollment.device.id
  let saved = true
  change(d => {
    if (memberId) {
      if (!d.members || !d.members[memberId]) return
      saved = setPath(d.members[memberId], question.key, value, freeText)
    } else {
      saved = setPath(d, question.key, value, freeText)
    }
    if (saved && personal && value !== undefined) recordVisit(d, deviceId)
  })
  if (!saved) showBanner("Chưa lưu được câu trả lời này. Hãy quay lại danh sách rồi mở lại hộ.")
}

function setConsent(given) {
  const doc = state.current.doc()
  const hasPersonal =
    Object.keys(doc.members || {}).length > 0 || Object.keys(doc.photos || {}).length > 0 || !!doc.notes
  if (!given && hasPersonal) {
    showBanner(
      "Hộ đã có thông tin thành viên, ghi chú hoặc ảnh: không bỏ đồng ý ở đây được. Nếu hộ rút lại sự đồng ý, báo trưởng thôn để xoá dữ liệu.",
      "info",
    )
    refreshHousehold()
    return
  }
  // The visit is recorded with the first personal data (member, note, photo), not here: consent
  // ticked then unticked leaves no visit behind.
  change(d => {
    if (!d.consent || typeof d.consent !== "object") d.consent = {}
    d.consent.given = given
    if (given) d.consent.at = new Date().toISOString()
  })
}

function newUuid() {
  if (crypto.randomUUID) return crypto.randomUUID()
  const b = crypto.getRandomValues(new Uint8Array(16))
  b[6] = (b[6] & 0x0f) | 0x40
  b[8] = (b[8] & 0x3f) | 0x80
  const h = [...b].map(x => x.toString(16).padStart(2, "0")).join("")
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

function addMember() {
  const doc = state.current.doc()
  if (!consentGiven(doc)) return
  if (!hamletChosen(doc)) {
    showBanner(CHOOSE_HAMLET, "info")
    return
  }
  const id = newUuid()
  const hasHead = Object.values(doc.members || {}).some(m => m && text(m.relation) === "head")
  const deviceId = state.enrollment.device.id
  state.memberOrder.push(id)
  change(d => {
    if (!d.members || typeof d.members !== "object") d.members = {}
    d.members[id] = { fullName: "", relation: hasHead ? "other" : "head", skills: {} }
    recordVisit(d, deviceId)
  })
  refreshHousehold()
  const input = document.getElementById(fieldId(id, "fullName"))
  if (input) input.focus()
}

function removeMember(id, button) {
  if (state.armedRemove !== id) {
    state.armedRemove = id
    button.textContent = "Bấm lần nữa để xoá"
    button.classList.add("armed")
    return
  }
  state.armedRemove = null
  change(d => {
    if (d.members && d.members[id]) delete d.members[id]
  })
}

function renderMember(id) {
  const fieldset = document.createElement("fieldset")
  fieldset.className = "member"
  fieldset.dataset.member = id
  const legend = document.createElement("legend")
  fieldset.append(legend)
  for (const question of memberSection.questions) fieldset.append(renderQuestion(question, id))
  const hint = document.createElement("p")
  hint.className = "muted small age-hint"
  hint.textContent = "Nhập năm sinh để hiện các câu hỏi theo độ tuổi."
  fieldset.append(hint)
  const missing = document.createElement("p")
  missing.className = "notice missing"
  missing.hidden = true
  fieldset.append(missing)
  const remove = document.createElement("button")
  remove.type = "button"
  remove.className = "danger remove-member"
  remove.textContent = "Xoá thành viên"
  remove.addEventListener("click", () => removeMember(id, remove))
  fieldset.append(remove)
  return fieldset
}

function renderHouseholdFields() {
  const fields = $("household-fields")
  fields.textContent = ""
  const legend = document.createElement("legend")
  legend.textContent = householdSection.labelVi
  fields.append(legend)
  for (const question of householdSection.questions) fields.append(renderQuestion(question, null))
}

function conflictNote(wrap, parent, key) {
  const note = wrap.querySelector(".conflict-note")
  let count = 0
  try {
    const parts = key.split("/")
    let obj = parent
    for (const part of parts.slice(0, -1)) obj = obj && obj[part]
    const conflicts = obj && typeof obj === "object" ? Automerge.getConflicts(obj, parts[parts.length - 1]) : undefined
    count = conflicts ? Object.keys(conflicts).length : 0
  } catch {
    count = 0
  }
  note.hidden = count < 2
  if (count >= 2) note.textContent = `Có ${count} giá trị khác nhau từ các máy; trưởng thôn sẽ chọn.`
}

function setControl(control, question, value) {
  // Choices follow the document at once. A text field being typed in is saved at every
  // keystroke, so it shows the document as of the last one: what another phone changed meanwhile
  // is put in place with the cursor kept, or the next keystroke would save the old text over it.
  // Not during an IME composition (Vietnamese keyboards compose), nor in a number field.
  const typing = control.tagName === "TEXTAREA" || (control.tagName === "INPUT" && control.type !== "checkbox")
  if (typing && control === document.activeElement) {
    if (control.type === "text" || control.tagName === "TEXTAREA") followRemoteText(control, value)
    return
  }
  if (control.type === "checkbox") {
    control.checked = value === true
  } else if (control.tagName === "SELECT") {
    const v = value === undefined || value === null ? "" : String(value)
    if (![...control.options].some(o => o.value === v) && v !== "") {
      const option = document.createElement("option")
      option.value = v
      option.textContent = v
      control.append(option)
    }
    control.value = v
  } else if (control.getAttribute("aria-invalid") !== "true") {
    const v = value === undefined || value === null ? "" : String(value)
    if (control.value !== v) control.value = v
  }
}

/** Puts the document's text into the focused field, keeping the cursor on the same text. */
function followRemoteText(control, value) {
  if (control.dataset.composing === "true" || control.getAttribute("aria-invalid") === "true") return
  const next = value === undefined || value === null ? "" : String(value)
  const old = control.value
  if (old === next) return
  let start = 0
  while (start < old.length && start < next.length && old[start] === next[start]) start++
  let endOld = old.length
  let endNew = next.length
  while (endOld > start && endNew > start && old[endOld - 1] === next[endNew - 1]) {
    endOld--
    endNew--
  }
  const shift = pos => (pos <= start ? pos : pos >= endOld ? pos + endNew - endOld : endNew)
  const [from, to] = [control.selectionStart, control.selectionEnd]
  control.value = next
  if (from !== null && to !== null) control.setSelectionRange(shift(from), shift(to))
}

function refreshHousehold() {
  const handle = state.current
  if (!handle) return
  const doc = handle.doc()
  if (!doc) return
  const consent = consentGiven(doc)
  $("household-title").textContent = doc.address ? String(doc.address) : "Hộ gia đình mới"
  const review = $("household-review")
  review.textContent = reviewText(doc)
  review.hidden = !review.textContent
  if (doc.review) review.dataset.decision = text(doc.review.decision) || ""
  syncLabel($("household-sync"), syncState(handle.url, handle))

  for (const wrap of $("household-fields").querySelectorAll(".question")) {
    const key = wrap.dataset.question
    const control = wrap.querySelector("[data-key]")
    setControl(control, null, getPath(doc, key))
    conflictNote(wrap, doc, key)
    if (PERSONAL.has(key)) control.disabled = !consent || !hamletChosen(doc)
  }
  const hamlet = hamletChosen(doc)
  $("consent-needed").hidden = consent
  $("hamlet-needed").hidden = hamlet
  $("add-member").disabled = !consent || !hamlet
  $("photo-input").disabled = !consent || !hamlet
  $("photos-section").classList.toggle("locked", !consent)
  $("members-section").classList.toggle("locked", !consent)

  // Members: keep the order they were shown in; new ones at the end.
  const members = doc.members && typeof doc.members === "object" ? doc.members : {}
  const ids = Object.keys(members)
  state.memberOrder = state.memberOrder.filter(id => ids.includes(id))
  const fresh = ids.filter(id => !state.memberOrder.includes(id))
  const rank = { head: 0, spouse: 1, parent: 2, child: 3, other: 4 }
  fresh.sort((a, b) => (rank[text(members[a].relation)] ?? 5) - (rank[text(members[b].relation)] ?? 5) || (a < b ? -1 : 1))
  state.memberOrder.push(...fresh)
  const container = $("members")
  const shown = new Map([...container.children].map(f => [f.dataset.member, f]))
  state.memberOrder.forEach((id, index) => {
    let fieldset = shown.get(id)
    if (!fieldset) fieldset = renderMember(id)
    if (container.children[index] !== fieldset) container.insertBefore(fieldset, container.children[index] || null)
    const member = members[id] || {}
    const name = member.fullName ? String(member.fullName) : ""
    fieldset.querySelector("legend").textContent = `${memberSection.labelVi} ${index + 1}${name ? `: ${name}` : ""}`
    let unknownAge = false
    const missing = []
    for (const wrap of fieldset.querySelectorAll(".question")) {
      const question = memberSection.questions.find(q => q.key === wrap.dataset.question)
      const control = wrap.querySelector("[data-key]")
      const value = getPath(member, question.key)
      setControl(control, question, value)
      const fits = applies(question, member)
      if (fits === "unknown") unknownAge = true
      wrap.hidden = fits !== "yes"
      control.disabled = !consent
      conflictNote(wrap, member, question.key)
      if (question.required && (value === undefined || value === null || value === "")) missing.push(question.labelVi)
    }
    fieldset.querySelector(".age-hint").hidden = !unknownAge
    const missingNote = fieldset.querySelector(".missing")
    missingNote.hidden = missing.length === 0
    missingNote.textContent = missing.length ? `Chưa nhập: ${missing.join(", ")}` : ""
    const remove = fieldset.querySelector(".remove-member")
    if (state.armedRemove !== id) {
      remove.textContent = "Xoá thành viên"
      remove.classList.remove("armed")
    }
  })
  for (const [id, fieldset] of shown) if (!ids.includes(id)) fieldset.remove()
  const heads = Object.values(members).filter(m => m && text(m.relation) === "head").length
  if (ids.length > 0 && heads !== 1) {
    $("members-title").dataset.warn = "true"
    $("members-title").textContent = heads === 0 ? "Thành viên (chưa có chủ hộ)" : "Thành viên (có hơn một chủ hộ)"
  } else {
    delete $("members-title").dataset.warn
    $("members-title").textContent = "Thành viên"
  }
  const photoMember = $("photo-member")
  const wanted = ["", ...state.memberOrder]
  const have = [...photoMember.options].map(o => o.value)
  if (wanted.join("|") !== have.join("|")) {
    const chosen = photoMember.value
    photoMember.textContent = ""
    for (const id of wanted) {
      const option = document.createElement("option")
      option.value = id
      photoMember.append(option)
    }
    photoMember.value = wanted.includes(chosen) ? chosen : ""
  }
  ;[...photoMember.options].forEach((option, i) => {
    option.textContent = i === 0 ? "— cả hộ —" : (members[option.value] && text(members[option.value].fullName)) || `Thành viên ${i}`
  })
  photoMember.disabled = !consent
  renderPhotos(doc)
}

async function openHousehold(url) {
  let handle
  try {
    handle = await handleFor(url)
  } catch {
    showBanner("Không mở được hộ này: máy chưa có dữ liệu của hộ và chưa kết nối được máy chủ.")
    return
  }
  store.addHouseholdUrl(url)
  ensureMaps(handle)
  state.current = handle
  state.memberOrder = []
  state.armedRemove = null
  $("doc-id").textContent = handle.documentId
  $("members").textContent = ""
  $("photos").textContent = ""
  renderHouseholdFields()
  show("view-household")
  refreshHousehold()
}

function newHousehold() {
  const device = state.enrollment.device
  // One hamlet: it is the household's. Several: the volunteer chooses (no default), before any
  // personal data. Never an empty hamlet.
  const hamlets = device.hamlets || []
  const initial = {
    schema: SCHEMA,
    communeCode: device.communeCode,
    consent: { given: false },
    members: {},
    photos: {},
    visits: [],
  }
  if (hamlets.length === 1) initial.hamletId = hamlets[0]
  const handle = state.repo.create(initial)
  try {
    store.addHouseholdUrl(handle.url)
  } catch (e) {
    if (isQuotaError(e)) showBanner(STORAGE_FULL)
  }
  state.handles.set(handle.url, handle)
  handle.on("change", () => {
    if (state.current === handle) refreshHousehold()
    renderList()
  })
  openHousehold(handle.url)
}

// ---------------------------------------------------------------- photos

const PHOTO_STATUS = {
  pending: "chờ tải lên",
  uploading: "đang tải lên…",
  uploaded: "đã tải lên",
  error: "lỗi",
  elsewhere: "ảnh từ máy khác",
}

async function renderPhotos(doc) {
  const ul = $("photos")
  const photos = (doc && doc.photos) || {}
  const shas = Object.keys(photos)
  const existing = new Map([...ul.children].map(li => [li.dataset.sha, li]))
  for (const sha of shas) {
    let li = existing.get(sha)
    if (!li) {
      li = document.createElement("li")
      li.dataset.sha = sha
      li.innerHTML = '<img alt="" width="64" height="64"><span class="photo-meta"><span class="photo-name"></span><span class="photo-state"></span></span>'
      ul.append(li)
    }
    const meta = photos[sha] || {}
    const owner = meta.memberId && doc.members && doc.members[text(meta.memberId)]
    const ownerName = owner && owner.fullName ? ` · ${String(owner.fullName)}` : ""
    li.querySelector(".photo-name").textContent = `Ảnh ${sha.slice(0, 8)}${ownerName}${meta.takenAt ? ` · ${String(meta.takenAt).slice(0, 16).replace("T", " ")}` : ""}`
    store
      .getPhoto(sha)
      .then(record => {
        const status = record ? record.status : "elsewhere"
        const label = li.querySelector(".photo-state")
        label.dataset.status = status
        label.textContent = PHOTO_STATUS[status] + (status === "error" && record.error ? `: ${record.error}` : "")
        const img = li.querySelector("img")
        const picture = record && (record.blob || record.thumb)
        if (picture && !img.src) img.src = URL.createObjectURL(picture)
        img.alt = `Ảnh minh chứng ${sha.slice(0, 8)}`
        let retry = li.querySelector(".photo-retry")
        if (status === "error" && !retry) {
          retry = document.createElement("button")
          retry.type = "button"
          retry.className = "photo-retry"
          retry.textContent = "Thử lại"
          retry.addEventListener("click", () => {
            retry.disabled = true
            retryPhoto(sha)
          })
          li.querySelector(".photo-meta").append(retry)
        } else if (status !== "error" && retry) {
          retry.remove()
        }
        if (retry) retry.disabled = false
      })
      .catch(() => {})
  }
  for (const [sha, li] of existing) if (!shas.includes(sha)) li.remove()
}

function loadImage(file) {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(file)
    const img = new Image()
    img.onload = () => resolve({ img, url })
    img.onerror = () => {
      URL.revokeObjectURL(url)
      reject(new Error("decode"))
    }
    img.src = url
  })
}

async function shrink(file) {
  const { img, url } = await loadImage(file)
  try {
    const w = img.naturalWidth
    const h = img.naturalHeight
    const scale = Math.min(1, LONG_EDGE / Math.max(w, h))
    const canvas = document.createElement("canvas")
    canvas.width = Math.max(1, Math.round(w * scale))
    canvas.height = Math.max(1, Math.round(h * scale))
    const ctx = canvas.getContext("2d")
    ctx.fillStyle = "#ffffff"
    ctx.fillRect(0, 0, canvas.width, canvas.height)
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height)
    const blob = await new Promise(resolve => canvas.toBlob(resolve, "image/jpeg", 0.85))
    if (!blob) throw new Error("encode")
    // A small copy the phone keeps after the photo itself is on the server.
    const t = Math.min(1, THUMB_EDGE / Math.max(w, h))
    const small = document.createElement("canvas")
    small.width = Math.max(1, Math.round(w * t))
    small.height = Math.max(1, Math.round(h * t))
    small.getContext("2d").drawImage(canvas, 0, 0, small.width, small.height)
    const thumb = await new Promise(resolve => small.toBlob(resolve, "image/jpeg", 0.7))
    return { blob, thumb: thumb || undefined }
  } finally {
    URL.revokeObjectURL(url)
  }
}

async function sha256Hex(blob) {
  const bytes = await new Response(blob).arrayBuffer()
  const digest = await crypto.subtle.digest("SHA-256", bytes)
  return [...new Uint8Array(digest)].map(b => b.toString(16).padStart(2, "0")).join("")
}

async function addPhoto(file) {
  const error = $("photo-error")
  error.hidden = true
  const fail = text => {
    error.textContent = text
    error.hidden = false
  }
  // The household and the member as they are now: the volunteer may go back to the list or open
  // another household while the photo is being shrunk and saved.
  const handle = state.current
  if (!handle || !consentGiven(handle.doc())) return fail("Cần hộ đồng ý trước khi chụp ảnh.")
  if (!hamletChosen(handle.doc())) return fail(CHOOSE_HAMLET)
  const memberSelect = $("photo-member")
  const memberId = memberSelect && memberSelect.value ? memberSelect.value : undefined
  if (file.size > MAX_PHOTO_BYTES) return fail("Ảnh quá lớn (trên 30 MB). Hãy chụp lại với độ phân giải thấp hơn.")
  if (file.type && !file.type.startsWith("image/")) return fail("Tệp này không phải ảnh.")
  if (!window.crypto || !crypto.subtle) return fail("Trình duyệt không hỗ trợ mã hoá (cần HTTPS); không lưu được ảnh.")
  const failHere = text => {
    if (state.current === handle) fail(text)
    else showBanner(text)
  }
  let shrunk
  try {
    shrunk = await shrink(file)
  } catch {
    return failHere("Không đọc được ảnh này (định dạng không hỗ trợ hoặc ảnh hỏng). Hãy chụp lại.")
  }
  const { blob, thumb } = shrunk
  const sha = await sha256Hex(blob)
  const takenAt = new Date().toISOString()
  const existing = await store.getPhoto(sha).catch(() => null)
  try {
    if (!existing) {
      await store.putPhoto({ sha, docUrl: handle.url, blob, thumb, status: "pending", takenAt })
    }
  } catch (e) {
    return failHere(isQuotaError(e) ? STORAGE_FULL : "Không lưu được ảnh trên máy.")
  }
  const doc = handle.doc()
  if (!doc || !consentGiven(doc)) {
    if (!existing) await store.deletePhoto(sha).catch(() => {})
    return failHere("Hộ chưa đồng ý (hoặc đã bỏ đồng ý): ảnh không được lưu.")
  }
  const deviceId = state.enrollment.device.id
  try {
    handle.change(d => {
      if (!d.photos || typeof d.photos !== "object") d.photos = {}
      const ref = { kind: "evidence", takenAt }
      if (memberId && d.members && d.members[memberId]) ref.memberId = memberId
      d.photos[sha] = ref
      recordVisit(d, deviceId)
    })
  } catch (e) {
    if (isQuotaError(e)) showBanner(STORAGE_FULL)
    else throw e
  }
  state.photoDocs.set(handle.url, "pending")
  if (state.current === handle) refreshHousehold()
  renderList()
  uploadPending(true)
}

/** Codes the server gives for a photo it will never take, whatever the phone does. */
const PHOTO_FINAL_ERRORS = {
  "unsupported-format": "định dạng không hỗ trợ",
  "photo-corrupt": "ảnh hỏng",
  "photo-dimensions-too-large": "ảnh quá lớn",
  "photo-too-large": "ảnh quá lớn",
  "photo-hash-mismatch": "ảnh bị hỏng khi gửi",
  "photo-hash-malformed": "ảnh bị hỏng khi gửi",
  "photo-empty": "ảnh rỗng",
  forbidden: "máy không có quyền",
}
const RETRY_FIRST = 30 * 1000
const RETRY_MAX = 60 * 60 * 1000

/** Which households still have photos not on the server ("pending", or "error" when one was
 * refused for good), and how many photos wait: the "on server" labels and the top bar. */
async function refreshPhotoDocs() {
  let records
  try {
    records = await store.allPhotos()
  } catch {
    return
  }
  const docs = new Map()
  let waiting = 0
  let failed = 0
  for (const record of records) {
    if (record.status === "uploaded") continue
    const final = record.status === "error" && record.permanent
    if (final) failed++
    else waiting++
    if (!final || !docs.has(record.docUrl)) docs.set(record.docUrl, final ? "error" : "pending")
    else if (!final) docs.set(record.docUrl, "pending")
  }
  state.photoDocs = docs
  state.photosWaiting = waiting
  state.photosFailed = failed
  renderList()
  if (state.current) syncLabel($("household-sync"), syncState(state.current.url, state.current))
}

async function retryPhoto(sha) {
  try {
    const record = await store.getPhoto(sha)
    if (!record || record.status === "uploaded") return
    record.status = "pending"
    delete record.permanent
    delete record.error
    delete record.retryAt
    record.attempts = 0
    await store.putPhoto(record)
  } catch (e) {
    if (isQuotaError(e)) showBanner(STORAGE_FULL)
    return
  }
  if (state.current) renderPhotos(state.current.doc())
  await refreshPhotoDocs()
  uploadPending(true)
}

async function uploadPending(force = false) {
  if (state.revoked || !state.enrollment) return
  // After a busy or failing server (429, 5xx) the periodic attempt waits longer each time; being
  // back online, reconnecting, a new photo or "Thử lại" tries at once.
  if (!force && state.uploadPauseUntil > Date.now()) return
  if (state.uploading) {
    state.uploadAgain = true
    return
  }
  state.uploading = true
  state.uploadAgain = false
  try {
    const records = await store.allPhotos()
    for (const record of records) {
      if (record.status === "uploaded" || state.revoked) continue
      if (record.status === "error" && record.permanent) continue
      if (record.retryAt && record.retryAt > Date.now()) continue
      if (!record.blob) continue
      let response
      try {
        response = await fetch(`/api/v1/photos/${record.sha}`, {
          method: "PUT",
          headers: { authorization: `Bearer ${state.enrollment.token}`, "content-type": "image/jpeg" },
          body: record.blob,
        })
      } catch {
        break // offline: try again later
      }
      if (response.status < 500 && response.status !== 429) {
        state.uploadBackoff = 0
        state.uploadPauseUntil = 0
      }
      if (response.ok) {
        // On the server: the phone keeps the state and the small copy, not the photo.
        record.status = "uploaded"
        delete record.error
        delete record.permanent
        delete record.retryAt
        delete record.attempts
        delete record.blob
      } else if (response.status === 401) {
        markRevoked()
        break
      } else if (response.status >= 500 || response.status === 429) {
        state.uploadBackoff = Math.min(RETRY_MAX, state.uploadBackoff ? state.uploadBackoff * 2 : RETRY_FIRST)
        state.uploadPauseUntil = Date.now() + state.uploadBackoff
        break
      } else {
        let code = null
        try {
          code = errorCode(await response.json())
        } catch {
          code = null
        }
        record.status = "error"
        if (code && PHOTO_FINAL_ERRORS[code]) {
          record.permanent = true
          record.error = PHOTO_FINAL_ERRORS[code]
        } else {
          // Not a refusal the server gives for good: tried again later, waiting longer each time.
          record.permanent = false
          record.attempts = (record.attempts || 0) + 1
          record.retryAt = Date.now() + Math.min(RETRY_MAX, RETRY_FIRST * 2 ** (record.attempts - 1))
          record.error = `máy chủ từ chối (${response.status}${code ? `, ${code}` : ""}), sẽ thử lại`
        }
      }
      try {
        await store.putPhoto(record)
      } catch (e) {
        if (isQuotaError(e)) showBanner(STORAGE_FULL)
      }
    }
  } catch (e) {
    if (isQuotaError(e)) showBanner(STORAGE_FULL)
  } finally {
    state.uploading = false
  }
  await refreshPhotoDocs()
  if (state.current) renderPhotos(state.current.doc())
  updateConnection()
  if (state.uploadAgain) {
    state.uploadAgain = false
    uploadPending(true)
  }
}

// ---------------------------------------------------------------- open by id

async function openById(text, error = $("open-error")) {
  error.hidden = true
  let value = text.trim()
  if (!value.startsWith("automerge:")) value = `automerge:${value}`
  if (!isValidAutomergeUrl(value) || !isValidDocumentId(value.slice("automerge:".length))) {
    error.textContent = "Mã hộ không hợp lệ."
    error.hidden = false
    return false
  }
  try {
    const handle = await handleFor(value)
    if (!handle.isReady()) throw new Error("unavailable")
  } catch {
    state.handles.delete(value)
    error.textContent = "Không tìm thấy hộ này (cần có mạng, và hộ phải thuộc thôn của máy)."
    error.hidden = false
    return false
  }
  $("open-id").value = ""
  await openHousehold(value)
  return true
}

// ---------------------------------------------------------------- the hamlet's households on the server

async function loadServerHouseholds() {
  const error = $("server-error")
  const ul = $("server-households")
  error.hidden = true
  let response
  try {
    response = await fetch("/api/v1/households", { headers: { authorization: `Bearer ${state.enrollment.token}` } })
  } catch {
    error.textContent = "Không có kết nối mạng. Danh sách cần có mạng; các hộ trên máy vẫn dùng được."
    error.hidden = false
    return
  }
  if (response.status === 401) {
    markRevoked()
    return
  }
  let list = null
  try {
    list = response.ok ? await response.json() : null
  } catch {
    list = null
  }
  if (!Array.isArray(list)) {
    error.textContent = `Máy chủ không trả được danh sách (lỗi ${response.status}). Thử lại sau.`
    error.hidden = false
    return
  }
  const mine = new Set(store.loadHouseholdUrls())
  ul.textContent = ""
  const others = list.filter(h => h && h.documentId && !mine.has(`automerge:${h.documentId}`))
  if (others.length === 0) {
    const li = document.createElement("li")
    li.className = "muted"
    li.textContent = "Máy đã có mọi hộ của thôn."
    ul.append(li)
  }
  others.sort((a, b) => (b.updatedAt || 0) - (a.updatedAt || 0))
  for (const h of others) {
    const li = document.createElement("li")
    li.dataset.docId = h.documentId
    const button = document.createElement("button")
    button.type = "button"
    button.className = "household"
    const title = document.createElement("span")
    title.className = "title"
    title.textContent = h.address || "(chưa có địa chỉ)"
    const sub = document.createElement("span")
    sub.className = "sub"
    sub.textContent = `Thôn ${h.hamletId || "?"} · ${h.memberCount || 0} thành viên${h.conflictCount ? ` · ${h.conflictCount} xung đột` : ""}`
    button.append(title, sub)
    button.addEventListener("click", async () => {
      if (await openById(h.documentId, error)) li.remove()
    })
    li.append(button)
    ul.append(li)
  }
}

// ---------------------------------------------------------------- start

async function startEnrolled() {
  const device = state.enrollment.device
  $("device-line").textContent = `${device.volunteer || "Tình nguyện viên"} · Xã ${device.communeCode || "?"} · Thôn ${(device.hamlets || []).join(", ")}`
  $("device-line").hidden = false
  startRepo()
  show("view-list")
  loadAllHouseholds()
  if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {})
  setInterval(() => {
    if (!$("view-list").hidden) drawList()
    else if (state.current) syncLabel($("household-sync"), syncState(state.current.url, state.current))
    updateConnection()
  }, 1000)
  setInterval(() => uploadPending(), 15000)
  window.addEventListener("online", () => {
    uploadPending(true)
    checkRevoked()
  })
  window.addEventListener("offline", updateConnection)
  // Whatever is still queued goes to IndexedDB when the app is put away (the phone may kill it).
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden" && state.repo) state.repo.flush().catch(() => {})
  })
  refreshPhotoDocs()
  uploadPending(true)
  checkRevoked()
}

function wire() {
  $("enroll-form").addEventListener("submit", event => {
    event.preventDefault()
    enroll($("enroll-code").value)
  })
  $("open-form").addEventListener("submit", event => {
    event.preventDefault()
    openById($("open-id").value)
  })
  $("new-household").addEventListener("click", newHousehold)
  $("server-households-load").addEventListener("click", loadServerHouseholds)
  $("back").addEventListener("click", showList)
  $("add-member").addEventListener("click", addMember)
  $("household-form").addEventListener("submit", event => event.preventDefault())
  $("photo-input").addEventListener("change", event => {
    const file = event.target.files && event.target.files[0]
    event.target.value = ""
    if (file) addPhoto(file)
  })
  $("banner").addEventListener("click", () => {
    if ($("banner").dataset.kind === "update") return location.reload()
    if ($("banner").dataset.kind !== "error" || !state.revoked) hideBanner()
  })
}

/** Registers the service worker; an app left open for days asks for a new build every hour, and
 * when one takes over says so (the page keeps working: everything it needs is loaded). */
function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return
  const hadController = !!navigator.serviceWorker.controller
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (hadController) showBanner("Đã có bản mới của ứng dụng. Chạm vào đây để tải lại.", "update")
  })
  navigator.serviceWorker
    .register("sw.js", { scope: "./" })
    .then(registration => setInterval(() => registration.update().catch(() => {}), 60 * 60 * 1000))
    .catch(() => {})
}

async function main() {
  wire()
  registerServiceWorker()
  try {
    if (typeof WebAssembly === "undefined") throw new Error("no WebAssembly")
    await initializeWasm(fetch(wasmUrl))
  } catch (e) {
    const old = typeof WebAssembly === "undefined" || (e && (e instanceof WebAssembly.CompileError || e.message === "no WebAssembly"))
    $("loading").textContent = old
      ? "Trình duyệt trên máy quá cũ. Hãy cập nhật Chrome (và Android System WebView) từ CH Play rồi mở lại."
      : "Không mở được ứng dụng (thiếu tệp). Hãy mở lại khi có mạng."
    $("loading").className = "error"
    return
  }
  state.enrollment = store.loadEnrollment()
  const code = enrollCodeFromHash()
  if (state.enrollment && state.enrollment.token) {
    if (code) history.replaceState(null, "", location.pathname + location.search)
    await startEnrolled()
  } else {
    show("view-enroll")
    if (code) {
      $("enroll-code").value = code
      await enroll(code)
    }
  }
}

main()

// What the phone keeps besides the Automerge documents (those live in the repo's IndexedDB
// database "sansang-field"): the enrollment, the list of its households, the heads the server
// last acknowledged, and the photos (IndexedDB database "sansang-photos").

const KEY_DEVICE = "sansang.device"
const KEY_HOUSEHOLDS = "sansang.households"
const KEY_CONFIRMED = "sansang.confirmed"

function readJson(key, fallback) {
  try {
    const text = localStorage.getItem(key)
    return text ? JSON.parse(text) : fallback
  } catch {
    return fallback
  }
}

function writeJson(key, value) {
  localStorage.setItem(key, JSON.stringify(value))
}

/** `{token, device: {id, volunteer, communeCode, hamlets}}` or null. */
export function loadEnrollment() {
  return readJson(KEY_DEVICE, null)
}

export function saveEnrollment(enrollment) {
  writeJson(KEY_DEVICE, enrollment)
}

/** Automerge URLs of the households on this phone, in the order they came. */
export function loadHouseholdUrls() {
  const list = readJson(KEY_HOUSEHOLDS, [])
  return Array.isArray(list) ? list : []
}

export function removeHouseholdUrl(url, replacement) {
  const list = loadHouseholdUrls()
  const index = list.indexOf(url)
  if (index < 0 && !replacement) return
  if (index >= 0) {
    if (replacement && !list.includes(replacement)) list.splice(index, 1, replacement)
    else list.splice(index, 1)
  } else if (!list.includes(replacement)) {
    list.push(replacement)
  }
  writeJson(KEY_HOUSEHOLDS, list)
  const all = readJson(KEY_CONFIRMED, {})
  if (url in all) {
    delete all[url]
    writeJson(KEY_CONFIRMED, all)
  }
}

export function addHouseholdUrl(url) {
  const list = loadHouseholdUrls()
  if (!list.includes(url)) {
    list.push(url)
    writeJson(KEY_HOUSEHOLDS, list)
  }
}

/** The heads the server acknowledged per document: "on server" survives a reload offline. */
export function confirmedHeads(url) {
  return readJson(KEY_CONFIRMED, {})[url] || null
}

export function setConfirmedHeads(url, heads) {
  const all = readJson(KEY_CONFIRMED, {})
  const key = heads.join(",")
  if (all[url] === key) return
  all[url] = key
  writeJson(KEY_CONFIRMED, all)
}

// ---- photos ----

let dbPromise = null

// A connection that failed, was closed by the browser or must give way to a newer version is
// forgotten, so that the next call opens a fresh one.
function openDb() {
  if (!dbPromise) {
    const opening = new Promise((resolve, reject) => {
      const request = indexedDB.open("sansang-photos", 1)
      request.onupgradeneeded = () => {
        request.result.createObjectStore("photos", { keyPath: "sha" })
      }
      request.onsuccess = () => {
        const db = request.result
        const forget = () => {
          if (dbPromise === opening) dbPromise = null
        }
        db.onclose = forget
        db.onversionchange = () => {
          db.close()
          forget()
        }
        resolve(db)
      }
      request.onerror = () => reject(request.error)
    })
    opening.catch(() => {
      if (dbPromise === opening) dbPromise = null
    })
    dbPromise = opening
  }
  return dbPromise
}

function run(mode, fn) {
  return openDb().then(
    db =>
      new Promise((resolve, reject) => {
        let tx
        try {
          tx = db.transaction("photos", mode)
        } catch (e) {
          // A connection the browser closed under us: the next call opens another.
          if (dbPromise) dbPromise.then(open => open === db && (dbPromise = null), () => {})
          reject(e)
          return
        }
        const store = tx.objectStore("photos")
        let result
        const request = fn(store)
        if (request) request.onsuccess = () => (result = request.result)
        tx.oncomplete = () => resolve(result)
        tx.onerror = () => reject(tx.error)
        tx.onabort = () => reject(tx.error || new DOMException("aborted", "AbortError"))
      }),
  )
}

/** `{sha, docUrl, blob?, thumb?, status: "pending"|"uploaded"|"error", error?, permanent?,
 * attempts?, retryAt?, takenAt}`; the blob goes once the server has the photo. */
export function putPhoto(record) {
  return run("readwrite", store => store.put(record))
}

export function getPhoto(sha) {
  return run("readonly", store => store.get(sha))
}

export function allPhotos() {
  return run("readonly", store => store.getAll())
}

export function deletePhoto(sha) {
  return run("readwrite", store => store.delete(sha))
}

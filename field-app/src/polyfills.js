// What the libraries use beyond the oldest Chrome the app targets (Android WebView / Chrome 79):
// loaded before anything else.
if (!Object.hasOwn) {
  Object.defineProperty(Object, "hasOwn", {
    value: (object, key) => Object.prototype.hasOwnProperty.call(object, key),
    configurable: true,
    writable: true,
  })
}
if (typeof globalThis.WeakRef === "undefined") {
  // A strong reference: automerge-repo only caches with it, so nothing is lost but memory.
  globalThis.WeakRef = class WeakRef {
    constructor(target) {
      this.target = target
    }
    deref() {
      return this.target
    }
  }
}
if (typeof globalThis.FinalizationRegistry === "undefined") {
  // Clean-up callbacks never run: again only memory.
  globalThis.FinalizationRegistry = class FinalizationRegistry {
    register() {}
    unregister() {
      return false
    }
  }
}

// The review pages as a hamlet head uses them: Debian's Chromium at 360 × 740, driven by
// playwright-core against `sansang demo`. Signs in, opens a household with conflicting values,
// keeps one value, approves the household, and sees the queue counts change; checks every page
// with axe-core (no serious or critical violation) and saves screenshots.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { accessible, api, credentials, executablePath, shots, url } from "./helpers.mjs";

async function signInApi(username) {
  const user = credentials.users.find((u) => u.username === username);
  const body = await api("/api/v1/auth/login", null, {
    method: "POST",
    body: JSON.stringify({ username, password: user.password }),
  });
  return body.token;
}

async function count(page, state) {
  const text = await page.locator(`#states a[data-state="${state}"] .count`).innerText();
  return Number(text);
}

test("a hamlet head resolves a conflict and approves a household on a small phone", async () => {
  // Which household has conflicting values, and whose hamlet it is.
  const admin = await signInApi("admin");
  const queue = await api(`/api/v1/reviews?commune=${credentials.commune.code}`, admin);
  const conflicted = queue.households.find((h) => h.conflictCount === 1 && h.state === "needs-attention");
  assert.ok(conflicted, "the demo has a household with conflicting values");
  const head = credentials.users.find((u) => u.role === "hamlet-head" && u.hamlets.includes(conflicted.hamletId));
  assert.ok(head, `a hamlet head of ${conflicted.hamletId}`);

  const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  try {
    const context = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: "vi-VN", bypassCSP: true });
    const page = await context.newPage();
    const failed = [];
    page.on("requestfailed", (r) => failed.push(r.url()));
    page.on("pageerror", (e) => failed.push(String(e)));

    // Signed out: the sign-in page, then back to the queue.
    await page.goto(`${url}/review`);
    assert.match(page.url(), /\/review\/login/);
    await page.screenshot({ path: `${shots}/1-sign-in.png`, fullPage: true });
    await accessible(page, "sign-in");
    await page.fill("#password", "not the password");
    await page.fill("#username", head.username);
    await page.click("button[type=submit]");
    assert.match(await page.locator("#signin-error").innerText(), /Sai tên đăng nhập hoặc mật khẩu/);
    await page.fill("#password", head.password);
    await page.click("button[type=submit]");
    await page.waitForURL(`${url}/review`);

    const attention = await count(page, "needs-attention");
    const approved = await count(page, "approved");
    assert.ok(attention >= 1, `needs attention: ${attention}`);
    await page.screenshot({ path: `${shots}/2-queue.png`, fullPage: true });
    await accessible(page, "queue");
    // The page fits the phone: nothing wider than the screen.
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 360, `the queue is ${width} px wide`);

    await page.click(`#states a[data-state="needs-attention"]`);
    await page.click(`a[href="/review/households/${conflicted.documentId}"]`);
    await page.waitForURL(`${url}/review/households/${conflicted.documentId}`);
    assert.equal(await page.locator("#review-state").getAttribute("data-state"), "needs-attention");
    await page.screenshot({ path: `${shots}/3-household.png`, fullPage: true });
    await accessible(page, "household");
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 360, `the household page is ${wide} px wide`);

    // Two values side by side; keep the first.
    const values = page.locator("section.conflict form:has(input[name=value])");
    assert.ok((await values.count()) >= 2, "both conflicting values are shown");
    await values.first().locator("button").click();
    await page.waitForURL(/done=resolved/);
    assert.equal(await page.locator("#conflicts").count(), 0, "the conflict is gone");
    await page.locator("#done").waitFor();

    // A rejection without a reason is refused, with the field marked and nothing saved.
    await page.check("input[name=decision][value=rejected]");
    await page.click("#decision button[type=submit]");
    assert.match(await page.locator("#problem").innerText(), /lý do/);
    assert.equal(await page.locator("#comment").getAttribute("aria-invalid"), "true");
    await page.screenshot({ path: `${shots}/4-reason-required.png`, fullPage: true });

    // Approve.
    await page.check("input[name=decision][value=approved]");
    await page.click("#decision button[type=submit]");
    await page.waitForURL(/done=decided/);
    assert.equal(await page.locator("#review-state").getAttribute("data-state"), "approved");
    await page.screenshot({ path: `${shots}/5-approved.png`, fullPage: true });

    // The queue's counts moved.
    await page.goto(`${url}/review`);
    assert.equal(await count(page, "needs-attention"), attention - 1);
    assert.equal(await count(page, "approved"), approved + 1);

    // English on request, remembered.
    await page.click("a[lang=en]");
    await page.waitForURL(`${url}/review`);
    assert.match(await page.locator("#states").innerText(), /Approved/);
    await page.screenshot({ path: `${shots}/6-queue-english.png`, fullPage: true });
    await accessible(page, "queue in English");

    assert.deepEqual(failed, [], "no request failed and no script error");
    await context.close();
  } finally {
    await browser.close();
  }
});

test("commune staff see the dashboard on a phone and on a desktop", async () => {
  const staff = credentials.users.find((u) => u.role === "commune-staff");
  const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  try {
    for (const [name, viewport] of [["phone", { width: 360, height: 740 }], ["desktop", { width: 1280, height: 900 }]]) {
      const context = await browser.newContext({ viewport, locale: "vi-VN", bypassCSP: true });
      const page = await context.newPage();
      const failed = [];
      page.on("requestfailed", (r) => failed.push(r.url()));
      page.on("pageerror", (e) => failed.push(String(e)));
      page.on("console", (m) => { if (m.type() === "error") failed.push(m.text()); });
      await page.goto(`${url}/review/login?next=/dashboard`);
      await page.fill("#username", staff.username);
      await page.fill("#password", staff.password);
      await page.click("button[type=submit]");
      await page.waitForURL(`${url}/dashboard`);
      // The all-surveyed view: the demo approves nothing.
      await page.click('a[href="/dashboard?view=all-surveyed"]');
      await page.waitForURL(/view=all-surveyed/);
      assert.equal(await page.locator("#charts svg.chart").count(), 8, "a chart per indicator");
      assert.ok((await page.locator("#table tbody tr").count()) >= 13, "twelve hamlets, the commune, the targets");
      assert.ok((await page.locator("#next li").count()) >= 1, "where to go next");
      assert.equal(await page.locator("#progress svg.chart circle").count() > 0, true, "today's snapshot is a point");
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= viewport.width, `the dashboard is ${width} px wide on a ${viewport.width} px screen`);
      await page.screenshot({ path: `${shots}/7-dashboard-${name}.png`, fullPage: true });
      await accessible(page, `dashboard (${name})`);
      assert.deepEqual(failed, [], "no request failed and no script or CSP error");
      await context.close();
    }
  } finally {
    await browser.close();
  }
});

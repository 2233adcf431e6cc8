/**
 * Chromium for the tests (Debian's package, driven by playwright-core),
 * signing in through the page as a user would, and screenshots of each
 * step for a person to look at afterwards.
 */

import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

/** CHROMIUM, else Debian's binary (its /usr/bin/chromium wrapper adds nothing the tests need). */
function chromiumPath(): string {
  const candidates = [process.env["CHROMIUM"], "/usr/lib/chromium/chromium", "/usr/bin/chromium"];
  const found = candidates.find((path) => path !== undefined && path !== "" && existsSync(path));
  if (found === undefined) throw new Error("no Chromium found: install Debian's chromium package (scripts/browser-test.sh does) or set CHROMIUM");
  return found;
}

export function launch(): Promise<Browser> {
  const args = ["--disable-dev-shm-usage"];
  // Chromium refuses to start as root with its sandbox on (CI runs as root).
  if (process.getuid?.() === 0) args.push("--no-sandbox");
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args });
}

/** Where screenshots go: TIDINGS_SCREENSHOTS, else target/browser-test/screenshots. */
export const SCREENSHOTS =
  process.env["TIDINGS_SCREENSHOTS"] ?? fileURLToPath(new URL("../../../target/browser-test/screenshots", import.meta.url));

/** Numbered screenshots of one test: `<test>-<nn>-<step>.png`. */
export class Shots {
  private count = 0;

  constructor(private readonly test: string) {}

  async take(page: Page, step: string): Promise<void> {
    await mkdir(SCREENSHOTS, { recursive: true });
    const name = `${this.test}-${String(++this.count).padStart(2, "0")}-${step}.png`;
    await page.screenshot({ path: join(SCREENSHOTS, name) });
  }
}

/** A new tab in `context`, signed in as `user` through the sign-in form, once online. */
export async function signIn(context: BrowserContext, url: string, user: string): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[${user}] page error:`, e));
  await page.goto(url);
  await page.locator("#sign-in-form input[name=user]").fill(user);
  await page.locator("#sign-in-form button[type=submit]").click();
  await waitOnline(page);
  return page;
}

export async function waitOnline(page: Page): Promise<void> {
  await page.locator('#status[data-state="online"]').waitFor({ timeout: 15_000 });
}

/** Opens a 1:1 conversation through the "chat with" form. */
export async function openChatWith(page: Page, other: string): Promise<void> {
  await page.locator("#new-chat input[name=user]").fill(other);
  await page.locator("#new-chat button[type=submit]").click();
  await page.locator("#compose").waitFor();
}

/** Types and sends a message in the open conversation, and waits for its ack. */
export async function send(page: Page, text: string): Promise<void> {
  await page.locator("#compose input[name=text]").fill(text);
  await page.locator("#compose button[type=submit]").click();
  await page.locator("#messages .message.sent .text", { hasText: exactly(text) }).waitFor({ timeout: 10_000 });
}

/** The texts of the open conversation's messages, top to bottom (membership lines left out). */
export function texts(page: Page): Promise<string[]> {
  return page.locator("#messages .message .text").allTextContents();
}

/**
 * Waits until the open conversation shows exactly `expected`, in order;
 * fails with what it does show.
 */
export async function waitForTexts(page: Page, expected: readonly string[], timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let shown: string[] = [];
  while (Date.now() < deadline) {
    shown = await texts(page);
    if (shown.length === expected.length && shown.every((text, i) => text === expected[i])) return;
    await page.waitForTimeout(50);
  }
  throw new Error(`the conversation shows ${JSON.stringify(shown)}, not ${JSON.stringify(expected)}`);
}

/** The unread badge of a conversation in the list: 0 when there is none. */
export function unread(page: Page, conversationId: string): Promise<number> {
  // One look at the DOM: the list is redrawn as messages arrive.
  return page.evaluate((id) => {
    const badge = document.querySelector(`#conversations li[data-conversation="${CSS.escape(id)}"] .unread`);
    return badge === null ? 0 : Number(badge.textContent);
  }, conversationId);
}

/** Waits until a conversation's unread badge says `count`. */
export async function waitForUnread(page: Page, conversationId: string, count: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let shown = -1;
  while (Date.now() < deadline) {
    shown = await unread(page, conversationId);
    if (shown === count) return;
    await page.waitForTimeout(50);
  }
  throw new Error(`${conversationId} shows ${shown} unread, not ${count}`);
}

/** A regular expression matching exactly `text`. */
export function exactly(text: string): RegExp {
  return new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
}

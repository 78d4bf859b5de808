// Loads a ChatVault HTML export in headless Chromium and reports what a person would see,
// as JSON on stdout; the Rust tests (cli/tests/export.rs) assert on it.
//
//   CHATVAULT_TOOLS=$(scripts/tools-dir.sh) node check-export.mjs --dir OUT --query TEXT --shots DIR [--open STEM]
//
// Reports: the number of conversations listed, the text of the list and of the opened
// pages, every image on the pages visited with its natural width once scrolled into view,
// what the search box found for TEXT, where its first hit leads, the load time of the
// opened conversation's first page, any page errors, and any request that left the file
// system (there must be none: the export opens without a network).
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { mkdirSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';

// playwright-core is installed by scripts/test.sh under $CHATVAULT_TOOLS (scripts/tools-dir.sh).
const tools = process.env.CHATVAULT_TOOLS;
if (!tools) throw new Error('set CHATVAULT_TOOLS to the folder holding node_modules/playwright-core');
const { chromium } = createRequire(join(tools, 'node_modules', 'resolve.js'))('playwright-core');

function args() {
  const a = {};
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i += 2) a[v[i].replace(/^--/, '')] = v[i + 1];
  return a;
}

const opt = args();
const executablePath = process.env.CHROMIUM || ['/usr/bin/chromium', '/usr/bin/chromium-browser']
  .find((p) => existsSync(p));
if (!executablePath) throw new Error('Chromium not found: install the Debian package chromium');
mkdirSync(opt.shots, { recursive: true });

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
const report = { errors: [], network: [], images: [] };
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => report.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') report.errors.push(m.text()); });
  page.on('request', (r) => { if (!r.url().startsWith('file:')) report.network.push(r.url()); });

  // The list.
  const index = pathToFileURL(join(opt.dir, 'index.html')).href;
  await page.goto(index, { waitUntil: 'load' });
  report.conversations = await page.locator('ul.conversations li').count();
  report.listText = await page.locator('ul.conversations').innerText();
  report.title = await page.title();
  report.lang = await page.evaluate(() => document.documentElement.lang);
  report.listHeader = await page.locator('header').innerText();
  report.listFooter = await page.locator('footer').innerText();
  await page.screenshot({ path: join(opt.shots, 'list-desktop.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(opt.shots, 'list-phone.png') });
  report.phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  await page.setViewportSize({ width: 1280, height: 900 });

  // Search every conversation from the list's search box.
  await page.fill('.search input', opt.query);
  await page.waitForSelector('.results .found', { timeout: 30000 });
  report.searchSummary = await page.locator('.results .found').innerText();
  report.searchHits = await page.locator('.results a').count();
  await page.screenshot({ path: join(opt.shots, 'search.png') });
  if (report.searchHits > 0) {
    await page.locator('.results a').first().click();
    await page.waitForLoadState('load');
    const target = await page.evaluate(() => {
      const el = document.getElementById(location.hash.slice(1));
      return el ? el.innerText : null;
    });
    report.firstHitText = target;
    report.firstHitUrl = page.url();
  }

  // Every conversation's newest page (the one the list links to): images and text.
  const links = await (async () => {
    await page.goto(index, { waitUntil: 'load' });
    return page.$$eval('ul.conversations a', (as) => as.map((a) => a.href));
  })();
  report.pagesText = '';
  for (const [i, href] of links.entries()) {
    await page.goto(href, { waitUntil: 'load' });
    report.pagesText += await page.locator('main').innerText() + '\n';
    const pwned = await page.evaluate(() => window.pwned);
    if (pwned !== undefined) report.pwned = pwned;
    // Each image scrolled into view (they load lazily), then given time to load, or to
    // fall back from a missing thumbnail to the full image, or to be replaced by a note
    // when the browser cannot decode it.
    report.images.push(...await page.evaluate(async () => {
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      const out = [];
      for (const el of Array.from(document.querySelectorAll('img'))) {
        el.scrollIntoView();
        const deadline = Date.now() + 5000;
        const settled = () => !el.isConnected || (el.complete && (el.naturalWidth > 0
          || el.getAttribute('src') === el.getAttribute('data-full')));
        while (!settled() && Date.now() < deadline) await sleep(20);
        await sleep(0);
        out.push({ src: el.getAttribute('src'), naturalWidth: el.isConnected ? el.naturalWidth : 0,
          shown: el.isConnected });
      }
      return out;
    }));
    if (i < 3) await page.screenshot({ path: join(opt.shots, `chat-${i}.png`) });
  }
  report.pages = links.length;

  // The load time of one conversation's first page, fresh.
  if (opt.open) {
    const fresh = await context.newPage();
    const url = pathToFileURL(join(opt.dir, 'chats', opt.open, 'page-0001.html')).href;
    const started = Date.now();
    await fresh.goto(url, { waitUntil: 'load' });
    report.openLoadMs = Date.now() - started;
    report.openNavigation = await fresh.evaluate(() => {
      const n = performance.getEntriesByType('navigation')[0];
      return { domContentLoaded: n.domContentLoadedEventEnd, load: n.loadEventEnd, bytes: n.decodedBodySize };
    });
    report.openMessages = await fresh.locator('main .msg, main .sys').count();
    report.openPager = await fresh.locator('.pager .at').first().innerText();
    await fresh.setViewportSize({ width: 390, height: 844 });
    await fresh.screenshot({ path: join(opt.shots, 'open-phone.png') });
    // Search inside this conversation.
    await fresh.fill('.search input', opt.query);
    await fresh.waitForSelector('.results .found', { timeout: 60000 });
    report.openSearchSummary = await fresh.locator('.results .found').innerText();
    await fresh.close();
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report) + '\n');

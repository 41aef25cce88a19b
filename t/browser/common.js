// What the real-browser walks share (walk.js: the demo, t/50-browser.t;
// walk-django.js: Django's admin, t/51-browser-django.t): their options,
// the JSON lines they report on stdout, screenshots, oathtool's codes, the
// page helpers and Chromium's launch.
//
// Output: one JSON object per line on stdout, {"ok":true|false,"name":...,
// "diag":...} for each check, {"step":...} as each part starts, {"note":...}
// for the log and {"done":true|false,"checks":N,"seconds":S} at the end;
// t/lib/TwofaBrowser.pm turns them into TAP.  The first failed check stops
// the walk (the later steps build on it): every open page is then saved as
// failure-LABEL.png next to the screenshots of the pages seen so far.  The
// exit status is 0 only if all passed.

'use strict';

const { chromium } = require('playwright-core');
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const STEP_TIMEOUT = 10000;     // ms, per action or navigation
const LAUNCH_TIMEOUT = 30000;   // ms, Chromium's first start can be slow
const VIEWPORT = { width: 480, height: 900 };   // phone-like (the 28rem card fits), small PNGs

let screenshots = path.join(__dirname, 'screenshots');

// --- arguments ----------------------------------------------------------

// --NAME VALUE pairs: the names in `names` (and --screenshots DIR), all of
// `required` present; --url loses its trailing slashes and each of
// `accounts` (NAME:PASSWORD) becomes { name, password }.
function parseArgs({ usage, names, required = names, accounts = [] }) {
    const fail = (why) => {
        process.stderr.write(`${path.basename(process.argv[1])}: ${why}\nusage: ${usage}\n`);
        process.exit(2);
    };
    const o = { screenshots };
    const argv = process.argv.slice(2);
    for (let i = 0; i < argv.length; i += 2) {
        const name = argv[i].replace(/^--/, '');
        if (![...names, 'screenshots'].includes(name) || argv[i + 1] === undefined) {
            fail(`unknown or incomplete option ${argv[i]}`);
        }
        o[name] = argv[i + 1];
    }
    const missing = required.filter((n) => !o[n]);
    if (missing.length) fail(`${missing.map((n) => `--${n}`).join(', ')} needed`);
    if (o.url) o.url = o.url.replace(/\/+$/, '');
    for (const n of accounts) {
        const i = o[n].indexOf(':');
        if (i < 1) fail(`expected NAME:PASSWORD, got "${o[n]}"`);
        o[n] = { name: o[n].slice(0, i), password: o[n].slice(i + 1) };
    }
    screenshots = o.screenshots;
    return o;
}

// --- reporting ------------------------------------------------------------

let checks = 0;
let current = 'start';          // the step we are in, for error messages
const started = Date.now();

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

class WalkStopped extends Error {}

// One check: a line of output; a failure stops the walk.
function check(cond, name, diag) {
    checks++;
    if (cond) {
        emit({ ok: true, name });
        return;
    }
    emit({ ok: false, name: `${current}: ${name}`, diag: diag === undefined ? '' : String(diag) });
    throw new WalkStopped(name);
}

function equal(got, want, name) {
    check(got === want, name, `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

function like(got, re, name) {
    check(re.test(got || ''), name, `got ${JSON.stringify(got)}, want ${re}`);
}

function step(name) {
    current = name;
    emit({ step: name });
}

// --- pages ----------------------------------------------------------------

const pages = {};               // label -> page, for failure screenshots

async function shot(page, name) {
    await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
}

// The path of the page's URL (the host is always the one under test).
function where(page) {
    return new URL(page.url()).pathname;
}

// Clicks and waits for the navigation it starts; returns the response of the
// document finally shown (after redirects).  waitForNavigation is the one
// wait that also sees a POST answered with the same URL (a wrong code).
async function submit(page, selector) {
    const [resp] = await Promise.all([
        page.waitForNavigation({ waitUntil: 'load' }),
        page.click(selector),
    ]);
    return resp;
}

// The first request of a redirect chain (e.g. the POST a 303 answered).
function chain(resp) {
    let first = resp.request();
    while (first.redirectedFrom()) first = first.redirectedFrom();
    return first;
}

// All the cookies of a profile (it only ever sees the site under test; the
// hold cookie has Path=/2fa/, so a cookies(url) of / would not list it).
async function cookieNames(context) {
    return (await context.cookies()).map((c) => c.name).sort();
}

async function cookie(context, name) {
    return (await context.cookies()).find((c) => c.name === name);
}

async function text(page, selector) {
    return ((await page.textContent(selector)) || '').replace(/\s+/g, ' ').trim();
}

// --- the module's pages -----------------------------------------------------

// oathtool's code for KEY at now + offset seconds.  A code of a past step
// is refused once the next step begins, so none is made in the last
// seconds of a step: the browser still has to type and send it.
function totp(key, offset) {
    const into = (Date.now() / 1000) % 30;
    if (offset < 0 && into > 27) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0,
                     Math.ceil((30 - into) * 1000) + 50);
    }
    const at = Math.floor(Date.now() / 1000) + offset;
    return execFileSync('oathtool', ['--totp', '-b', '-N', `@${at}`, key],
                        { encoding: 'utf8' }).trim();
}

// a 6-digit code that is valid at none of the steps around now
function wrongCode(key) {
    const valid = new Set([-90, -60, -30, 0, 30, 60, 90].map((o) => totp(key, o)));
    let n = (parseInt(totp(key, 0), 10) + 500000) % 1000000;
    while (valid.has(String(n).padStart(6, '0'))) n = (n + 1) % 1000000;
    return String(n).padStart(6, '0');
}

// A login held for enrollment (resp: the page it led to): the hold cookie
// set, the app's session cookie (appCookie) held back, and the enrollment
// page as a person sees it: the QR code (inline SVG), the key in groups of
// four, the focus in the code field.  What a phone would scan, the QR code
// as Chromium drew it, read by zbarimg, must be the otpauth URI of the same
// key for NAME.  Returns the key.
async function expectEnrollment(page, resp, { name, appCookie, shotName }) {
    equal(where(page), '/2fa/enroll', 'the sign-in is held: the enrollment page');
    equal(resp.status(), 200, 'the enrollment page: 200');
    const names = await cookieNames(page.context());
    check(names.includes('twofa_hold'), 'the twofa_hold cookie is set', names);
    check(!names.includes(appCookie), `the app's session cookie (${appCookie}) is held back`, names);
    equal(await text(page, 'h1'), 'Set up two-factor authentication', 'the enrollment page\'s heading');
    check(await page.isVisible('#twofa-qr'), 'the QR code is shown');
    equal(await page.evaluate(() => document.querySelector('#twofa-qr').tagName.toLowerCase()), 'svg', 'as inline SVG');
    const grouped = await text(page, '#twofa-secret');
    like(grouped, /^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$/, 'the key, base32 in groups of four');
    const key = grouped.replace(/\s+/g, '');
    equal(await page.evaluate(() => document.activeElement && document.activeElement.id), 'code', 'the code field has the focus');
    await shot(page, shotName);

    const qrFile = path.join(screenshots, `${shotName}-qr.png`);
    await page.locator('.qr').screenshot({ path: qrFile });
    let uri = '';
    try {
        uri = execFileSync('zbarimg', ['--raw', '-q', qrFile], { encoding: 'utf8' }).trim();
    } catch (e) {
        uri = `zbarimg failed: ${e.message}`;
    }
    const esc = (s) => encodeURIComponent(s).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    like(uri, new RegExp(`^otpauth://totp/[^?]*:${esc(name)}\\?(.*&)?secret=${key}(&|$)`),
         'the QR code as drawn decodes to the otpauth URI with the same key');
    return key;
}

// A code on the enrollment page: the recovery codes page, ten codes in it.
async function expectRecoveryCodes(page, code, shotName) {
    await page.fill('#code', code);
    const resp = await submit(page, 'form button[type=submit]');
    equal(resp.status(), 200, 'the code is accepted: 200');
    equal(await text(page, 'h1'), 'Save your recovery codes', 'the recovery codes page');
    const codes = await page.$$eval('#twofa-recovery li', (li) => li.map((e) => e.textContent.trim()));
    equal(codes.length, 10, 'ten recovery codes');
    check(codes.every((c) => /^[a-z2-7]{5}-[a-z2-7]{5}$/.test(c)), 'each xxxxx-xxxxx', codes.join(' '));
    equal(new Set(codes).size, 10, 'all different');
    await shot(page, shotName);
    return codes;
}

// The code page (/2fa/verify) for NAME, before any code.
async function expectCodePage(page, resp, name, shotName) {
    equal(where(page), '/2fa/verify', 'the sign-in is held: the code page');
    equal(resp.status(), 200, 'the code page: 200');
    equal(await text(page, 'h1'), 'Two-factor authentication', 'its heading');
    like(await text(page, 'main'), new RegExp(`code from your authenticator app for ${name}\\.`), 'it names the user');
    check(!(await page.isVisible('#twofa-error')), 'no error yet');
    await shot(page, shotName);
}

// A wrong code on the code page: refused (401), the page again with the error.
async function expectWrongCode(page, code, shotName) {
    await page.fill('#code', code);
    const resp = await submit(page, 'form button[type=submit]');
    equal(resp.status(), 401, 'a wrong code: 401');
    equal(where(page), '/2fa/verify', 'still the code page');
    like(await text(page, '#twofa-error'), /^That code is not valid\./, 'the error is shown');
    await shot(page, shotName);
}

// --- the browser ------------------------------------------------------------

// Profiles (cookie jars) and pages of one browser; every page's console
// errors are collected in consoleErrors.
function session(browser) {
    const consoleErrors = [];
    const newContext = async () => {
        const c = await browser.newContext({
            viewport: VIEWPORT, deviceScaleFactor: 1, colorScheme: 'light',
            locale: 'en-US', javaScriptEnabled: true,
        });
        c.setDefaultTimeout(STEP_TIMEOUT);
        c.setDefaultNavigationTimeout(STEP_TIMEOUT);
        return c;
    };
    const newPage = async (context, label) => {
        const p = await context.newPage();
        p.on('console', (m) => {
            if (m.type() !== 'error') return;
            // Chromium reports a document answered 401 or 403 (a wrong
            // code, a refusal) as "Failed to load resource"; the walk
            // checks those statuses itself.  Anything else counts.
            if (/^Failed to load resource: the server responded with a status of 40[13]\b/.test(m.text()) &&
                m.location().url === p.url()) return;
            const from = m.location().url;
            consoleErrors.push(`${label} ${p.url()}: ${m.text()}` +
                               (from && from !== p.url() ? ` (${from})` : ''));
        });
        p.on('pageerror', (e) => consoleErrors.push(`${label}: ${e}`));
        pages[label] = p;
        return p;
    };
    const closePage = (label) => { delete pages[label]; };
    return { newContext, newPage, closePage, consoleErrors };
}

// The whole run: old screenshots removed, Chromium started, walk(browser,
// session) under a watchdog of `timeout` ms, failure screenshots, the
// final {"done":...} line and the exit status.
async function run(walk, { timeout }) {
    fs.mkdirSync(screenshots, { recursive: true });
    for (const f of fs.readdirSync(screenshots)) {
        if (f.endsWith('.png')) fs.unlinkSync(path.join(screenshots, f));
    }

    const watchdog = setTimeout(() => {
        emit({ ok: false, name: `${current}: the walk takes longer than ${timeout / 1000} s` });
        process.exit(1);
    }, timeout);

    let browser;
    let failed = false;
    try {
        step('Chromium starts');
        browser = await chromium.launch({
            executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
            headless: true,
            chromiumSandbox: false,         // --no-sandbox: we run as root
            timeout: LAUNCH_TIMEOUT,
            // playwright gives it a new empty --user-data-dir; the rest keeps
            // it off the network (nothing but loopback answers here)
            args: ['--disable-gpu', '--disable-quic', '--no-first-run',
                   '--disable-background-networking',
                   '--disable-component-update', '--disable-sync'],
        });
        check(true, `Chromium ${browser.version()} started`);
        await walk(browser, session(browser));
    } catch (e) {
        failed = true;
        if (!(e instanceof WalkStopped)) {
            // a timeout or another error of playwright's: a failed check too
            emit({ ok: false, name: `${current}: ${String(e.message).split('\n')[0]}`,
                   diag: String(e.stack || e) });
        }
        for (const [label, page] of Object.entries(pages)) {
            try {
                emit({ note: `failure-${label}.png: ${page.url()}` });
                await shot(page, `failure-${label}`);
            } catch (_) { /* the page may be gone */ }
        }
    } finally {
        if (browser) await browser.close().catch(() => {});
        clearTimeout(watchdog);
    }
    const seconds = (Date.now() - started) / 1000;
    emit({ done: !failed, checks, seconds });
    process.exit(failed ? 1 : 0);
}

module.exports = {
    parseArgs, emit, check, equal, like, step, shot, where, submit, chain,
    cookieNames, cookie, text, totp, wrongCode, expectEnrollment,
    expectRecoveryCodes, expectCodePage, expectWrongCode, run,
};

#!/usr/bin/env node
// The real-browser walk of the twofa-edge demo: Debian's Chromium, driven by
// playwright-core, does what a person would do in front of `make demo`.
//
//   node t/browser/walk.js --url http://127.0.0.1:PORT \
//       --admin alice:alice-demo --user bob:bob-demo [--screenshots DIR]
//
// t/50-browser.t starts the demo with a fresh state (nobody enrolled, no org
// requires two-factor authentication) and runs this.  Both users must be in
// the same org; --admin must be an admin of it.
//
// Output: one JSON object per line on stdout, {"ok":true|false,"name":...,
// "diag":...} for each check and {"done":true,...} at the end; the .t turns
// them into TAP.  The first failed check stops the walk (the later steps
// build on it): every open page is then saved as failure-*.png next to the
// screenshots of the pages seen so far.  Exit status 0 only if all passed.
//
// TOTP codes come from oathtool.  With twofa_skew 1 three steps are usable
// at any moment and each step is used once per user, so the walk spends
// them in order: now-30 s for enrollment, now for the next sign-in, now+30 s
// to turn two-factor authentication off (the refused attempt before it does
// not use its step).

'use strict';

const { chromium } = require('playwright-core');
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const STEP_TIMEOUT = 10000;     // ms, per action or navigation
const LAUNCH_TIMEOUT = 30000;   // ms, Chromium's first start can be slow
const WALK_TIMEOUT = 150000;    // ms, the whole walk
const VIEWPORT = { width: 480, height: 900 };   // phone-like (the 28rem card fits), small PNGs

// --- arguments ----------------------------------------------------------

function args() {
    const o = { screenshots: path.join(__dirname, 'screenshots') };
    const argv = process.argv.slice(2);
    for (let i = 0; i < argv.length; i += 2) {
        const name = argv[i].replace(/^--/, '');
        if (!['url', 'admin', 'user', 'screenshots'].includes(name) ||
            argv[i + 1] === undefined) {
            usage(`unknown or incomplete option ${argv[i]}`);
        }
        o[name] = argv[i + 1];
    }
    if (!o.url || !o.admin || !o.user) usage('--url, --admin and --user are needed');
    const split = (s) => {
        const i = s.indexOf(':');
        if (i < 1) usage(`expected NAME:PASSWORD, got "${s}"`);
        return { name: s.slice(0, i), password: s.slice(i + 1) };
    };
    o.url = o.url.replace(/\/+$/, '');
    o.admin = split(o.admin);
    o.user = split(o.user);
    return o;
}

function usage(why) {
    process.stderr.write(`walk.js: ${why}\nusage: node walk.js --url URL ` +
        '--admin NAME:PASSWORD --user NAME:PASSWORD [--screenshots DIR]\n');
    process.exit(2);
}

const opt = args();
const base = opt.url;

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

// --- helpers --------------------------------------------------------------

const pages = {};               // label -> page, for failure screenshots

async function shot(page, name) {
    await page.screenshot({ path: path.join(opt.screenshots, `${name}.png`), fullPage: true });
}

// The path of the page's URL (the host is always the demo's).
function where(page) {
    const u = new URL(page.url());
    return u.pathname;
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

// The status of the first response in a redirect chain (e.g. the 303 that
// answered the POST), and the final one.
function chain(resp) {
    let first = resp.request();
    while (first.redirectedFrom()) first = first.redirectedFrom();
    return first;
}

// All the cookies of a profile (it only ever sees the demo; the hold cookie
// has Path=/2fa/, so a cookies(url) of / would not list it).
async function cookieNames(context) {
    return (await context.cookies()).map((c) => c.name).sort();
}

async function cookie(context, name) {
    return (await context.cookies()).find((c) => c.name === name);
}

async function text(page, selector) {
    return ((await page.textContent(selector)) || '').replace(/\s+/g, ' ').trim();
}

// The <dd> that follows the <dt> with this text (the settings page's list).
async function definition(page, term) {
    return page.evaluate((t) => {
        const dt = [...document.querySelectorAll('dt')].find((e) => e.textContent.trim() === t);
        const dd = dt && dt.nextElementSibling;
        return dd && dd.tagName === 'DD' ? dd.textContent.trim() : null;
    }, term);
}

// oathtool's code for KEY at now + offset seconds
function totp(key, offset) {
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

// The app's sign-in form, as a person fills it in.
async function signIn(page, who) {
    if (where(page) !== '/login') await page.goto(`${base}/login`);
    await page.fill('#user', who.name);
    await page.fill('#password', who.password);
    return submit(page, 'main form button[type=submit]');
}

async function signOut(page) {
    if (where(page) !== '/dashboard') await page.goto(`${base}/dashboard`);
    const resp = await submit(page, 'form[action="/logout"] button');
    equal(where(page), '/login', 'signed out: back at the sign-in form');
    return resp;
}

// The dashboard says who is signed in and how (nginx's $twofa_amr).
async function expectDashboard(page, who, amr, how) {
    equal(where(page), '/dashboard', `${who.name} is on the dashboard`);
    like(await text(page, '#who'), new RegExp(`^Signed in as ${who.name} \\(`), 'the dashboard names the user');
    equal(await page.getAttribute('#auth-method', 'data-amr'), amr, `the edge says: signed in with ${amr}`);
    like(await text(page, '#auth-method'), how, 'and the page says so');
}

// The admin's switch on Administration > Security.
async function setRequirement(page, on) {
    await page.goto(`${base}/admin/security`);
    equal(where(page), '/admin/security', 'the admin page opens');
    if (on) await page.check('#require-2fa');
    else await page.uncheck('#require-2fa');
    const resp = await submit(page, 'form[action="/admin/security"] button');
    equal(resp.status(), 200, 'saved (303 back to the page, 200)');
    const state = on ? 'required' : 'not required';
    like(await text(page, '[role=status]'), new RegExp(`now ${state}\\.$`), `the page says: now ${state}`);
    like(await text(page, '#require-state'), new RegExp(` is ${state} in `), `the policy read back: ${state}`);
    equal(await page.isChecked('#require-2fa'), on, `the switch is ${on ? 'on' : 'off'}`);
}

// --- the walk -------------------------------------------------------------

async function walk(browser) {
    const newContext = async () => {
        const c = await browser.newContext({
            viewport: VIEWPORT, deviceScaleFactor: 1, colorScheme: 'light',
            locale: 'en-US', javaScriptEnabled: true,
        });
        c.setDefaultTimeout(STEP_TIMEOUT);
        c.setDefaultNavigationTimeout(STEP_TIMEOUT);
        return c;
    };
    const consoleErrors = [];
    const newPage = async (context, label) => {
        const p = await context.newPage();
        p.on('console', (m) => {
            if (m.type() !== 'error') return;
            // Chromium reports a document answered 401 or 403 (a wrong
            // code, a refusal) as "Failed to load resource"; the walk
            // checks those statuses itself.  Anything else counts.
            if (/^Failed to load resource: the server responded with a status of 40[13]\b/.test(m.text()) &&
                m.location().url === p.url()) return;
            consoleErrors.push(`${label} ${p.url()}: ${m.text()}`);
        });
        p.on('pageerror', (e) => consoleErrors.push(`${label}: ${e}`));
        pages[label] = p;
        return p;
    };

    const user = opt.user;
    const admin = opt.admin;

    // Two people, each in their own browser profile (cookie jar).
    const userCtx = await newContext();
    const adminCtx = await newContext();
    const u = await newPage(userCtx, 'user');
    const a = await newPage(adminCtx, 'admin');

    step('the requirement is off: a password is enough');
    let resp = await u.goto(`${base}/`);
    equal(resp.status(), 200, 'the demo answers');
    equal(where(u), '/login', '/ leads to the sign-in form');
    equal(await text(u, 'h1'), 'Contact Center', 'the app\'s sign-in page');
    await shot(u, 'login');

    resp = await signIn(u, user);
    equal(resp.status(), 200, 'sign-in: 200');
    equal(chain(resp).method(), 'POST', 'the first request was the POST');
    await expectDashboard(u, user, 'pwd', /^Signed in with password only\.$/);
    let names = await cookieNames(userCtx);
    check(names.includes('app_session'), 'the app set its session cookie', names);
    const ts = await cookie(userCtx, 'twofa_session');
    check(ts && ts.httpOnly, 'the edge set an HttpOnly twofa_session cookie', JSON.stringify(ts));
    check(!names.includes('twofa_hold'), 'no hold', names);
    await shot(u, 'dashboard-password');

    step('an admin switches the requirement on');
    resp = await signIn(a, admin);
    await expectDashboard(a, admin, 'pwd', /password only/);
    await submit(a, 'a[href="/admin/security"]');
    equal(where(a), '/admin/security', 'Administration > Security opens from the dashboard');
    like(await text(a, '#require-state'), / is not required in /, 'it says: not required');
    equal(await a.isChecked('#require-2fa'), false, 'the switch is off');
    await shot(a, 'admin-security');
    await setRequirement(a, true);
    await shot(a, 'admin-security-on');

    step('the user, still signed in, keeps working');
    resp = await u.reload();
    equal(resp.status(), 200, 'the dashboard reloads: 200');
    await expectDashboard(u, user, 'pwd', /password only/);

    step('the next sign-in meets enrollment');
    await signOut(u);
    resp = await signIn(u, user);
    equal(where(u), '/2fa/enroll', 'the sign-in is held: the enrollment page');
    equal(chain(resp).url(), `${base}/login`, 'redirected from the app\'s POST /login');
    equal(resp.status(), 200, 'the enrollment page: 200');
    equal(await text(u, 'h1'), 'Set up two-factor authentication', 'its heading');
    names = await cookieNames(userCtx);
    check(names.includes('twofa_hold'), 'the twofa_hold cookie is set', names);
    check(!names.includes('app_session'), 'the app\'s session cookie is held back', names);
    check(await u.isVisible('#twofa-qr'), 'the QR code is shown');
    equal(await u.evaluate(() => document.querySelector('#twofa-qr').tagName.toLowerCase()), 'svg', 'as inline SVG');
    const grouped = await text(u, '#twofa-secret');
    like(grouped, /^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$/, 'the key, base32 in groups of four');
    const key = grouped.replace(/\s+/g, '');
    equal(await u.evaluate(() => document.activeElement && document.activeElement.id), 'code', 'the code field has the focus');
    await shot(u, 'enroll');

    // What a phone would scan: the QR code as Chromium drew it, read by zbarimg.
    const qrFile = path.join(opt.screenshots, 'enroll-qr.png');
    await u.locator('.qr').screenshot({ path: qrFile });
    let uri = '';
    try {
        uri = execFileSync('zbarimg', ['--raw', '-q', qrFile], { encoding: 'utf8' }).trim();
    } catch (e) {
        uri = `zbarimg failed: ${e.message}`;
    }
    like(uri, new RegExp(`^otpauth://totp/[^?]*:${user.name}\\?(.*&)?secret=${key}(&|$)`),
         'the QR code as drawn decodes to the otpauth URI with the same key');

    step('the first code turns it on and shows the recovery codes');
    await u.fill('#code', totp(key, -30));
    resp = await submit(u, 'form button[type=submit]');
    equal(resp.status(), 200, 'the code is accepted: 200');
    equal(await text(u, 'h1'), 'Save your recovery codes', 'the recovery codes page');
    const codes = (await u.$$eval('#twofa-recovery li', (li) => li.map((e) => e.textContent.trim())));
    equal(codes.length, 10, 'ten recovery codes');
    check(codes.every((c) => /^[a-z2-7]{5}-[a-z2-7]{5}$/.test(c)), 'each xxxxx-xxxxx', codes.join(' '));
    equal(new Set(codes).size, 10, 'all different');
    await shot(u, 'recovery');

    resp = await submit(u, 'form button[type=submit]');
    equal(chain(resp).url(), `${base}/2fa/continue`, 'continue releases the held sign-in');
    await expectDashboard(u, user, 'totp', /^Signed in with two-factor authentication\.$/);
    names = await cookieNames(userCtx);
    check(names.includes('app_session') && names.includes('twofa_session'),
          'the app\'s session cookie and the edge\'s', names);
    check(!names.includes('twofa_hold'), 'the hold cookie is gone', names);
    await shot(u, 'dashboard-2fa');

    step('signing in again asks for a code; a wrong one is refused');
    await signOut(u);
    resp = await signIn(u, user);
    equal(where(u), '/2fa/verify', 'the sign-in is held: the code page');
    equal(resp.status(), 200, 'the code page: 200');
    equal(await text(u, 'h1'), 'Two-factor authentication', 'its heading');
    like(await text(u, 'main'), new RegExp(`code from your authenticator app for ${user.name}\\.`), 'it names the user');
    check(!(await u.isVisible('#twofa-error')), 'no error yet');
    await shot(u, 'verify');

    await u.fill('#code', wrongCode(key));
    resp = await submit(u, 'form button[type=submit]');
    equal(resp.status(), 401, 'a wrong code: 401');
    equal(where(u), '/2fa/verify', 'still the code page');
    like(await text(u, '#twofa-error'), /^That code is not valid\./, 'the error is shown');
    check(!(await cookieNames(userCtx)).includes('app_session'), 'still held back', '');
    await shot(u, 'verify-error');

    step('the right code signs in');
    await u.fill('#code', totp(key, 0));
    resp = await submit(u, 'form button[type=submit]');
    await expectDashboard(u, user, 'totp', /two-factor authentication\.$/);

    step('a recovery code signs in once');
    await signOut(u);
    await signIn(u, user);
    equal(where(u), '/2fa/verify', 'the code page');
    await u.fill('#code', codes[3]);
    resp = await submit(u, 'form button[type=submit]');
    await expectDashboard(u, user, 'recovery', /^Signed in with two-factor authentication \(a recovery code\)\.$/);
    await shot(u, 'dashboard-recovery');

    // the same code, from another browser: refused
    const otherCtx = await newContext();
    const o = await newPage(otherCtx, 'other');
    await o.goto(`${base}/login`);
    await signIn(o, user);
    equal(where(o), '/2fa/verify', 'another browser: the code page');
    await o.fill('#code', codes[3]);
    resp = await submit(o, 'form button[type=submit]');
    equal(resp.status(), 401, 'the same recovery code again: 401');
    like(await text(o, '#twofa-error'), /^That code is not valid\./, 'the error is shown');
    await shot(o, 'verify-recovery-used');
    await otherCtx.close();
    delete pages.other;

    step('settings: turning it off is refused while the org requires it');
    await u.goto(`${base}/dashboard`);
    await submit(u, 'a[href="/2fa/settings"]');
    equal(where(u), '/2fa/settings', 'Two-factor settings opens from the dashboard');
    equal(await text(u, '#twofa-status'), 'On', 'status: On');
    equal(await definition(u, 'Recovery codes left'), '9', 'nine recovery codes left');
    like(await text(u, 'main'), /Your organisation requires two-factor authentication\./, 'the org requires it');
    await shot(u, 'settings');

    await u.fill('#code', totp(key, 30));
    resp = await submit(u, 'form button[type=submit]');
    equal(resp.status(), 403, 'disable refused: 403');
    like(await text(u, '#twofa-error'), /cannot be turned off\.$/, 'with the reason');
    equal(await text(u, '#twofa-status'), 'On', 'status: still On');
    await shot(u, 'settings-refused');

    step('settings: allowed once the admin switches the requirement off');
    await setRequirement(a, false);
    await shot(a, 'admin-security-off');
    await u.goto(`${base}/2fa/settings`);
    check(!/requires two-factor/.test(await text(u, 'main')), 'the org no longer requires it');
    await u.fill('#code', totp(key, 30));
    resp = await submit(u, 'form button[type=submit]');
    equal(resp.status(), 200, 'disable accepted: 200');
    equal(await text(u, '[role=status]'), 'Two-factor authentication is now off.', 'the page says so');
    equal(await text(u, '#twofa-status'), 'Off', 'status: Off');
    check(await u.isVisible('form[action$="/settings/enable"] button'), 'and offers to set it up again');
    await shot(u, 'settings-off');

    step('and the next sign-in needs only the password');
    await signOut(u);
    resp = await signIn(u, user);
    await expectDashboard(u, user, 'pwd', /^Signed in with password only\.$/);

    step('the browser saw no errors');
    check(consoleErrors.length === 0, 'nothing in the browser console (CSP, scripts)', consoleErrors.join('\n'));
}

async function main() {
    fs.mkdirSync(opt.screenshots, { recursive: true });
    for (const f of fs.readdirSync(opt.screenshots)) {
        if (f.endsWith('.png')) fs.unlinkSync(path.join(opt.screenshots, f));
    }

    const watchdog = setTimeout(() => {
        emit({ ok: false, name: `${current}: the walk takes longer than ${WALK_TIMEOUT / 1000} s` });
        process.exit(1);
    }, WALK_TIMEOUT);

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
        await walk(browser);
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

main();
